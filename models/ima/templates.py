"""Template layouts: which fields a template has and what bytes each may hold.

Linux ``ima_template.c`` defines the built-in templates and
``ima_template_lib.c`` the fields (Documentation/security/IMA-templates.rst).
Every template but ``ima`` serialises its fields as ``u32 length | bytes``.
The checks below reject what those field writers cannot produce (broken
framing, NULs inside names, digest fields without ``<algorithm>:`` NUL), so a
list that passes them can be rebuilt byte for byte, in binary and in ASCII.
Templates outside this table (custom ``ima_template_fmt`` lists) are framed
the same way and are accepted by the binary parser with unchecked fields.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from models.ima.entry import MAX_TEMPLATE_NAME
from models.ima.errors import ImaLogError

TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "ima": ("d", "n"),
    "ima-ng": ("d-ng", "n-ng"),
    "ima-sig": ("d-ng", "n-ng", "sig"),
    "ima-buf": ("d-ng", "n-ng", "buf"),
    "ima-modsig": ("d-ng", "n-ng", "sig", "d-modsig", "modsig"),
    "ima-ngv2": ("d-ngv2", "n-ng"),
    "ima-sigv2": ("d-ngv2", "n-ng", "sig"),
}

IMA_DIGEST_SIZE = 20
"""The ``ima`` template's ``d`` field: SHA-1 (or MD5 zero-padded), no length prefix."""
IMA_NAME_MAX = 255
"""The ``ima`` template's ``n`` field: IMA_EVENT_NAME_LEN_MAX; hashed NUL-padded to 256 bytes."""

_VISIBLE_ASCII = bytes(range(0x21, 0x7F))  # printable, no space: what may remain after deleting these is bad
_U32 = {"little": struct.Struct("<I"), "big": struct.Struct(">I")}
# Colons in the prefix of a digest field: d-ng "sha256:", d-ngv2 "ima:sha256:".
_PREFIX_COLONS = {"d-ng": 1, "d-modsig": 1, "d-ngv2": 2}


def u32_struct(byteorder: str) -> struct.Struct:
    """The precompiled u32 of a byte order; misuse fails here, not deep in a parser."""
    try:
        return _U32[byteorder]
    except KeyError:
        raise ValueError(f"byteorder must be 'little' or 'big', not {byteorder!r}") from None


def template_name_problem(name: bytes) -> str | None:
    """Why ``name`` cannot be a template name (printable ASCII, no space), or None."""
    if not 0 < len(name) <= MAX_TEMPLATE_NAME:
        return f"template name length {len(name)} outside 1-{MAX_TEMPLATE_NAME}"
    if name.translate(None, _VISIBLE_ASCII):
        return f"template name {name!r} is not printable ASCII without spaces"
    return None


def _prefix_problem(prefix: bytes, colons: int, kind: str) -> str | None:
    parts = prefix.split(b":")
    if len(parts) != colons + 1 or parts[-1] or not all(parts[:-1]) or prefix.translate(None, _VISIBLE_ASCII):
        return f"{kind} prefix {prefix!r} is not {'<type>:' * (colons - 1)}<algorithm>:"
    return None


def field_problem(kind: str, buf: bytes, start: int, end: int) -> str | None:
    """Why ``buf[start:end]`` cannot be a ``kind`` field, or None.

    Works on a range of the input so the binary parser checks fields without
    copying them.
    """
    if kind in _PREFIX_COLONS:
        if start == end:
            # ima_eventdigest_modsig_init writes nothing for a file without modsig.
            return None if kind == "d-modsig" else f"empty {kind} field"
        nul = buf.find(b"\0", start, end)
        if nul < 0:
            return f"{kind} field without the NUL after its algorithm"
        return _prefix_problem(buf[start:nul], _PREFIX_COLONS[kind], kind)
    if kind == "n-ng":
        if start == end or buf[end - 1] != 0:
            return "n-ng field does not end in NUL"
        if buf.find(b"\0", start, end - 1) >= 0:
            return "n-ng name contains NUL"
        return None
    if kind == "n":
        if end - start > IMA_NAME_MAX:
            return f"ima name longer than {IMA_NAME_MAX} bytes"
        if buf.find(b"\0", start, end) >= 0:
            return "ima name contains NUL"
        return None
    if kind == "d":
        return None if end - start == IMA_DIGEST_SIZE else f"ima digest of {end - start} bytes, not 20"
    return None  # sig, buf, modsig and unknown fields: opaque bytes


def check_fields(template: str, buf: bytes, start: int, end: int, u32: struct.Struct,
                 entry_index: int) -> dict[str, bytes]:
    """Check the length-prefixed fields of a non-``ima`` template in ``buf[start:end]``.

    Returns, per digest field kind, the ``<algorithm>:`` NUL prefix seen, so a
    parser can accept later fields with the same prefix without this walk.
    """
    kinds = TEMPLATE_FIELDS.get(template)
    prefixes = {}
    pos = start
    count = 0
    # A known template has a fixed number of fields; an unknown one has fields up to the end.
    while (count < len(kinds)) if kinds is not None else (pos < end):
        if end - pos < 4:
            raise ImaLogError(entry_index, pos, f"{template} field {count}: missing length")
        (length,) = u32.unpack_from(buf, pos)
        pos += 4
        if length > end - pos:
            raise ImaLogError(entry_index, pos - 4,
                              f"{template} field {count}: length {length} runs past the template data")
        if kinds is not None:
            kind = kinds[count]
            problem = field_problem(kind, buf, pos, pos + length)
            if problem:
                raise ImaLogError(entry_index, pos, problem)
            if kind in _PREFIX_COLONS and length:
                prefixes[kind] = buf[pos:buf.index(b"\0", pos) + 1]
        pos += length
        count += 1
    if pos != end:
        raise ImaLogError(entry_index, pos, f"{end - pos} bytes after the last {template} field")
    if count == 0:
        raise ImaLogError(entry_index, start, f"{template} template data without fields")
    return prefixes


def split_fields(entry_template: str, template_data: bytes, byteorder: str = "little") -> tuple[bytes, ...]:
    """The field values (without length prefixes) of a template's data."""
    if entry_template == "ima":
        return template_data[:IMA_DIGEST_SIZE], template_data[IMA_DIGEST_SIZE:]
    u32 = u32_struct(byteorder)
    fields = []
    pos, end = 0, len(template_data)
    while pos < end:
        if end - pos < 4:
            raise ValueError(f"{entry_template} template data truncated in a field length")
        (length,) = u32.unpack_from(template_data, pos)
        pos += 4
        if length > end - pos:
            raise ValueError(f"{entry_template} field length {length} runs past the template data")
        fields.append(template_data[pos:pos + length])
        pos += length
    return tuple(fields)


def join_fields(template: str, fields: Sequence[bytes], byteorder: str = "little") -> bytes:
    """Template data from field values, checked as the parsers check it (misuse fails here)."""
    kinds = TEMPLATE_FIELDS.get(template)
    problem = template_name_problem(template.encode("utf-8", "surrogatepass"))
    if problem:
        raise ValueError(problem)
    if kinds is not None and len(fields) != len(kinds):
        raise ValueError(f"{template} has {len(kinds)} fields {kinds}, got {len(fields)}")
    if not fields:
        raise ValueError(f"{template} template data needs at least one field")
    for i, value in enumerate(fields):
        kind = kinds[i] if kinds else "?"
        problem = field_problem(kind, value, 0, len(value))
        if problem:
            raise ValueError(problem)
    if template == "ima":
        return fields[0] + fields[1]
    pack = u32_struct(byteorder).pack
    return b"".join(pack(len(value)) + value for value in fields)


def digest_field(algorithm: str, digest: bytes) -> bytes:
    """A d-ng field: ``<algorithm>:`` NUL digest (ima_eventdigest_init_common)."""
    return algorithm.encode("ascii") + b":\0" + digest


def name_field(path: bytes) -> bytes:
    """An n-ng field as the kernel writes it: spaces become '_', then a NUL
    (ima_write_template_field_data, DATA_FMT_STRING)."""
    return path.replace(b" ", b"_") + b"\0"
