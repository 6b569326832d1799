"""TCG TPM 2.0 constants with the specification's names (Library Part 2).

Every constant is an ``int`` subclass that prints its TCG name, so traces and
findings read ``TPM_RC_LOCALITY (0x907)`` instead of a bare number.  Response
codes decompose into their format-0 / format-1 fields (Part 2, 6.6).
"""

from __future__ import annotations

import enum


class _Named(enum.IntEnum):
    """An int that prints as ``NAME (0x...)``; the TCG name is the member name."""

    def __str__(self) -> str:
        return f"{self.name} ({self.value:#x})"

    __repr__ = __str__


class TPM_ST(_Named):
    TPM_ST_RSP_COMMAND = 0x00C4
    TPM_ST_NULL = 0x8000
    TPM_ST_NO_SESSIONS = 0x8001
    TPM_ST_SESSIONS = 0x8002
    TPM_ST_ATTEST_NV = 0x8014
    TPM_ST_ATTEST_QUOTE = 0x8018
    TPM_ST_CREATION = 0x8021
    TPM_ST_VERIFIED = 0x8022
    TPM_ST_AUTH_SECRET = 0x8023
    TPM_ST_HASHCHECK = 0x8024
    TPM_ST_AUTH_SIGNED = 0x8025


class TPM_SU(_Named):
    TPM_SU_CLEAR = 0x0000
    TPM_SU_STATE = 0x0001


class TPM_ALG(_Named):
    TPM_ALG_ERROR = 0x0000
    TPM_ALG_RSA = 0x0001
    TPM_ALG_SHA1 = 0x0004
    TPM_ALG_HMAC = 0x0005
    TPM_ALG_AES = 0x0006
    TPM_ALG_KEYEDHASH = 0x0008
    TPM_ALG_XOR = 0x000A
    TPM_ALG_SHA256 = 0x000B
    TPM_ALG_SHA384 = 0x000C
    TPM_ALG_SHA512 = 0x000D
    TPM_ALG_NULL = 0x0010
    TPM_ALG_SM3_256 = 0x0012
    TPM_ALG_ECC = 0x0023
    TPM_ALG_CFB = 0x0043


class TPM_CC(_Named):
    TPM_CC_NV_UndefineSpaceSpecial = 0x011F
    TPM_CC_NV_DefineSpace = 0x012A
    TPM_CC_PCR_Allocate = 0x012B
    TPM_CC_SequenceComplete = 0x013E
    TPM_CC_PCR_Reset = 0x013D
    TPM_CC_NV_UndefineSpace = 0x0122
    TPM_CC_NV_Increment = 0x0134
    TPM_CC_NV_Extend = 0x0136
    TPM_CC_NV_Write = 0x0137
    TPM_CC_NV_WriteLock = 0x0138
    TPM_CC_Startup = 0x0144
    TPM_CC_Shutdown = 0x0145
    TPM_CC_NV_Read = 0x014E
    TPM_CC_NV_ReadLock = 0x014F
    TPM_CC_PolicySecret = 0x0151
    TPM_CC_SelfTest = 0x0143
    TPM_CC_HashSequenceStart = 0x0186
    TPM_CC_EventSequenceComplete = 0x0185
    TPM_CC_FlushContext = 0x0165
    TPM_CC_NV_ReadPublic = 0x0169
    TPM_CC_StartAuthSession = 0x0176
    TPM_CC_GetCapability = 0x017A
    TPM_CC_GetRandom = 0x017B
    TPM_CC_GetTestResult = 0x017C
    TPM_CC_PCR_Read = 0x017E
    TPM_CC_PolicyPCR = 0x017F
    TPM_CC_PolicyRestart = 0x0180
    TPM_CC_PCR_Extend = 0x0182
    TPM_CC_PolicyGetDigest = 0x0189
    TPM_CC_PCR_Event = 0x013C
    TPM_CC_SequenceUpdate = 0x015C
    TPM_CC_PolicyLocality = 0x016F


class TPM_CAP(_Named):
    TPM_CAP_ALGS = 0x00000000
    TPM_CAP_HANDLES = 0x00000001
    TPM_CAP_COMMANDS = 0x00000002
    TPM_CAP_PP_COMMANDS = 0x00000003
    TPM_CAP_AUDIT_COMMANDS = 0x00000004
    TPM_CAP_PCRS = 0x00000005
    TPM_CAP_TPM_PROPERTIES = 0x00000006
    TPM_CAP_PCR_PROPERTIES = 0x00000007
    TPM_CAP_ECC_CURVES = 0x00000008


class TPM_PT(_Named):
    """Fixed (PT_FIXED = 0x100) and variable (PT_VAR = 0x200) TPM properties."""

    TPM_PT_FAMILY_INDICATOR = 0x100
    TPM_PT_LEVEL = 0x101
    TPM_PT_REVISION = 0x102
    TPM_PT_DAY_OF_YEAR = 0x103
    TPM_PT_YEAR = 0x104
    TPM_PT_MANUFACTURER = 0x105
    TPM_PT_VENDOR_STRING_1 = 0x106
    TPM_PT_VENDOR_STRING_2 = 0x107
    TPM_PT_VENDOR_STRING_3 = 0x108
    TPM_PT_VENDOR_STRING_4 = 0x109
    TPM_PT_VENDOR_TPM_TYPE = 0x10A
    TPM_PT_FIRMWARE_VERSION_1 = 0x10B
    TPM_PT_FIRMWARE_VERSION_2 = 0x10C
    TPM_PT_INPUT_BUFFER = 0x10D
    TPM_PT_HR_TRANSIENT_MIN = 0x10E
    TPM_PT_HR_PERSISTENT_MIN = 0x10F
    TPM_PT_HR_LOADED_MIN = 0x110
    TPM_PT_ACTIVE_SESSIONS_MAX = 0x111
    TPM_PT_PCR_COUNT = 0x112
    TPM_PT_PCR_SELECT_MIN = 0x113
    TPM_PT_CONTEXT_GAP_MAX = 0x114
    TPM_PT_NV_COUNTERS_MAX = 0x116
    TPM_PT_NV_INDEX_MAX = 0x117
    TPM_PT_MEMORY = 0x118
    TPM_PT_CLOCK_UPDATE = 0x119
    TPM_PT_CONTEXT_HASH = 0x11A
    TPM_PT_CONTEXT_SYM = 0x11B
    TPM_PT_CONTEXT_SYM_SIZE = 0x11C
    TPM_PT_ORDERLY_COUNT = 0x11D
    TPM_PT_MAX_COMMAND_SIZE = 0x11E
    TPM_PT_MAX_RESPONSE_SIZE = 0x11F
    TPM_PT_MAX_DIGEST = 0x120
    TPM_PT_PERMANENT = 0x200
    TPM_PT_STARTUP_CLEAR = 0x201
    TPM_PT_HR_NV_INDEX = 0x202
    TPM_PT_HR_LOADED = 0x203
    TPM_PT_HR_LOADED_AVAIL = 0x204
    TPM_PT_HR_ACTIVE = 0x205
    TPM_PT_HR_ACTIVE_AVAIL = 0x206
    TPM_PT_HR_TRANSIENT_AVAIL = 0x207
    TPM_PT_HR_PERSISTENT = 0x208
    TPM_PT_HR_PERSISTENT_AVAIL = 0x209
    TPM_PT_NV_COUNTERS = 0x20A
    TPM_PT_NV_COUNTERS_AVAIL = 0x20B


class TPM_RH(_Named):
    """Permanent handles (Part 2, 7.4) and the password session handle."""

    TPM_RH_OWNER = 0x40000001
    TPM_RH_NULL = 0x40000007
    TPM_RS_PW = 0x40000009
    TPM_RH_LOCKOUT = 0x4000000A
    TPM_RH_ENDORSEMENT = 0x4000000B
    TPM_RH_PLATFORM = 0x4000000C


class TPM_RC(_Named):
    """Response codes: the base values of Part 2, 6.6.3.

    Format-1 codes (bit 7 set) carry a parameter, handle or session number;
    use :func:`describe_rc` to print any response code with its fields.
    """

    TPM_RC_SUCCESS = 0x000
    TPM_RC_BAD_TAG = 0x01E
    # format 0, TPM 2.0 (RC_VER1 = 0x100)
    TPM_RC_INITIALIZE = 0x100
    TPM_RC_FAILURE = 0x101
    TPM_RC_SEQUENCE = 0x103
    TPM_RC_PRIVATE = 0x10B
    TPM_RC_HMAC = 0x119
    TPM_RC_DISABLED = 0x120
    TPM_RC_EXCLUSIVE = 0x121
    TPM_RC_AUTH_TYPE = 0x124
    TPM_RC_AUTH_MISSING = 0x125
    TPM_RC_POLICY = 0x126
    TPM_RC_PCR = 0x127
    TPM_RC_PCR_CHANGED = 0x128
    TPM_RC_UPGRADE = 0x12D
    TPM_RC_TOO_MANY_CONTEXTS = 0x12E
    TPM_RC_AUTH_UNAVAILABLE = 0x12F
    TPM_RC_REBOOT = 0x130
    TPM_RC_UNBALANCED = 0x131
    TPM_RC_COMMAND_SIZE = 0x142
    TPM_RC_COMMAND_CODE = 0x143
    TPM_RC_AUTHSIZE = 0x144
    TPM_RC_AUTH_CONTEXT = 0x145
    TPM_RC_NV_RANGE = 0x146
    TPM_RC_NV_SIZE = 0x147
    TPM_RC_NV_LOCKED = 0x148
    TPM_RC_NV_AUTHORIZATION = 0x149
    TPM_RC_NV_UNINITIALIZED = 0x14A
    TPM_RC_NV_SPACE = 0x14B
    TPM_RC_NV_DEFINED = 0x14C
    TPM_RC_BAD_CONTEXT = 0x150
    TPM_RC_CPHASH = 0x151
    TPM_RC_PARENT = 0x152
    TPM_RC_NEEDS_TEST = 0x153
    TPM_RC_NO_RESULT = 0x154
    TPM_RC_SENSITIVE = 0x155
    TPM_RC_READ_ONLY = 0x156
    # format 1 (RC_FMT1 = 0x080)
    TPM_RC_ASYMMETRIC = 0x081
    TPM_RC_ATTRIBUTES = 0x082
    TPM_RC_HASH = 0x083
    TPM_RC_VALUE = 0x084
    TPM_RC_HIERARCHY = 0x085
    TPM_RC_KEY_SIZE = 0x087
    TPM_RC_MGF = 0x088
    TPM_RC_MODE = 0x089
    TPM_RC_TYPE = 0x08A
    TPM_RC_HANDLE = 0x08B
    TPM_RC_KDF = 0x08C
    TPM_RC_RANGE = 0x08D
    TPM_RC_AUTH_FAIL = 0x08E
    TPM_RC_NONCE = 0x08F
    TPM_RC_PP = 0x090
    TPM_RC_SCHEME = 0x092
    TPM_RC_SIZE = 0x095
    TPM_RC_SYMMETRIC = 0x096
    TPM_RC_TAG = 0x097
    TPM_RC_SELECTOR = 0x098
    TPM_RC_INSUFFICIENT = 0x09A
    TPM_RC_SIGNATURE = 0x09B
    TPM_RC_KEY = 0x09C
    TPM_RC_POLICY_FAIL = 0x09D
    TPM_RC_INTEGRITY = 0x09F
    TPM_RC_TICKET = 0x0A0
    TPM_RC_RESERVED_BITS = 0x0A1
    TPM_RC_BAD_AUTH = 0x0A2
    TPM_RC_EXPIRED = 0x0A3
    TPM_RC_POLICY_CC = 0x0A4
    TPM_RC_BINDING = 0x0A5
    TPM_RC_CURVE = 0x0A6
    TPM_RC_ECC_POINT = 0x0A7
    # warnings (RC_WARN = 0x900)
    TPM_RC_CONTEXT_GAP = 0x901
    TPM_RC_OBJECT_MEMORY = 0x902
    TPM_RC_SESSION_MEMORY = 0x903
    TPM_RC_MEMORY = 0x904
    TPM_RC_SESSION_HANDLES = 0x905
    TPM_RC_OBJECT_HANDLES = 0x906
    TPM_RC_LOCALITY = 0x907
    TPM_RC_YIELDED = 0x908
    TPM_RC_CANCELED = 0x909
    TPM_RC_TESTING = 0x90A
    TPM_RC_NV_RATE = 0x920
    TPM_RC_LOCKOUT = 0x921
    TPM_RC_RETRY = 0x922
    TPM_RC_NV_UNAVAILABLE = 0x923
    TPM_RC_REFERENCE_H0 = 0x910  # the handle of the handle area is not loaded
    TPM_RC_REFERENCE_S0 = 0x918  # the session of the authorization area is not loaded


RC_FMT1 = 0x080
RC_P = 0x040
RC_S = 0x800
RC_VER1 = 0x100
RC_VENDOR = 0x400

_RC_BY_VALUE = {m.value: m for m in TPM_RC}


def rc_base(rc: int) -> int:
    """The error number without parameter/handle/session fields (Part 2, 6.6.2)."""
    if rc & RC_FMT1:
        return rc & 0x0BF
    return rc


def describe_rc(rc: int) -> str:
    """``TPM_RC_VALUE + parameter 1 (0x1c4)``: the name and fields of any code."""
    if rc & RC_FMT1:
        base = _RC_BY_VALUE.get(rc & 0x0BF)
        name = base.name if base else f"TPM_RC_FMT1_{rc & 0x3F:#x}"
        number = (rc >> 8) & 0xF
        if rc & RC_P:
            where = f" + parameter {number}"
        elif rc & RC_S:
            where = f" + session {number & 0x7}"
        elif number & 0x7:
            where = f" + handle {number & 0x7}"
        else:
            where = ""
        return f"{name}{where} ({rc:#x})"
    if rc & RC_VENDOR and rc & RC_VER1:
        return f"TPM_RC_VENDOR_{rc & 0x7F:#x} ({rc:#x})"
    member = _RC_BY_VALUE.get(rc)
    if member is not None:
        return str(member)
    if not rc & RC_VER1 and rc != 0:
        return f"TPM 1.2 code ({rc:#x})"
    return f"unknown response code ({rc:#x})"


# Digest sizes of the hash algorithms a PCR bank can use (Part 2, Table 9 / 22).
DIGEST_SIZE = {
    TPM_ALG.TPM_ALG_SHA1: 20,
    TPM_ALG.TPM_ALG_SHA256: 32,
    TPM_ALG.TPM_ALG_SHA384: 48,
    TPM_ALG.TPM_ALG_SHA512: 64,
}
# hashlib names of the same algorithms.
HASHLIB_NAME = {
    TPM_ALG.TPM_ALG_SHA1: "sha1",
    TPM_ALG.TPM_ALG_SHA256: "sha256",
    TPM_ALG.TPM_ALG_SHA384: "sha384",
    TPM_ALG.TPM_ALG_SHA512: "sha512",
}
ALG_BY_NAME = {name: alg for alg, name in HASHLIB_NAME.items()}

PCR_COUNT = 24  # PC Client: PCR 0-23
PCR_SELECT_MIN = 3  # bytes of sizeofSelect
TPM_HEADER_SIZE = 10
MAX_DIGESTS_PER_READ = 8  # TPML_DIGEST holds at most 8 digests (Part 2, 10.9.2)


class TPMA_NV(_Named):
    """NV index attributes (Part 2, 13.4); TPM_NT sits in bits 4-7."""

    TPMA_NV_PPWRITE = 1 << 0
    TPMA_NV_OWNERWRITE = 1 << 1
    TPMA_NV_AUTHWRITE = 1 << 2
    TPMA_NV_POLICYWRITE = 1 << 3
    TPMA_NV_TPM_NT = 0xF << 4
    TPMA_NV_POLICY_DELETE = 1 << 10
    TPMA_NV_WRITELOCKED = 1 << 11
    TPMA_NV_WRITEALL = 1 << 12
    TPMA_NV_WRITEDEFINE = 1 << 13
    TPMA_NV_WRITE_STCLEAR = 1 << 14
    TPMA_NV_GLOBALLOCK = 1 << 15
    TPMA_NV_PPREAD = 1 << 16
    TPMA_NV_OWNERREAD = 1 << 17
    TPMA_NV_AUTHREAD = 1 << 18
    TPMA_NV_POLICYREAD = 1 << 19
    TPMA_NV_NO_DA = 1 << 25
    TPMA_NV_ORDERLY = 1 << 26
    TPMA_NV_CLEAR_STCLEAR = 1 << 27
    TPMA_NV_READLOCKED = 1 << 28
    TPMA_NV_WRITTEN = 1 << 29
    TPMA_NV_PLATFORMCREATE = 1 << 30
    TPMA_NV_READ_STCLEAR = 1 << 31


class TPM_NT(_Named):
    """NV index types (Part 2, 13.4, TPMA_NV_TPM_NT)."""

    TPM_NT_ORDINARY = 0x0
    TPM_NT_COUNTER = 0x1
    TPM_NT_BITS = 0x2
    TPM_NT_EXTEND = 0x4
    TPM_NT_PIN_FAIL = 0x8
    TPM_NT_PIN_PASS = 0x9


NV_INDEX_FIRST = 0x01000000  # TPM_HT_NV_INDEX << 24
NV_INDEX_LAST = 0x01FFFFFF
MAX_NV_BUFFER_SIZE = 1024  # reference / libtpms TPM2B_MAX_NV_BUFFER limit


class TPM_SE(_Named):
    """Session types of TPM2_StartAuthSession (Part 2, 6.11)."""

    TPM_SE_HMAC = 0x00
    TPM_SE_POLICY = 0x01
    TPM_SE_TRIAL = 0x03


MAX_ACTIVE_SESSIONS = 64  # reference / libtpms: session handles FIRST .. FIRST + 63
MAX_LOADED_SESSIONS = 3  # reference / libtpms: a fourth loaded session is TPM_RC_SESSION_MEMORY
MAX_LOADED_OBJECTS = 3  # reference / libtpms: transient handles 0x80000000 .. 0x80000002
HMAC_SESSION_FIRST = 0x02000000  # TPM_HT_HMAC_SESSION << 24
POLICY_SESSION_FIRST = 0x03000000  # TPM_HT_POLICY_SESSION << 24
TRANSIENT_FIRST = 0x80000000  # TPM_HT_TRANSIENT << 24

# --- hash and event sequences, transient objects (Part 2, 6.2, 7.2, 10.7.6) ----------
TPM_GENERATED_VALUE = b"\xffTCG"  # a first block starting so makes a hash ticket unsafe
TPM_HT_TRANSIENT = 0x80
PERSISTENT_FIRST = 0x81000000
PERSISTENT_LAST = 0x81FFFFFF
MAX_DIGEST_BUFFER = 1024  # TPM2B_MAX_BUFFER limit (TPM_PT_INPUT_BUFFER)
