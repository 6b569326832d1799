"""What the swtpm tests share: the skip marker, TPM command bytes, and process checks.

Commands come from the wire layer (tested on its own); NV commands, which
the wire layer does not cover, are built here from Part 3's layouts as the
swtpm note measured them.  Expected digests are computed with hashlib.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from pathlib import Path

import pytest

from harness.wire import decode_response, encode_command
from models.ops import GetRandom, PcrExtend, PcrRead, PcrReset, Startup
from models.tcg import TPM_ALG, TPM_SU

SWTPM = [
    pytest.mark.swtpm,
    pytest.mark.skipif(shutil.which(os.environ.get("SWTPM") or "swtpm") is None,
                       reason="swtpm is not installed (Debian package swtpm)"),
]
FIXTURES = Path(__file__).parent / "fixtures"

SHA1, SHA256 = TPM_ALG.TPM_ALG_SHA1, TPM_ALG.TPM_ALG_SHA256
SUCCESS, INITIALIZE, FAILURE, LOCALITY = 0x000, 0x100, 0x101, 0x907  # TPM_RC_*
STARTUP_CLEAR = encode_command(Startup(TPM_SU.TPM_SU_CLEAR))
GET_RANDOM = encode_command(GetRandom(8))
NV_INDEX = 0x01500000


def rc(response: bytes) -> int:
    return struct.unpack_from(">I", response, 6)[0]


def pcr(target, index: int, alg: int = SHA256) -> bytes:
    op = PcrRead(((alg, (index,)),))
    outcome = decode_response(op, target.transmit(encode_command(op)))
    assert outcome.rc == SUCCESS
    return outcome.value.digests[0]


def extend(target, index: int, data: bytes, locality: int = 0) -> int:
    """PCR_Extend(index) with sha1 and sha256 digests of ``data``; the response code."""
    digests = ((SHA1, hashlib.sha1(data).digest()), (SHA256, hashlib.sha256(data).digest()))
    return rc(target.transmit(encode_command(PcrExtend(index, digests)), locality))


def extended(data: bytes, start: bytes = bytes(32)) -> bytes:
    """A sha256 PCR after extending sha256(data) into ``start`` (Part 1, 17.2)."""
    return hashlib.sha256(start + hashlib.sha256(data).digest()).digest()


def reset(target, index: int, locality: int) -> int:
    return rc(target.transmit(encode_command(PcrReset(index)), locality))


_PASSWORD = struct.pack(">IIHBH", 9, 0x40000009, 0, 0, 0)  # authorizationSize, TPM_RS_PW, empty
_NV_PUBLIC = struct.pack(">IHIHH", NV_INDEX, SHA256, 0x02060006, 0, 8)  # OWNER/AUTH read+write, NO_DA


def _command(tag: int, code: int, handles: bytes, params: bytes) -> bytes:
    body = handles + _PASSWORD + params
    return struct.pack(">HII", tag, 10 + len(body), code) + body


NV_DEFINE = _command(0x8002, 0x12A, struct.pack(">I", 0x40000001),
                     struct.pack(">H", 0) + struct.pack(">H", len(_NV_PUBLIC)) + _NV_PUBLIC)


def nv_write(data: bytes) -> bytes:
    return _command(0x8002, 0x137, struct.pack(">II", NV_INDEX, NV_INDEX),
                    struct.pack(">H", len(data)) + data + struct.pack(">H", 0))


NV_READ = _command(0x8002, 0x14E, struct.pack(">II", NV_INDEX, NV_INDEX), struct.pack(">HH", 8, 0))


def nv_read_data(response: bytes) -> bytes:
    """The TPM2B_MAX_NV_BUFFER of an NV_Read response (after parameterSize)."""
    (size,) = struct.unpack_from(">H", response, 14)
    return response[16:16 + size]


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an exited process not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
