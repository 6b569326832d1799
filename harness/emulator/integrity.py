"""Integrity collection commands: TPM2_PCR_Extend, _Event, _Reset, _Read (Part 3, 22).

Order inside each command follows the reference: parameters are unmarshalled
(errors carry "+ parameter 1"), leftover bytes are TPM_RC_SIZE, and only then
the action checks TPM_RH_NULL, the locality and the orderly state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .codes import (
    HASH_COUNT,
    MAX_DIGESTS_PER_READ,
    PCR_COUNT,
    PCR_SELECT,
    RC_1,
    RC_P,
    SU_NONE,
    TPM_ALG_SHA1,
    TPM_CC_PCR_Event,
    TPM_CC_PCR_Extend,
    TPM_CC_PCR_Read,
    TPM_CC_PCR_Reset,
    TPM_RC_HASH,
    TPM_RC_INSUFFICIENT,
    TPM_RC_LOCALITY,
    TPM_RC_SIZE,
    TPM_RC_VALUE,
    TPM_RH_NULL,
)
from .command import CommandSpec
from .marshal import U16, U32, CommandError, take_tpm2b, take_u32
from .pcr import DIGEST_SIZE, IMPLEMENTED

if TYPE_CHECKING:
    from .emulator import Emulator

_P1 = RC_P | RC_1
_INSUFFICIENT_P1 = TPM_RC_INSUFFICIENT | _P1
_SIZE_P1 = TPM_RC_SIZE | _P1
_HASH_P1 = TPM_RC_HASH | _P1
_VALUE_P1 = TPM_RC_VALUE | _P1
_SELECT_BYTE = bytes((PCR_SELECT,))
_TPM2B_DIGEST_SIZE = {size: U16.pack(size) for size in DIGEST_SIZE.values()}
_unpack_u16 = U16.unpack_from


def is_pcr(handle: int) -> bool:
    """TPMI_DH_PCR without TPM_RH_NULL (PCR_FIRST is 0)."""
    return handle < PCR_COUNT


def is_pcr_or_null(handle: int) -> bool:
    """TPMI_DH_PCR+ (TPM_RH_NULL allowed)."""
    return handle < PCR_COUNT or handle == TPM_RH_NULL


def _parse_digest_values(cmd: bytes, pos: int) -> list[tuple[int, bytes]]:
    """TPML_DIGEST_VALUES (Part 2, 10.9.7) as the only parameter."""
    end = len(cmd)
    count, pos = take_u32(cmd, pos, _INSUFFICIENT_P1)
    if count > HASH_COUNT:
        raise CommandError(_SIZE_P1)
    digests = []
    for _ in range(count):
        if pos + 2 > end:
            raise CommandError(_INSUFFICIENT_P1)
        alg = _unpack_u16(cmd, pos)[0]
        size = DIGEST_SIZE.get(alg)
        if size is None:
            raise CommandError(_HASH_P1)
        pos += 2 + size
        if pos > end:
            raise CommandError(_INSUFFICIENT_P1)
        digests.append((alg, cmd[pos - size : pos]))
    if pos != end:
        raise CommandError(TPM_RC_SIZE)
    return digests


def _note_change(emu: Emulator, pcr: int) -> None:
    """A change to a state-saved PCR ends the orderly state (reference g_clearOrderly)."""
    if emu.clears_orderly[pcr]:
        emu.saved.orderly = SU_NONE


def pcr_extend(
    emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int
) -> bytes:
    digests = _parse_digest_values(cmd, pos)
    pcr = handles[0]
    if pcr == TPM_RH_NULL:
        return b""
    if not emu.extend_masks[pcr] >> locality & 1:
        raise CommandError(TPM_RC_LOCALITY)
    _note_change(emu, pcr)
    if emu.pcrs.drop_next_extend:  # planted bug: first-extend-after-startup-dropped
        emu.pcrs.drop_next_extend = False
        return b""
    if emu.bug_extend_skips_last_bank:
        digests = digests[:-1]
    if pcr == 10 and emu.bug_pcr10_sha1_only:
        digests = [d for d in digests if d[0] == TPM_ALG_SHA1]
    extend = emu.pcrs.extend
    for alg, digest in digests:
        extend(pcr, alg, digest)
    return b""


def pcr_event(
    emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int
) -> bytes:
    """Extend H_alg(eventData) into every bank; answer the digests of every
    implemented algorithm, allocated or not (TPML_DIGEST_VALUES of HASH_COUNT)."""
    data, pos = take_tpm2b(cmd, pos, len(cmd), emu.max_event_data, _INSUFFICIENT_P1, _SIZE_P1)
    if pos != len(cmd):
        raise CommandError(TPM_RC_SIZE)
    pcr = handles[0]
    extend = None
    if pcr != TPM_RH_NULL:
        if not (emu.bug_event_ignores_locality or emu.extend_masks[pcr] >> locality & 1):
            raise CommandError(TPM_RC_LOCALITY)
        _note_change(emu, pcr)
        extend = emu.pcrs.extend
    out = [U32.pack(HASH_COUNT)]
    for h in IMPLEMENTED:
        digest = h.new(data).digest()
        out.append(U16.pack(h.alg))
        out.append(digest)
        if extend is not None:
            extend(pcr, h.alg, digest)
    return b"".join(out)


def pcr_reset(
    emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int
) -> bytes:
    """Reset to 00..00 in every bank.  Never at locality 4 (PCR.c
    PCRIsResetAllowed with DRTM_PCR); PCRs 0-15 (state-saved) are never
    resettable in this table, so no orderly change can arise here."""
    if pos != len(cmd):
        raise CommandError(TPM_RC_SIZE)
    pcr = handles[0]
    if locality == 4 and not emu.bug_reset_at_locality4:
        raise CommandError(TPM_RC_LOCALITY)
    if not emu.reset_masks[pcr] >> locality & 1:
        raise CommandError(TPM_RC_LOCALITY)
    emu.pcrs.reset(pcr)
    return b""


def pcr_read(
    emu: Emulator, cmd: bytes, pos: int, handles: tuple[int, ...], locality: int
) -> bytes:
    """PCR.c PCRRead: per selection in input order, unallocated banks read as
    empty; PCRs ascending until 8 digests, later bits cleared from the echo."""
    end = len(cmd)
    count, pos = take_u32(cmd, pos, _INSUFFICIENT_P1)
    if count > HASH_COUNT:
        raise CommandError(_SIZE_P1)
    selections = []
    for _ in range(count):  # TPMS_PCR_SELECTION: hash, sizeofSelect, pcrSelect
        if pos + 2 > end:
            raise CommandError(_INSUFFICIENT_P1)
        alg = _unpack_u16(cmd, pos)[0]
        if alg not in DIGEST_SIZE:
            raise CommandError(_HASH_P1)
        if pos + 3 > end:
            raise CommandError(_INSUFFICIENT_P1)
        if cmd[pos + 2] != PCR_SELECT:
            raise CommandError(_VALUE_P1)
        pos += 3 + PCR_SELECT
        if pos > end:
            raise CommandError(_INSUFFICIENT_P1)
        selections.append((alg, cmd[pos - PCR_SELECT : pos]))
    if pos != end:
        raise CommandError(TPM_RC_SIZE)
    by_alg = emu.pcrs.by_alg
    out = [U32.pack(emu.pcrs.update_counter), U32.pack(count)]
    values: list[bytes] = []
    for alg, select in selections:
        bank = by_alg.get(alg)
        bits = int.from_bytes(select, "little") if bank is not None else 0
        remaining = bits
        while remaining:
            if len(values) == MAX_DIGESTS_PER_READ:
                bits ^= remaining  # no room: not read, so not echoed
                break
            low = remaining & -remaining
            remaining ^= low
            values.append(bank.values[low.bit_length() - 1])
        out.append(U16.pack(alg) + _SELECT_BYTE + bits.to_bytes(PCR_SELECT, "little"))
    out.append(U32.pack(len(values)))
    for value in values:
        out.append(_TPM2B_DIGEST_SIZE[len(value)])
        out.append(value)
    return b"".join(out)


COMMANDS = (
    CommandSpec(TPM_CC_PCR_Extend, "TPM2_PCR_Extend", (is_pcr_or_null,), 1, True, pcr_extend),
    CommandSpec(TPM_CC_PCR_Event, "TPM2_PCR_Event", (is_pcr_or_null,), 1, True, pcr_event),
    CommandSpec(TPM_CC_PCR_Reset, "TPM2_PCR_Reset", (is_pcr,), 1, True, pcr_reset),
    CommandSpec(TPM_CC_PCR_Read, "TPM2_PCR_Read", (), 0, True, pcr_read),
)
