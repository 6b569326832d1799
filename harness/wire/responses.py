"""Response bytes of the TPM commands of ``models.ops`` (Library Part 3), and back.

``decode_response`` is the RESP-WELLFORMED check: it accepts a response only
if every size, tag and count is consistent (Part 1, "Response Header" and
"Response Parameters"):

- responseSize equals the bytes received;
- an error response (responseCode != 0) is the 10-byte header alone with tag
  TPM_ST_NO_SESSIONS, or TPM_ST_RSP_COMMAND with TPM_RC_BAD_TAG (Part 2,
  TPM_ST: the answer to a command whose tag the TPM could not classify);
- a success response has tag TPM_ST_SESSIONS iff the command had an
  authorization area, then parameterSize, the parameters, and one
  TPMS_AUTH_RESPONSE for the one password session: empty nonce and hmac,
  sessionAttributes 0 or continueSession (the reference implementation sets
  continueSession on every password session);
- parameters fill their area exactly; nothing follows the last field;
- PCR_Read's pcrValues hold one digest, of the bank's size, per PCR selected
  in pcrSelectionOut.

``encode_response`` writes what a conforming TPM sends (continueSession set
in the password session's response), and refuses values ``decode_response``
would reject, so the two round-trip.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from harness.wire import fields, limits
from harness.wire.commands import CONTINUE_SESSION, HEADER, HEADER_SIZE, NO_SESSIONS, SESSIONS
from harness.wire.errors import WireError
from models.ops import (
    CapabilityResult, GetCapability, GetRandom, Outcome, PcrEvent, PcrExtend, PcrRead,
    PcrReadResult, PcrReset, RandomResult, Raw, Shutdown, Startup,
)
from models.tcg import TPM_CAP, TPM_RC, TPM_ST, describe_rc

RSP_COMMAND = int(TPM_ST.TPM_ST_RSP_COMMAND)
BAD_TAG = int(TPM_RC.TPM_RC_BAD_TAG)
_PASSWORD_RESPONSE = fields.write_auth_response(b"", CONTINUE_SESSION, b"")
_SUCCESS_NO_PARAMS = HEADER.pack(NO_SESSIONS, HEADER_SIZE, 0)
_SUCCESS = Outcome(0, None)
_CAP_PCRS = int(TPM_CAP.TPM_CAP_PCRS)
_CAP_PCR_PROPERTIES = int(TPM_CAP.TPM_CAP_PCR_PROPERTIES)

# --- decoding ------------------------------------------------------------------------


def _expect_success_tag(tag: int, expected: int, command: str) -> None:
    if tag != expected:
        raise WireError("tag", 0, f"{tag:#06x} on a successful {command} response, expected {expected:#06x}")


def _expect_end(off: int, end: int, what: str) -> None:
    if off != end:
        raise WireError("responseSize", off, f"{end - off} bytes after {what}")


def _parameter_area(data: bytes, tag: int, end: int, command: str) -> int:
    """Check tag TPM_ST_SESSIONS and parameterSize; return where the parameters end."""
    _expect_success_tag(tag, SESSIONS, command)
    size, start = fields.read_u32(data, HEADER_SIZE, end, "parameterSize")
    if start + size > end:
        raise WireError("parameterSize", HEADER_SIZE, f"{size} but {end - start} bytes follow")
    return start + size


def _expect_parameters_end(off: int, params_end: int, command: str) -> None:
    if off != params_end:
        raise WireError("parameterSize", HEADER_SIZE,
                        f"{params_end - HEADER_SIZE - 4} but the {command} parameters take {off - HEADER_SIZE - 4}")


def _check_password_response(data: bytes, off: int, end: int) -> None:
    (nonce, attributes, hmac), stop = fields.read_auth_response(data, off, end)
    if nonce:
        raise WireError("TPMS_AUTH_RESPONSE.nonce", off, f"{len(nonce)} bytes; a password session's nonce is empty")
    if attributes & ~CONTINUE_SESSION:
        raise WireError("TPMS_AUTH_RESPONSE.sessionAttributes", off + 2, f"{attributes:#04x} for a password session")
    if hmac:
        raise WireError("TPMS_AUTH_RESPONSE.hmac", off + 3, f"{len(hmac)} bytes; a password session's hmac is empty")
    _expect_end(stop, end, "the authorization area of the one session")


def _decode_no_params(command: str):
    def decode(op, data: bytes, tag: int, end: int) -> Outcome:
        _expect_success_tag(tag, NO_SESSIONS, command)
        _expect_end(HEADER_SIZE, end, f"the header; {command} returns no parameters")
        return _SUCCESS
    return decode


def _decode_authorized_no_params(command: str):
    def decode(op, data: bytes, tag: int, end: int) -> Outcome:
        params_end = _parameter_area(data, tag, end, command)
        _expect_parameters_end(HEADER_SIZE + 4, params_end, command)
        _check_password_response(data, params_end, end)
        return _SUCCESS
    return decode


def _decode_pcr_event(op, data: bytes, tag: int, end: int) -> Outcome:
    params_end = _parameter_area(data, tag, end, "TPM2_PCR_Event")
    digests, off = fields.read_digest_values(data, HEADER_SIZE + 4, params_end)
    _expect_parameters_end(off, params_end, "TPM2_PCR_Event")
    _check_password_response(data, params_end, end)
    return Outcome(0, digests)


@lru_cache(maxsize=4096)
def _digest_sizes(selection) -> tuple:
    """The size of each pcrValues digest that a pcrSelectionOut announces (None: bank unknown)."""
    return tuple([fields.digest_size(alg) for alg, pcrs in selection for _ in pcrs])


def _decode_pcr_read(op, data: bytes, tag: int, end: int) -> Outcome:
    _expect_success_tag(tag, NO_SESSIONS, "TPM2_PCR_Read")
    counter, off = fields.read_u32(data, HEADER_SIZE, end, "TPM2_PCR_Read.pcrUpdateCounter")
    entries, off = fields.read_pcr_selection(data, off, end)
    digests_at = off
    digests, off = fields.read_digests(data, off, end)
    _expect_end(off, end, "the TPM2_PCR_Read parameters")
    selection = fields.selection_of(entries)
    sizes = _digest_sizes(selection)
    if len(sizes) != len(digests):
        raise WireError("TPML_DIGEST.count", digests_at,
                        f"{len(digests)} digests but pcrSelectionOut selects {len(sizes)} PCRs")
    at = digests_at + 4
    for size, digest in zip(sizes, digests):
        if size is not None and len(digest) != size:
            raise WireError("TPM2B_DIGEST.size", at, f"{len(digest)} for a PCR of a bank with {size}-byte digests")
        at += 2 + len(digest)
    return Outcome(0, PcrReadResult(counter, selection, digests))


def _decode_get_random(op, data: bytes, tag: int, end: int) -> Outcome:
    _expect_success_tag(tag, NO_SESSIONS, "TPM2_GetRandom")
    random, off = fields.read_tpm2b(data, HEADER_SIZE, end, "TPM2B_DIGEST", limits.TPMU_HA_SIZE)
    _expect_end(off, end, "the TPM2_GetRandom parameters")
    return Outcome(0, RandomResult(len(random), random))


def _decode_get_capability(op, data: bytes, tag: int, end: int) -> Outcome:
    _expect_success_tag(tag, NO_SESSIONS, "TPM2_GetCapability")
    if end < HEADER_SIZE + 1:
        raise fields.short("TPM2_GetCapability.moreData", HEADER_SIZE, 1, end)
    more = data[HEADER_SIZE]
    if more > 1:
        raise WireError("TPM2_GetCapability.moreData", HEADER_SIZE, f"{more:#04x} is not a TPMI_YES_NO (0 or 1)")
    (capability, items), off = fields.read_capability_data(data, HEADER_SIZE + 1, end)
    _expect_end(off, end, "the TPM2_GetCapability parameters")
    if capability == _CAP_PCRS:
        items = fields.selection_of(items)
    elif capability == _CAP_PCR_PROPERTIES:
        items = tuple([(ptag, fields.pcrs_of(select)) for ptag, select in items])
    return Outcome(0, CapabilityResult(more == 1, capability, items))


def _decode_raw(op, data: bytes, tag: int, end: int) -> Outcome:
    if tag != NO_SESSIONS and tag != SESSIONS:
        raise WireError("tag", 0, f"{tag:#06x} on a successful response, expected 0x8001 or 0x8002")
    return _SUCCESS


_DECODERS = {
    Startup: _decode_no_params("TPM2_Startup"),
    Shutdown: _decode_no_params("TPM2_Shutdown"),
    PcrExtend: _decode_authorized_no_params("TPM2_PCR_Extend"),
    PcrEvent: _decode_pcr_event,
    PcrReset: _decode_authorized_no_params("TPM2_PCR_Reset"),
    PcrRead: _decode_pcr_read,
    GetRandom: _decode_get_random,
    GetCapability: _decode_get_capability,
    Raw: _decode_raw,
}


def decode_response(op, data: bytes) -> Outcome:
    """The Outcome of ``op`` that the response ``data`` reports; WireError if it is malformed."""
    decoder = _DECODERS.get(type(op))
    if decoder is None:
        raise TypeError(f"decode_response takes a TPM command op, not {type(op).__name__}")
    if type(data) is not bytes:
        data = bytes(data)
    end = len(data)
    if end < HEADER_SIZE:
        raise fields.short("header", 0, HEADER_SIZE, end)
    tag, size, rc = HEADER.unpack_from(data)
    if size != end:
        raise WireError("responseSize", 2, f"{size} but {end} bytes received")
    if rc:
        if end != HEADER_SIZE:
            raise WireError("responseSize", 2, f"{end} bytes in an error response ({describe_rc(rc)}), must be 10")
        if tag != NO_SESSIONS and not (tag == RSP_COMMAND and rc == BAD_TAG):
            raise WireError("tag", 0, f"{tag:#06x} on an error response ({describe_rc(rc)}), must be 0x8001")
        return Outcome(rc, None)
    return decoder(op, data, tag, end)


# --- encoding --------------------------------------------------------------------------


def _no_value(value) -> None:
    if value is not None:
        raise ValueError(f"this command returns no parameters, so the outcome's value must be None, not {value!r}")


def _with_password(params: bytes) -> bytes:
    size = HEADER_SIZE + 4 + len(params) + len(_PASSWORD_RESPONSE)
    return HEADER.pack(SESSIONS, size, 0) + fields.U32.pack(len(params)) + params + _PASSWORD_RESPONSE


def _encode_no_params(op, value) -> bytes:
    _no_value(value)
    return _SUCCESS_NO_PARAMS


def _encode_authorized_no_params(op, value) -> bytes:
    _no_value(value)
    return _with_password(b"")


def _expect_value(value, kind, command: str) -> None:
    if type(value) is not kind:
        raise ValueError(f"a successful {command} outcome holds a {kind.__name__}, not {value!r}")


def _encode_pcr_event(op, value) -> bytes:
    _expect_value(value, tuple, "TPM2_PCR_Event")
    return _with_password(fields.write_digest_values(value))


def _encode_pcr_read(op, value: PcrReadResult) -> bytes:
    _expect_value(value, PcrReadResult, "TPM2_PCR_Read")
    sizes = _digest_sizes(value.selection)
    if len(sizes) != len(value.digests):
        raise ValueError(f"{len(value.digests)} digests for {len(sizes)} selected PCRs")
    for size, digest in zip(sizes, value.digests):
        if size is not None and len(digest) != size:
            raise ValueError(f"a {len(digest)}-byte digest for a bank with {size}-byte digests")
    params = b"".join((
        fields.U32.pack(value.update_counter),
        fields.write_pcr_selection(value.selection),
        fields.write_digests(value.digests),
    ))
    return HEADER.pack(NO_SESSIONS, HEADER_SIZE + len(params), 0) + params


def _encode_get_random(op, value: RandomResult) -> bytes:
    _expect_value(value, RandomResult, "TPM2_GetRandom")
    if len(value.data) != value.size:
        raise ValueError(f"RandomResult size {value.size} but {len(value.data)} bytes of data")
    params = fields.write_tpm2b(value.data, "TPM2B_DIGEST", limits.TPMU_HA_SIZE)
    return HEADER.pack(NO_SESSIONS, HEADER_SIZE + len(params), 0) + params


def _encode_get_capability(op, value: CapabilityResult) -> bytes:
    _expect_value(value, CapabilityResult, "TPM2_GetCapability")
    if type(value.more_data) is not bool:
        raise ValueError(f"CapabilityResult.more_data must be a bool, not {value.more_data!r}")
    items = value.data
    if value.capability == _CAP_PCRS or value.capability == _CAP_PCR_PROPERTIES:
        items = [(key, fields.select_of(pcrs)) for key, pcrs in items]
    params = fields.U8.pack(value.more_data) + fields.write_capability_data(value.capability, items)
    return HEADER.pack(NO_SESSIONS, HEADER_SIZE + len(params), 0) + params


def _encode_raw(op, value) -> bytes:
    raise ValueError("the response parameters of a Raw command are unknown; only error responses can be encoded")


_ENCODERS = {
    Startup: _encode_no_params,
    Shutdown: _encode_no_params,
    PcrExtend: _encode_authorized_no_params,
    PcrEvent: _encode_pcr_event,
    PcrReset: _encode_authorized_no_params,
    PcrRead: _encode_pcr_read,
    GetRandom: _encode_get_random,
    GetCapability: _encode_get_capability,
    Raw: _encode_raw,
}


def encode_response(op, outcome: Outcome) -> bytes:
    """The response a TPM sends for ``op`` with ``outcome`` (rc != 0: the 10-byte error response)."""
    encoder = _ENCODERS.get(type(op))
    if encoder is None:
        raise TypeError(f"encode_response takes a TPM command op, not {type(op).__name__}")
    rc = outcome.rc
    if not isinstance(rc, int):
        raise ValueError(f"cannot encode the response code {rc!r}")
    try:
        if rc:
            return HEADER.pack(NO_SESSIONS, HEADER_SIZE, rc)
        return encoder(op, outcome.value)
    except struct.error as exc:
        raise ValueError(f"cannot encode a response to {op!r} with {outcome!r}: {exc}") from None
