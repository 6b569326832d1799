"""The TPM 2.0 wire layer: operations to command bytes, response bytes to outcomes.

``encode_command`` / ``decode_response`` are the harness's per-step hot path;
``decode_response`` is also the RESP-WELLFORMED check (see
:mod:`harness.wire.responses`).  ``decode_command`` / ``encode_response`` are
their inverses for traces, replay and servers.  The TCG structures are
exported for suites that build or mutate bytes piece by piece.  Every
decoding failure is a :class:`WireError`; misuse by the caller (a value the
wire cannot carry) is a ``ValueError`` or ``TypeError``.
"""

from harness.wire.commands import decode_command, encode_command, parse_header
from harness.wire.errors import WireError
from harness.wire.responses import decode_response, encode_response
from harness.wire import nv as _nv  # noqa: F401  registers the NV commands
from harness.wire import policy as _policy  # noqa: F401  registers the policy-session commands
from harness.wire import sequences as _sequences  # noqa: F401  registers the sequence commands
from harness.wire.structures import (
    TPM2B_DIGEST,
    TPMT_HA,
    TPML_DIGEST_VALUES,
    TPMS_PCR_SELECTION,
    TPML_PCR_SELECTION,
    TPML_DIGEST,
    TPMS_AUTH_COMMAND,
    TPMS_AUTH_RESPONSE,
    TPMS_TAGGED_PROPERTY,
    TPML_TAGGED_TPM_PROPERTY,
    TPMS_TAGGED_PCR_SELECT,
    TPML_TAGGED_PCR_PROPERTY,
    TPMS_ALG_PROPERTY,
    TPML_ALG_PROPERTY,
    TPML_HANDLE,
    TPML_CC,
    TPML_CCA,
    TPML_ECC_CURVE,
    TPMS_CAPABILITY_DATA,
)

__all__ = [
    "WireError",
    "encode_command",
    "decode_command",
    "encode_response",
    "decode_response",
    "parse_header",
    "TPM2B_DIGEST",
    "TPMT_HA",
    "TPML_DIGEST_VALUES",
    "TPMS_PCR_SELECTION",
    "TPML_PCR_SELECTION",
    "TPML_DIGEST",
    "TPMS_AUTH_COMMAND",
    "TPMS_AUTH_RESPONSE",
    "TPMS_TAGGED_PROPERTY",
    "TPML_TAGGED_TPM_PROPERTY",
    "TPMS_TAGGED_PCR_SELECT",
    "TPML_TAGGED_PCR_PROPERTY",
    "TPMS_ALG_PROPERTY",
    "TPML_ALG_PROPERTY",
    "TPML_HANDLE",
    "TPML_CC",
    "TPML_CCA",
    "TPML_ECC_CURVE",
    "TPMS_CAPABILITY_DATA",
]
