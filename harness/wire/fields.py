"""TCG structures read and written as plain Python values: the hot path.

Readers take ``(data, offset, end)`` and return ``(value, new_offset)``.
``end`` is where the enclosing area stops (the response, or the parameter
area that parameterSize announces), so no size or count can reach past it.
Every violation raises :class:`WireError` naming the structure field and the
absolute offset.  Writers take plain values and raise ``ValueError`` for a
value the structure cannot carry, so whatever a writer produces, the matching
reader accepts.

Plain forms (Part 2 names in brackets): a TPM2B is its buffer as ``bytes``;
[TPMS_PCR_SELECTION] is ``(hash, pcrSelect bytes)``; [TPMT_HA] is
``(hashAlg, digest)``; capability lists are tuples of ints or int pairs.
``pcrs_of`` / ``select_of`` translate a pcrSelect bitmap to PCR numbers and
back (bit n of octet n // 8 selects PCR n, Part 2 TPMS_PCR_SELECTION).
"""

from __future__ import annotations

import struct
from functools import lru_cache

from harness.wire import limits
from harness.wire.errors import WireError
from models.tcg import DIGEST_SIZE, TPM_CAP

U8 = struct.Struct(">B")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U16_U8 = struct.Struct(">HB")  # TPMS_PCR_SELECTION: hash, sizeofSelect
U32_U8 = struct.Struct(">IB")  # TPMS_TAGGED_PCR_SELECT: tag, sizeofSelect

_DIGEST_SIZE = {int(alg): size for alg, size in DIGEST_SIZE.items()}


def digest_size(alg: int) -> int | None:
    """Digest size of a PCR hash algorithm, None if the wire layer does not know it."""
    return _DIGEST_SIZE.get(alg)


def short(field: str, offset: int, needed: int, end: int) -> WireError:
    return WireError(field, offset, f"needs {needed} bytes, {max(end - offset, 0)} left")


def read_u16(data: bytes, off: int, end: int, field: str) -> tuple[int, int]:
    if off + 2 > end:
        raise short(field, off, 2, end)
    return U16.unpack_from(data, off)[0], off + 2


def read_u32(data: bytes, off: int, end: int, field: str) -> tuple[int, int]:
    if off + 4 > end:
        raise short(field, off, 4, end)
    return U32.unpack_from(data, off)[0], off + 4


def read_count(data: bytes, off: int, end: int, field: str, limit: int) -> tuple[int, int]:
    """A TPML count (UINT32), bounded by the list's Part 2 maximum."""
    if off + 4 > end:
        raise short(f"{field}.count", off, 4, end)
    (count,) = U32.unpack_from(data, off)
    if count > limit:
        raise WireError(f"{field}.count", off, f"{count} exceeds {limit}")
    return count, off + 4



def read_list(data: bytes, off: int, end: int, field: str, limit: int, read_item) -> tuple[tuple, int]:
    """A TPML of variable-size records: the count (bounded by ``limit``), then ``read_item`` per record."""
    count, off = read_count(data, off, end, field, limit)
    entries = []
    for _ in range(count):
        entry, off = read_item(data, off, end)
        entries.append(entry)
    return tuple(entries), off

def check_count(items, field: str, limit: int) -> int:
    count = len(items)
    if count > limit:
        raise ValueError(f"{field} holds {count} entries, at most {limit}")
    return count


# --- TPM2B -----------------------------------------------------------------


def read_tpm2b(data: bytes, off: int, end: int, field: str, limit: int) -> tuple[bytes, int]:
    if off + 2 > end:
        raise short(f"{field}.size", off, 2, end)
    (size,) = U16.unpack_from(data, off)
    if size > limit:
        raise WireError(f"{field}.size", off, f"{size} exceeds {limit}")
    stop = off + 2 + size
    if stop > end:
        raise WireError(f"{field}.size", off, f"{size} but {end - off - 2} bytes left")
    return data[off + 2 : stop], stop


def write_tpm2b(buffer: bytes, field: str, limit: int) -> bytes:
    if len(buffer) > limit:
        raise ValueError(f"{field} buffer of {len(buffer)} bytes exceeds {limit}")
    return U16.pack(len(buffer)) + buffer


# --- PCR selections ----------------------------------------------------------


@lru_cache(maxsize=4096)
def pcrs_of(select: bytes) -> tuple[int, ...]:
    """PCR numbers set in a pcrSelect bitmap, ascending."""
    bits = int.from_bytes(select, "little")
    return tuple(pcr for pcr in range(len(select) * 8) if bits >> pcr & 1)


@lru_cache(maxsize=4096)
def select_of(pcrs: tuple[int, ...]) -> bytes:
    """The pcrSelect bitmap for strictly ascending PCR numbers, PCR_SELECT_MIN octets or more."""
    last = -1
    bits = 0
    for pcr in pcrs:
        if not 0 <= pcr < 8 * limits.PCR_SELECT_MAX:
            raise ValueError(f"PCR {pcr} does not fit a {limits.PCR_SELECT_MAX}-octet pcrSelect")
        if pcr <= last:
            raise ValueError(f"PCR numbers {pcrs} are not strictly ascending")
        bits |= 1 << pcr
        last = pcr
    return bits.to_bytes(max(limits.PCR_SELECT_MIN, last // 8 + 1), "little")


def read_select(data: bytes, off: int, end: int, field: str, size: int) -> tuple[bytes, int]:
    """The ``size`` pcrSelect octets at ``off``; sizeofSelect, already read, is the octet before."""
    if not 1 <= size <= limits.PCR_SELECT_MAX:
        raise WireError(f"{field}.sizeofSelect", off - 1, f"{size} is not in 1..{limits.PCR_SELECT_MAX}")
    stop = off + size
    if stop > end:
        raise WireError(f"{field}.sizeofSelect", off - 1, f"{size} but {end - off} bytes left")
    return data[off:stop], stop


def check_select(select: bytes, field: str) -> None:
    if not 1 <= len(select) <= limits.PCR_SELECT_MAX:
        raise ValueError(f"{field}.pcrSelect has {len(select)} octets, must be 1..{limits.PCR_SELECT_MAX}")


def read_pcr_select(data: bytes, off: int, end: int) -> tuple[tuple[int, bytes], int]:
    """TPMS_PCR_SELECTION as (hash, pcrSelect)."""
    if off + 3 > end:
        raise short("TPMS_PCR_SELECTION", off, 3, end)
    alg, size = U16_U8.unpack_from(data, off)
    select, off = read_select(data, off + 3, end, "TPMS_PCR_SELECTION", size)
    return (alg, select), off


def write_pcr_select(alg: int, select: bytes) -> bytes:
    check_select(select, "TPMS_PCR_SELECTION")
    return U16_U8.pack(alg, len(select)) + select


def read_pcr_selection(data: bytes, off: int, end: int) -> tuple[tuple[tuple[int, bytes], ...], int]:
    """TPML_PCR_SELECTION as ((hash, pcrSelect), ...)."""
    return read_list(data, off, end, "TPML_PCR_SELECTION", limits.HASH_COUNT_MAX, read_pcr_select)


def write_pcr_selection_raw(entries) -> bytes:
    """TPML_PCR_SELECTION from ((hash, pcrSelect), ...)."""
    parts = [U32.pack(check_count(entries, "TPML_PCR_SELECTION", limits.HASH_COUNT_MAX))]
    parts += [write_pcr_select(alg, select) for alg, select in entries]
    return b"".join(parts)


@lru_cache(maxsize=4096)
def selection_of(entries) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """((hash, pcrSelect), ...) -> PcrSelection ((hash, (pcr, ...)), ...)."""
    return tuple([(alg, pcrs_of(select)) for alg, select in entries])


@lru_cache(maxsize=4096)
def write_pcr_selection(selection) -> bytes:
    """TPML_PCR_SELECTION from a PcrSelection; pcrSelect is PCR_SELECT_MIN octets unless a PCR >= 24 needs more."""
    return write_pcr_selection_raw([(alg, select_of(pcrs)) for alg, pcrs in selection])


def read_tagged_pcr_select(data: bytes, off: int, end: int) -> tuple[tuple[int, bytes], int]:
    """TPMS_TAGGED_PCR_SELECT as (tag, pcrSelect)."""
    if off + 5 > end:
        raise short("TPMS_TAGGED_PCR_SELECT", off, 5, end)
    tag, size = U32_U8.unpack_from(data, off)
    select, off = read_select(data, off + 5, end, "TPMS_TAGGED_PCR_SELECT", size)
    return (tag, select), off


def write_tagged_pcr_select(tag: int, select: bytes) -> bytes:
    check_select(select, "TPMS_TAGGED_PCR_SELECT")
    return U32_U8.pack(tag, len(select)) + select


def read_tagged_pcr_selects(data: bytes, off: int, end: int) -> tuple[tuple[tuple[int, bytes], ...], int]:
    """TPML_TAGGED_PCR_PROPERTY as ((tag, pcrSelect), ...)."""
    return read_list(data, off, end, "TPML_TAGGED_PCR_PROPERTY", limits.MAX_PCR_PROPERTIES,
                     read_tagged_pcr_select)


def write_tagged_pcr_selects(entries) -> bytes:
    parts = [U32.pack(check_count(entries, "TPML_TAGGED_PCR_PROPERTY", limits.MAX_PCR_PROPERTIES))]
    parts += [write_tagged_pcr_select(tag, select) for tag, select in entries]
    return b"".join(parts)


# --- digests -------------------------------------------------------------------


def read_ha(data: bytes, off: int, end: int) -> tuple[tuple[int, bytes], int]:
    """TPMT_HA as (hashAlg, digest); the algorithm fixes the digest size."""
    if off + 2 > end:
        raise short("TPMT_HA.hashAlg", off, 2, end)
    (alg,) = U16.unpack_from(data, off)
    size = _DIGEST_SIZE.get(alg)
    if size is None:
        raise WireError("TPMT_HA.hashAlg", off, f"{alg:#06x} is not a hash algorithm with a known digest size")
    stop = off + 2 + size
    if stop > end:
        raise short("TPMT_HA.digest", off + 2, size, end)
    return (alg, data[off + 2 : stop]), stop


def write_ha(alg: int, digest: bytes) -> bytes:
    size = _DIGEST_SIZE.get(alg)
    if size is None:
        raise ValueError(f"TPMT_HA.hashAlg {alg!r} has no known digest size")
    if len(digest) != size:
        raise ValueError(f"TPMT_HA.digest for {alg!r} has {len(digest)} bytes, expected {size}")
    return U16.pack(alg) + digest


def read_digest_values(data: bytes, off: int, end: int) -> tuple[tuple[tuple[int, bytes], ...], int]:
    """TPML_DIGEST_VALUES as ((hashAlg, digest), ...); each digest sized by its algorithm."""
    count, off = read_count(data, off, end, "TPML_DIGEST_VALUES", limits.HASH_COUNT_MAX)
    values = []
    for _ in range(count):
        value, off = read_ha(data, off, end)
        values.append(value)
    return tuple(values), off


def write_digest_values(values) -> bytes:
    parts = [U32.pack(check_count(values, "TPML_DIGEST_VALUES", limits.HASH_COUNT_MAX))]
    parts += [write_ha(alg, digest) for alg, digest in values]
    return b"".join(parts)


def read_digests(data: bytes, off: int, end: int) -> tuple[tuple[bytes, ...], int]:
    """TPML_DIGEST as (buffer, ...)."""
    count, off = read_count(data, off, end, "TPML_DIGEST", limits.TPML_DIGEST_MAX)
    digests = []
    for _ in range(count):
        digest, off = read_tpm2b(data, off, end, "TPM2B_DIGEST", limits.TPMU_HA_SIZE)
        digests.append(digest)
    return tuple(digests), off


def write_digests(digests) -> bytes:
    parts = [U32.pack(check_count(digests, "TPML_DIGEST", limits.TPML_DIGEST_MAX))]
    for digest in digests:
        parts.append(write_tpm2b(digest, "TPM2B_DIGEST", limits.TPMU_HA_SIZE))
    return b"".join(parts)


# --- authorization areas ----------------------------------------------------------


def read_auth_command(data: bytes, off: int, end: int) -> tuple[tuple[int, bytes, int, bytes], int]:
    """TPMS_AUTH_COMMAND as (sessionHandle, nonce, sessionAttributes, hmac)."""
    if off + 4 > end:
        raise short("TPMS_AUTH_COMMAND.sessionHandle", off, 4, end)
    (handle,) = U32.unpack_from(data, off)
    nonce, off = read_tpm2b(data, off + 4, end, "TPMS_AUTH_COMMAND.nonce", limits.TPMU_HA_SIZE)
    if off + 1 > end:
        raise short("TPMS_AUTH_COMMAND.sessionAttributes", off, 1, end)
    attributes = data[off]
    hmac, off = read_tpm2b(data, off + 1, end, "TPMS_AUTH_COMMAND.hmac", limits.TPMU_HA_SIZE)
    return (handle, nonce, attributes, hmac), off


def write_auth_command(handle: int, nonce: bytes, attributes: int, hmac: bytes) -> bytes:
    return b"".join((
        U32.pack(handle),
        write_tpm2b(nonce, "TPMS_AUTH_COMMAND.nonce", limits.TPMU_HA_SIZE),
        U8.pack(attributes),
        write_tpm2b(hmac, "TPMS_AUTH_COMMAND.hmac", limits.TPMU_HA_SIZE),
    ))


def read_auth_response(data: bytes, off: int, end: int) -> tuple[tuple[bytes, int, bytes], int]:
    """TPMS_AUTH_RESPONSE as (nonce, sessionAttributes, hmac)."""
    nonce, off = read_tpm2b(data, off, end, "TPMS_AUTH_RESPONSE.nonce", limits.TPMU_HA_SIZE)
    if off + 1 > end:
        raise short("TPMS_AUTH_RESPONSE.sessionAttributes", off, 1, end)
    attributes = data[off]
    hmac, off = read_tpm2b(data, off + 1, end, "TPMS_AUTH_RESPONSE.hmac", limits.TPMU_HA_SIZE)
    return (nonce, attributes, hmac), off


def write_auth_response(nonce: bytes, attributes: int, hmac: bytes) -> bytes:
    return b"".join((
        write_tpm2b(nonce, "TPMS_AUTH_RESPONSE.nonce", limits.TPMU_HA_SIZE),
        U8.pack(attributes),
        write_tpm2b(hmac, "TPMS_AUTH_RESPONSE.hmac", limits.TPMU_HA_SIZE),
    ))


# --- capability data ------------------------------------------------------------


class _FixedList:
    """A TPML of fixed-size records: one int per record, or a tuple if the record has several fields."""

    __slots__ = ("name", "limit", "record", "fields")

    def __init__(self, name: str, limit: int, record: str) -> None:
        self.name = name
        self.limit = limit
        self.record = struct.Struct(">" + record)
        self.fields = len(record)

    def read(self, data: bytes, off: int, end: int) -> tuple[tuple, int]:
        count, off = read_count(data, off, end, self.name, self.limit)
        stop = off + count * self.record.size
        if stop > end:
            raise WireError(f"{self.name}.count", off - 4, f"{count} entries need {stop - off} bytes, {end - off} left")
        if self.fields == 1:
            return struct.unpack_from(f">{count}{self.record.format[1:]}", data, off), stop
        return tuple(self.record.iter_unpack(data[off:stop])), stop

    def write(self, items) -> bytes:
        count = check_count(items, self.name, self.limit)
        if self.fields == 1:
            return U32.pack(count) + struct.pack(f">{count}{self.record.format[1:]}", *items)
        pack = self.record.pack
        return U32.pack(count) + b"".join([pack(*item) for item in items])


ALG_PROPERTIES = _FixedList("TPML_ALG_PROPERTY", limits.MAX_CAP_ALGS, "HI")
HANDLES = _FixedList("TPML_HANDLE", limits.MAX_CAP_HANDLES, "I")
COMMAND_ATTRIBUTES = _FixedList("TPML_CCA", limits.MAX_CAP_CC, "I")
COMMAND_CODES = _FixedList("TPML_CC", limits.MAX_CAP_CC, "I")
TPM_PROPERTIES = _FixedList("TPML_TAGGED_TPM_PROPERTY", limits.MAX_TPM_PROPERTIES, "II")
ECC_CURVES = _FixedList("TPML_ECC_CURVE", limits.MAX_ECC_CURVES, "H")


class _VariableList:
    """A TPML whose records vary in size (they hold a pcrSelect): same shape as _FixedList."""

    __slots__ = ("read", "write")

    def __init__(self, read, write) -> None:
        self.read = read
        self.write = write


PCR_SELECTIONS = _VariableList(read_pcr_selection, write_pcr_selection_raw)
PCR_PROPERTIES = _VariableList(read_tagged_pcr_selects, write_tagged_pcr_selects)

# TPMU_CAPABILITIES: the list each capability selects (Part 2, TPMS_CAPABILITY_DATA).
CAPABILITY_LISTS = {
    int(TPM_CAP.TPM_CAP_ALGS): ALG_PROPERTIES,
    int(TPM_CAP.TPM_CAP_HANDLES): HANDLES,
    int(TPM_CAP.TPM_CAP_COMMANDS): COMMAND_ATTRIBUTES,
    int(TPM_CAP.TPM_CAP_PP_COMMANDS): COMMAND_CODES,
    int(TPM_CAP.TPM_CAP_AUDIT_COMMANDS): COMMAND_CODES,
    int(TPM_CAP.TPM_CAP_PCRS): PCR_SELECTIONS,
    int(TPM_CAP.TPM_CAP_TPM_PROPERTIES): TPM_PROPERTIES,
    int(TPM_CAP.TPM_CAP_PCR_PROPERTIES): PCR_PROPERTIES,
    int(TPM_CAP.TPM_CAP_ECC_CURVES): ECC_CURVES,
}


def read_capability_data(data: bytes, off: int, end: int) -> tuple[tuple[int, tuple], int]:
    """TPMS_CAPABILITY_DATA as (capability, list in plain form)."""
    if off + 4 > end:
        raise short("TPMS_CAPABILITY_DATA.capability", off, 4, end)
    (capability,) = U32.unpack_from(data, off)
    kind = CAPABILITY_LISTS.get(capability)
    if kind is None:
        raise WireError("TPMS_CAPABILITY_DATA.capability", off, f"{capability:#x} is not a capability the wire layer decodes")
    items, off = kind.read(data, off + 4, end)
    return (capability, items), off


def write_capability_data(capability: int, items) -> bytes:
    kind = CAPABILITY_LISTS.get(capability)
    if kind is None:
        raise ValueError(f"TPMS_CAPABILITY_DATA.capability {capability!r} is not a capability the wire layer encodes")
    return U32.pack(capability) + kind.write(items)
