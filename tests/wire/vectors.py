"""Byte layouts measured against swtpm 0.7.1 / libtpms 0.9.2 (notes/swtpm.md, section 5).

Each vector is (op, command hex, response hex, decoded outcome).  ``<20 B>``
placeholders of the notes are filled with fixed digest bytes.
"""

from __future__ import annotations

from models.ops import (
    CapabilityResult, GetCapability, GetRandom, Outcome, PcrExtend, PcrRead, PcrReadResult,
    PcrReset, RandomResult, Startup,
)


def unhex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


SHA1_DIGEST = bytes(range(1, 21))
SHA256_DIGEST = bytes(range(101, 133))
RANDOM16 = bytes(range(0xA0, 0xB0))
ALL_24 = tuple(range(24))

VECTORS = {
    "Startup(CLEAR)": (
        Startup(0x0000),
        "8001 0000000c 00000144 0000",
        "8001 0000000a 00000000",
        Outcome(0, None),
    ),
    "Startup(STATE)": (
        Startup(0x0001),
        "8001 0000000c 00000144 0001",
        "8001 0000000a 00000000",
        Outcome(0, None),
    ),
    "GetRandom(16)": (
        GetRandom(16),
        "8001 0000000c 0000017b 0010",
        "8001 0000001c 00000000 0010" + RANDOM16.hex(),
        Outcome(0, RandomResult(16, RANDOM16)),
    ),
    "GetCapability(TPM_PROPERTIES, PT_MANUFACTURER, 1)": (
        GetCapability(0x6, 0x105, 1),
        "8001 00000016 0000017a 00000006 00000105 00000001",
        "8001 0000001b 00000000 00 00000006 00000001 00000105 49424d00",
        Outcome(0, CapabilityResult(False, 0x6, ((0x105, 0x49424D00),))),
    ),
    "GetCapability(PCRS, 0, 1)": (
        GetCapability(0x5, 0, 1),
        "8001 00000016 0000017a 00000005 00000000 00000001",
        "8001 0000002b 00000000 00 00000005 00000004 0004 03 ffffff 000b 03 ffffff 000c 03 ffffff 000d 03 ffffff",
        Outcome(0, CapabilityResult(False, 0x5, ((0x4, ALL_24), (0xB, ALL_24), (0xC, ALL_24), (0xD, ALL_24)))),
    ),
    "PCR_Extend(16, sha1+sha256)": (
        PcrExtend(16, ((0x4, SHA1_DIGEST), (0xB, SHA256_DIGEST))),
        "8002 00000057 00000182 00000010 00000009 40000009 0000 00 0000 00000002 0004"
        + SHA1_DIGEST.hex() + "000b" + SHA256_DIGEST.hex(),
        "8002 00000013 00000000 00000000 0000 01 0000",
        Outcome(0, None),
    ),
    "PCR_Read(sha1:16, sha256:16)": (
        PcrRead(((0x4, (16,)), (0xB, (16,)))),
        "8001 0000001a 0000017e 00000002 0004 03 000001 000b 03 000001",
        "8001 0000005a 00000000 00000014 00000002 0004 03 000001 000b 03 000001 00000002 0014"
        + SHA1_DIGEST.hex() + "0020" + SHA256_DIGEST.hex(),
        Outcome(0, PcrReadResult(0x14, ((0x4, (16,)), (0xB, (16,))), (SHA1_DIGEST, SHA256_DIGEST))),
    ),
    "PCR_Reset(16)": (
        PcrReset(16),
        "8002 0000001b 0000013d 00000010 00000009 40000009 0000 00 0000",
        "8002 00000013 00000000 00000000 0000 01 0000",
        Outcome(0, None),
    ),
}
