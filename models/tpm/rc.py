"""The response codes the model predicts, with their handle/parameter numbers.

Format-1 codes carry the number of the handle or parameter at fault (Part 2,
6.6.2): ``TPM_RC_VALUE + RC_P + RC_1`` is the reference code's
``TPM_RCS_VALUE + RC_Startup_startupType``.  Printed with models.tcg.describe_rc.
"""

from __future__ import annotations

from models.ops import Outcome
from models.tcg import RC_P, TPM_RC

_RC_1 = 0x100  # the number field, bits 8-11: handle or parameter 1
_RC_2 = 0x200


def _parameter(rc: TPM_RC, number: int) -> int:
    return int(rc) | RC_P | (number << 8)


def _handle(rc: TPM_RC, number: int) -> int:
    return int(rc) | (number << 8)


SUCCESS = 0
BAD_TAG = int(TPM_RC.TPM_RC_BAD_TAG)
VALUE = int(TPM_RC.TPM_RC_VALUE)  # a tag that is no TPM_ST constant (libtpms)
INITIALIZE = int(TPM_RC.TPM_RC_INITIALIZE)
COMMAND_SIZE = int(TPM_RC.TPM_RC_COMMAND_SIZE)
COMMAND_CODE = int(TPM_RC.TPM_RC_COMMAND_CODE)
AUTH_MISSING = int(TPM_RC.TPM_RC_AUTH_MISSING)
LOCALITY = int(TPM_RC.TPM_RC_LOCALITY)
VALUE_HANDLE_1 = _handle(TPM_RC.TPM_RC_VALUE, 1)  # 0x184: not a PCR handle
VALUE_PARAMETER_1 = _parameter(TPM_RC.TPM_RC_VALUE, 1)  # 0x1c4
VALUE_PARAMETER_2 = _parameter(TPM_RC.TPM_RC_VALUE, 2)  # 0x2c4
HANDLE_PARAMETER_2 = _parameter(TPM_RC.TPM_RC_HANDLE, 2)  # 0x2cb
HASH_PARAMETER_1 = _parameter(TPM_RC.TPM_RC_HASH, 1)  # 0x1c3
SIZE_PARAMETER_1 = _parameter(TPM_RC.TPM_RC_SIZE, 1)  # 0x1d5

# Outcomes are frozen: the common ones are made once.
OK = Outcome(SUCCESS)
NOT_INITIALIZED = Outcome(INITIALIZE)
WRONG_LOCALITY = Outcome(LOCALITY)
NOT_A_PCR = Outcome(VALUE_HANDLE_1)
BAD_VALUE_1 = Outcome(VALUE_PARAMETER_1)
BAD_HASH_1 = Outcome(HASH_PARAMETER_1)
BAD_SIZE_1 = Outcome(SIZE_PARAMETER_1)
