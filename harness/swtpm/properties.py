"""What a started TPM says about itself: the properties that name an implementation, and its banks.

Evidence names the implementation as the TPM reports it (TPM_PT_MANUFACTURER,
TPM_PT_VENDOR_STRING_1..4, TPM_PT_FIRMWARE_VERSION_1/2, Part 2 6.13) and
the PCR banks it has allocated (TPM_CAP_PCRS).  Any TPM answers these, so
the device target asks them too.  GetCapability needs a started TPM: before
TPM2_Startup it returns TPM_RC_INITIALIZE, and the result says so.
"""

from __future__ import annotations

from typing import Callable

from harness.wire import decode_response, encode_command
from models.ops import GetCapability
from models.tcg import HASHLIB_NAME, TPM_CAP, TPM_PT, describe_rc

_FIRST, _LAST = TPM_PT.TPM_PT_FAMILY_INDICATOR, TPM_PT.TPM_PT_FIRMWARE_VERSION_2
PROPERTIES_QUERY = GetCapability(TPM_CAP.TPM_CAP_TPM_PROPERTIES, _FIRST, _LAST - _FIRST + 1)
PCRS_QUERY = GetCapability(TPM_CAP.TPM_CAP_PCRS, 0, 1)
_BANK_NAME = {int(alg): name for alg, name in HASHLIB_NAME.items()}


def _text(value: int) -> str:
    """A property holding up to four ASCII characters, NULs dropped ('IBM\\0' -> 'IBM')."""
    return value.to_bytes(4, "big").rstrip(b"\0").decode("ascii", errors="replace")


def query(transmit: Callable[[bytes], bytes]) -> dict:
    """Ask the TPM behind ``transmit`` (command bytes -> response bytes) at locality 0."""
    outcome = decode_response(PROPERTIES_QUERY, transmit(encode_command(PROPERTIES_QUERY)))
    if outcome.rc:
        return {"tpm_properties": f"unavailable: {describe_rc(outcome.rc)}"}
    props = dict(outcome.value.data)
    ident = {
        "manufacturer": _text(props.get(TPM_PT.TPM_PT_MANUFACTURER, 0)),
        "vendor_string": "".join(_text(props.get(pt, 0)) for pt in (
            TPM_PT.TPM_PT_VENDOR_STRING_1, TPM_PT.TPM_PT_VENDOR_STRING_2,
            TPM_PT.TPM_PT_VENDOR_STRING_3, TPM_PT.TPM_PT_VENDOR_STRING_4)),
        "firmware_version_1": f"{props.get(TPM_PT.TPM_PT_FIRMWARE_VERSION_1, 0):#010x}",
        "firmware_version_2": f"{props.get(TPM_PT.TPM_PT_FIRMWARE_VERSION_2, 0):#010x}",
        "family": _text(props.get(TPM_PT.TPM_PT_FAMILY_INDICATOR, 0)),
        "level": props.get(TPM_PT.TPM_PT_LEVEL),
        "revision": props.get(TPM_PT.TPM_PT_REVISION),
        "spec_date": f"{props.get(TPM_PT.TPM_PT_YEAR, 0)}, day {props.get(TPM_PT.TPM_PT_DAY_OF_YEAR, 0)}",
    }
    outcome = decode_response(PCRS_QUERY, transmit(encode_command(PCRS_QUERY)))
    if outcome.rc == 0:
        ident["pcr_banks"] = [_BANK_NAME.get(alg, f"{alg:#06x}") for alg, pcrs in outcome.value.data if pcrs]
    return ident
