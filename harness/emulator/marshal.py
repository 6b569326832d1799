"""Big-endian unmarshalling helpers and the exception that ends a command.

Every helper takes the whole command, a position and the response code to
answer when the bytes run out, and returns ``(value, next_position)``.  A
command is never copied or re-parsed: handlers walk it once with these.
Precompiled ``struct.Struct`` objects keep the per-command cost low.
"""

from __future__ import annotations

import struct

U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
HEADER = struct.Struct(">HII")  # tag, size, commandCode / responseCode
SESSIONS_HEADER = struct.Struct(">HIII")  # response header + parameterSize
TAGGED_PCR_SELECT = struct.Struct(">IB")  # TPMS_TAGGED_PCR_SELECT tag + sizeofSelect
TAGGED_PROPERTY = struct.Struct(">II")  # TPMS_TAGGED_PROPERTY
ALG_PROPERTY = struct.Struct(">HI")  # TPMS_ALG_PROPERTY
CAPABILITY_HEAD = struct.Struct(">BII")  # moreData, capability, list count

_unpack_u16 = U16.unpack_from
_unpack_u32 = U32.unpack_from


class CommandError(Exception):
    """The command ends with response code ``rc`` (an error response, 10 bytes).

    Raised anywhere below execute(); it never escapes the emulator.
    """

    __slots__ = ("rc",)

    def __init__(self, rc: int) -> None:
        self.rc = rc


def take_u16(buf: bytes, pos: int, rc: int) -> tuple[int, int]:
    if pos + 2 > len(buf):
        raise CommandError(rc)
    return _unpack_u16(buf, pos)[0], pos + 2


def take_u32(buf: bytes, pos: int, rc: int) -> tuple[int, int]:
    if pos + 4 > len(buf):
        raise CommandError(rc)
    return _unpack_u32(buf, pos)[0], pos + 4


def take_tpm2b(
    buf: bytes, pos: int, limit: int, max_size: int, rc_insufficient: int, rc_size: int
) -> tuple[bytes, int]:
    """A TPM2B (UINT16 size + bytes) inside ``buf[:limit]``; size > max_size is rc_size."""
    if pos + 2 > limit:
        raise CommandError(rc_insufficient)
    size = _unpack_u16(buf, pos)[0]
    if size > max_size:
        raise CommandError(rc_size)
    start = pos + 2
    end = start + size
    if end > limit:
        raise CommandError(rc_insufficient)
    return buf[start:end], end
