"""TCG structures (Library Part 2) as frozen values with marshal / unmarshal.

For suites that build or mutate command bytes structure by structure, and for
readable dumps.  Class and field names are Part 2's.  A TPM2B field holds its
buffer as ``bytes`` (the size field is ``len``); a TPML holds a tuple.

``unmarshal(data, offset=0) -> (value, new_offset)`` raises WireError naming
the field and the offset in ``data``.  ``marshal()`` raises ValueError for a
value the structure cannot carry, so marshal output always unmarshals back.
The op-level codecs use the plain readers of :mod:`harness.wire.fields`
directly; these classes wrap the same readers and add no rules of their own.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from harness.wire import fields, limits
from harness.wire.errors import WireError
from models.tcg import TPM_CAP


class _Structure:
    """marshal / unmarshal around each structure's ``_read`` and ``_write``."""

    __slots__ = ()

    @classmethod
    def unmarshal(cls, data: bytes, offset: int = 0):
        if type(data) is not bytes:
            data = bytes(data)
        if not 0 <= offset <= len(data):
            raise ValueError(f"offset {offset} is outside the {len(data)} bytes")
        return cls._read(data, offset, len(data))

    def marshal(self) -> bytes:
        try:
            return self._write()
        except struct.error as exc:
            raise ValueError(f"cannot marshal {self!r}: {exc}") from None


def _read_record(record: struct.Struct, data: bytes, off: int, end: int, name: str) -> tuple[tuple, int]:
    if off + record.size > end:
        raise fields.short(name, off, record.size, end)
    return record.unpack_from(data, off), off + record.size


_U32_U32 = struct.Struct(">II")
_U16_U32 = struct.Struct(">HI")


@dataclass(frozen=True, slots=True)
class TPM2B_DIGEST(_Structure):
    buffer: bytes

    @classmethod
    def _read(cls, data, off, end):
        buffer, off = fields.read_tpm2b(data, off, end, "TPM2B_DIGEST", limits.TPMU_HA_SIZE)
        return cls(buffer), off

    def _write(self) -> bytes:
        return fields.write_tpm2b(self.buffer, "TPM2B_DIGEST", limits.TPMU_HA_SIZE)


@dataclass(frozen=True, slots=True)
class TPMT_HA(_Structure):
    hashAlg: int
    digest: bytes

    @classmethod
    def _read(cls, data, off, end):
        (alg, digest), off = fields.read_ha(data, off, end)
        return cls(alg, digest), off

    def _write(self) -> bytes:
        return fields.write_ha(self.hashAlg, self.digest)


@dataclass(frozen=True, slots=True)
class TPML_DIGEST_VALUES(_Structure):
    digests: tuple[TPMT_HA, ...]

    @classmethod
    def _read(cls, data, off, end):
        values, off = fields.read_digest_values(data, off, end)
        return cls(tuple([TPMT_HA(alg, digest) for alg, digest in values])), off

    def _write(self) -> bytes:
        return fields.write_digest_values([(ha.hashAlg, ha.digest) for ha in self.digests])


@dataclass(frozen=True, slots=True)
class TPMS_PCR_SELECTION(_Structure):
    hash: int
    pcrSelect: bytes  # sizeofSelect = len(pcrSelect)

    @classmethod
    def from_pcrs(cls, hash: int, pcrs: tuple[int, ...]) -> TPMS_PCR_SELECTION:
        return cls(hash, fields.select_of(tuple(pcrs)))

    @property
    def pcrs(self) -> tuple[int, ...]:
        return fields.pcrs_of(self.pcrSelect)

    @classmethod
    def _read(cls, data, off, end):
        (alg, select), off = fields.read_pcr_select(data, off, end)
        return cls(alg, select), off

    def _write(self) -> bytes:
        return fields.write_pcr_select(self.hash, self.pcrSelect)


@dataclass(frozen=True, slots=True)
class TPML_PCR_SELECTION(_Structure):
    pcrSelections: tuple[TPMS_PCR_SELECTION, ...]

    @classmethod
    def from_selection(cls, selection) -> TPML_PCR_SELECTION:
        """From a models.ops PcrSelection ((hash, (pcr, ...)), ...)."""
        return cls(tuple([TPMS_PCR_SELECTION.from_pcrs(alg, pcrs) for alg, pcrs in selection]))

    @property
    def selection(self):
        """As a models.ops PcrSelection ((hash, (pcr, ...)), ...)."""
        return tuple([(s.hash, s.pcrs) for s in self.pcrSelections])

    @classmethod
    def _read(cls, data, off, end):
        entries, off = fields.read_pcr_selection(data, off, end)
        return cls(tuple([TPMS_PCR_SELECTION(alg, select) for alg, select in entries])), off

    def _write(self) -> bytes:
        return fields.write_pcr_selection_raw([(s.hash, s.pcrSelect) for s in self.pcrSelections])


@dataclass(frozen=True, slots=True)
class TPML_DIGEST(_Structure):
    digests: tuple[bytes, ...]  # TPM2B_DIGEST buffers

    @classmethod
    def _read(cls, data, off, end):
        digests, off = fields.read_digests(data, off, end)
        return cls(digests), off

    def _write(self) -> bytes:
        return fields.write_digests(self.digests)


@dataclass(frozen=True, slots=True)
class TPMS_AUTH_COMMAND(_Structure):
    sessionHandle: int
    nonce: bytes
    sessionAttributes: int
    hmac: bytes

    @classmethod
    def _read(cls, data, off, end):
        (handle, nonce, attributes, hmac), off = fields.read_auth_command(data, off, end)
        return cls(handle, nonce, attributes, hmac), off

    def _write(self) -> bytes:
        return fields.write_auth_command(self.sessionHandle, self.nonce, self.sessionAttributes, self.hmac)


@dataclass(frozen=True, slots=True)
class TPMS_AUTH_RESPONSE(_Structure):
    nonce: bytes
    sessionAttributes: int
    hmac: bytes

    @classmethod
    def _read(cls, data, off, end):
        (nonce, attributes, hmac), off = fields.read_auth_response(data, off, end)
        return cls(nonce, attributes, hmac), off

    def _write(self) -> bytes:
        return fields.write_auth_response(self.nonce, self.sessionAttributes, self.hmac)


@dataclass(frozen=True, slots=True)
class TPMS_TAGGED_PROPERTY(_Structure):
    property: int
    value: int

    @classmethod
    def _read(cls, data, off, end):
        (prop, value), off = _read_record(_U32_U32, data, off, end, "TPMS_TAGGED_PROPERTY")
        return cls(prop, value), off

    def _write(self) -> bytes:
        return _U32_U32.pack(self.property, self.value)


@dataclass(frozen=True, slots=True)
class TPML_TAGGED_TPM_PROPERTY(_Structure):
    tpmProperty: tuple[TPMS_TAGGED_PROPERTY, ...]

    @classmethod
    def _read(cls, data, off, end):
        items, off = fields.TPM_PROPERTIES.read(data, off, end)
        return cls(tuple([TPMS_TAGGED_PROPERTY(p, v) for p, v in items])), off

    def _write(self) -> bytes:
        return fields.TPM_PROPERTIES.write([(p.property, p.value) for p in self.tpmProperty])


@dataclass(frozen=True, slots=True)
class TPMS_TAGGED_PCR_SELECT(_Structure):
    tag: int  # TPM_PT_PCR
    pcrSelect: bytes

    @property
    def pcrs(self) -> tuple[int, ...]:
        return fields.pcrs_of(self.pcrSelect)

    @classmethod
    def _read(cls, data, off, end):
        (tag, select), off = fields.read_tagged_pcr_select(data, off, end)
        return cls(tag, select), off

    def _write(self) -> bytes:
        return fields.write_tagged_pcr_select(self.tag, self.pcrSelect)


@dataclass(frozen=True, slots=True)
class TPML_TAGGED_PCR_PROPERTY(_Structure):
    pcrProperty: tuple[TPMS_TAGGED_PCR_SELECT, ...]

    @classmethod
    def _read(cls, data, off, end):
        items, off = fields.read_tagged_pcr_selects(data, off, end)
        return cls(tuple([TPMS_TAGGED_PCR_SELECT(tag, select) for tag, select in items])), off

    def _write(self) -> bytes:
        return fields.write_tagged_pcr_selects([(p.tag, p.pcrSelect) for p in self.pcrProperty])


@dataclass(frozen=True, slots=True)
class TPMS_ALG_PROPERTY(_Structure):
    alg: int
    algProperties: int  # TPMA_ALGORITHM

    @classmethod
    def _read(cls, data, off, end):
        (alg, properties), off = _read_record(_U16_U32, data, off, end, "TPMS_ALG_PROPERTY")
        return cls(alg, properties), off

    def _write(self) -> bytes:
        return _U16_U32.pack(self.alg, self.algProperties)


@dataclass(frozen=True, slots=True)
class TPML_ALG_PROPERTY(_Structure):
    algProperties: tuple[TPMS_ALG_PROPERTY, ...]

    @classmethod
    def _read(cls, data, off, end):
        items, off = fields.ALG_PROPERTIES.read(data, off, end)
        return cls(tuple([TPMS_ALG_PROPERTY(a, p) for a, p in items])), off

    def _write(self) -> bytes:
        return fields.ALG_PROPERTIES.write([(a.alg, a.algProperties) for a in self.algProperties])


@dataclass(frozen=True, slots=True)
class TPML_HANDLE(_Structure):
    handle: tuple[int, ...]

    @classmethod
    def _read(cls, data, off, end):
        items, off = fields.HANDLES.read(data, off, end)
        return cls(items), off

    def _write(self) -> bytes:
        return fields.HANDLES.write(self.handle)


@dataclass(frozen=True, slots=True)
class TPML_CC(_Structure):
    commandCodes: tuple[int, ...]

    @classmethod
    def _read(cls, data, off, end):
        items, off = fields.COMMAND_CODES.read(data, off, end)
        return cls(items), off

    def _write(self) -> bytes:
        return fields.COMMAND_CODES.write(self.commandCodes)


@dataclass(frozen=True, slots=True)
class TPML_CCA(_Structure):
    commandAttributes: tuple[int, ...]  # TPMA_CC

    @classmethod
    def _read(cls, data, off, end):
        items, off = fields.COMMAND_ATTRIBUTES.read(data, off, end)
        return cls(items), off

    def _write(self) -> bytes:
        return fields.COMMAND_ATTRIBUTES.write(self.commandAttributes)


@dataclass(frozen=True, slots=True)
class TPML_ECC_CURVE(_Structure):
    eccCurves: tuple[int, ...]

    @classmethod
    def _read(cls, data, off, end):
        items, off = fields.ECC_CURVES.read(data, off, end)
        return cls(items), off

    def _write(self) -> bytes:
        return fields.ECC_CURVES.write(self.eccCurves)


# TPMU_CAPABILITIES: the list type each capability selects.
_CAPABILITY_TYPES = {
    int(TPM_CAP.TPM_CAP_ALGS): TPML_ALG_PROPERTY,
    int(TPM_CAP.TPM_CAP_HANDLES): TPML_HANDLE,
    int(TPM_CAP.TPM_CAP_COMMANDS): TPML_CCA,
    int(TPM_CAP.TPM_CAP_PP_COMMANDS): TPML_CC,
    int(TPM_CAP.TPM_CAP_AUDIT_COMMANDS): TPML_CC,
    int(TPM_CAP.TPM_CAP_PCRS): TPML_PCR_SELECTION,
    int(TPM_CAP.TPM_CAP_TPM_PROPERTIES): TPML_TAGGED_TPM_PROPERTY,
    int(TPM_CAP.TPM_CAP_PCR_PROPERTIES): TPML_TAGGED_PCR_PROPERTY,
    int(TPM_CAP.TPM_CAP_ECC_CURVES): TPML_ECC_CURVE,
}


@dataclass(frozen=True, slots=True)
class TPMS_CAPABILITY_DATA(_Structure):
    capability: int
    data: object  # the TPML that ``capability`` selects (TPMU_CAPABILITIES)

    @classmethod
    def _read(cls, data, off, end):
        capability, start = fields.read_u32(data, off, end, "TPMS_CAPABILITY_DATA.capability")
        kind = _CAPABILITY_TYPES.get(capability)
        if kind is None:
            raise WireError("TPMS_CAPABILITY_DATA.capability", off, f"{capability:#x} is not a capability the wire layer decodes")
        items, start = kind._read(data, start, end)
        return cls(capability, items), start

    def _write(self) -> bytes:
        kind = _CAPABILITY_TYPES.get(self.capability)
        if kind is None or type(self.data) is not kind:
            expected = kind.__name__ if kind else "no list the wire layer encodes"
            raise ValueError(f"capability {self.capability!r} selects {expected}, not {type(self.data).__name__}")
        return fields.U32.pack(self.capability) + self.data._write()
