"""The binary measurement list (``binary_runtime_measurements[_<bank>]``).

Layout per entry (Linux ``ima_fs.c``, ``ima_measurements_show``), no padding:
``u32 pcr | digest | u32 name length | name | u32 data length | data``, where
the data length is absent for the ``ima`` template, whose data is
``20-byte digest | u32 name length | name`` (no NUL).  The u32 fields are in
the writer's byte order (little-endian on x86 and with ``ima_canonical_fmt``).
The digest is SHA-1 in the legacy list and the bank's size in the per-bank
lists of Linux 6.10+.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from models.ima.banks import BANK_DIGEST_SIZE, bank_name
from models.ima.entry import MAX_PCR, ImaEntry
from models.ima.errors import ImaLogError
from models.ima.templates import (
    IMA_DIGEST_SIZE,
    IMA_NAME_MAX,
    TEMPLATE_FIELDS,
    check_fields,
    template_name_problem,
    u32_struct,
)


def _header(byteorder: str, digest_size: int) -> struct.Struct:
    """``u32 pcr | digest | u32 name length``."""
    u32_struct(byteorder)  # misuse fails here
    return struct.Struct(f"{'<' if byteorder == 'little' else '>'}I{digest_size}sI")


def parse_binary(data: bytes, *, byteorder: str = "little", bank: str | int = "sha1") -> list[ImaEntry]:
    """Entries of a binary list; ``bank`` names the list (``sha1``: the legacy one).

    Raises ImaLogError, naming the entry and byte offset, for any input a
    kernel could not have written.
    """
    return list(iter_binary(data, byteorder=byteorder, bank=bank))


def iter_binary(data: bytes, *, byteorder: str = "little", bank: str | int = "sha1") -> Iterator[ImaEntry]:
    """The entries of :func:`parse_binary` one at a time (ImaLogError when reached),
    for a caller that uses each once: a list of 100,000s then never exists.

    Misuse (not bytes, unknown bank or byte order) fails here, not on the first entry.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_binary takes bytes, not {type(data).__name__}")
    digest_size = BANK_DIGEST_SIZE[bank_name(bank)]
    return _entries(bytes(data), byteorder, digest_size, _header(byteorder, digest_size))


def _entries(data: bytes, byteorder: str, digest_size: int, header: struct.Struct) -> Iterator[ImaEntry]:
    """This loop runs once per entry of lists of 100,000s, so the common case
    is inlined: an entry of the same template as the one before is read with
    one precompiled struct up to its first field, and its fields are accepted
    on the digest prefix last validated; anything else takes the general path
    and ``templates.check_fields``."""
    unpack_header, header_size = header.unpack_from, header.size
    u32 = u32_struct(byteorder)
    unpack_u32 = u32.unpack_from
    find, startswith = data.find, data.startswith
    # Template name -> (name, first field kind, kinds after n-ng, entry head struct); kinds
    # are None for a template outside the table, the head None for "ima".
    templates: dict[bytes, tuple] = {}
    prefixes: dict[str, bytes] = {}  # digest field kind -> the "<algorithm>:" NUL last validated
    new_entry = tuple.__new__
    end = len(data)
    pos = 0
    index = 0
    last_name, last_name_len = b"", -1
    first_prefix = None
    head_size = end + 1  # no template seen yet: the head never fits
    unpack_head = None
    while pos < end:
        if end - pos >= head_size:
            pcr, digest, name_len, raw_name, data_len, length = unpack_head(data, pos)
            repeat = name_len == last_name_len and raw_name == last_name
        else:
            repeat = False
        if repeat:
            if pcr > MAX_PCR:
                raise ImaLogError(index, pos, f"PCR {pcr} outside 0-{MAX_PCR}")
            pos += head_size - 4  # the template data, from its first field's length
            data_end = pos + data_len
            if data_end > end:
                raise ImaLogError(index, pos - 4, f"template data length {data_len} runs past the end")
        else:
            if end - pos < header_size:
                raise ImaLogError(index, pos, f"truncated entry header ({end - pos} of {header_size} bytes)")
            pcr, digest, name_len = unpack_header(data, pos)
            if pcr > MAX_PCR:
                raise ImaLogError(index, pos, f"PCR {pcr} outside 0-{MAX_PCR}")
            pos += header_size
            if name_len > end - pos:
                raise ImaLogError(index, pos - 4, f"template name length {name_len} runs past the end")
            raw_name = data[pos:pos + name_len]
            template = templates.get(raw_name)
            if template is None:
                problem = template_name_problem(raw_name)
                if problem:
                    raise ImaLogError(index, pos, problem)
                template = templates[raw_name] = _template(raw_name, byteorder, digest_size)
            name, first_kind, more_kinds, head = template
            pos += name_len
            if head is None:  # the ima template; the next entry takes this path too
                pos, entry = _ima_entry(data, pos, end, index, pcr, digest, unpack_u32)
                yield entry
                index += 1
                last_name_len, head_size = -1, end + 1
                continue
            last_name, last_name_len, unpack_head, head_size = raw_name, name_len, head.unpack_from, head.size
            first_prefix = prefixes.get(first_kind)
            if end - pos < 4:
                raise ImaLogError(index, pos, "truncated template data length")
            (data_len,) = unpack_u32(data, pos)
            pos += 4
            data_end = pos + data_len
            if data_end > end:
                raise ImaLogError(index, pos - 4, f"template data length {data_len} runs past the end")
            if data_len >= 4:
                (length,) = unpack_u32(data, pos)
        # Fast path: a digest field with the prefix last validated, n-ng, opaque or digest fields.
        if first_prefix is not None and data_len >= 8:
            field_end = pos + 4 + length
            if field_end + 4 <= data_end and length >= len(first_prefix) and startswith(first_prefix, pos + 4):
                (length,) = unpack_u32(data, field_end)
                field_start = field_end + 4
                field_end = field_start + length
                if field_end <= data_end and find(b"\0", field_start, field_end) == field_end - 1:
                    for kind in more_kinds:
                        if data_end - field_end < 4:
                            break
                        (length,) = unpack_u32(data, field_end)
                        field_start = field_end + 4
                        field_end = field_start + length
                        if kind == "d-modsig" and length:
                            prefix = prefixes.get(kind)
                            if prefix is None or length < len(prefix) or not startswith(prefix, field_start):
                                break
                    else:
                        if field_end == data_end:
                            yield new_entry(ImaEntry, (pcr, digest, name, data[pos:data_end]))
                            pos = data_end
                            index += 1
                            continue
        prefixes.update(check_fields(name, data, pos, data_end, u32, index))
        first_prefix = prefixes.get(first_kind)
        yield new_entry(ImaEntry, (pcr, digest, name, data[pos:data_end]))
        pos = data_end
        index += 1


def _template(raw_name: bytes, byteorder: str, digest_size: int) -> tuple:
    name = raw_name.decode("ascii")
    if name == "ima":
        return name, None, None, None
    kinds = TEMPLATE_FIELDS.get(name)
    # u32 pcr | digest | u32 name length | name | u32 data length | u32 first field length
    head = struct.Struct(f"{'<' if byteorder == 'little' else '>'}I{digest_size}sI{len(raw_name)}sII")
    return name, kinds[0] if kinds else None, kinds[2:] if kinds else None, head


def _ima_entry(data: bytes, pos: int, end: int, index: int, pcr: int, digest: bytes,
               unpack_u32) -> tuple[int, ImaEntry]:
    """The ``ima`` template's data: 20-byte digest, u32 name length, name (no NUL);
    returns the end of the entry and the entry."""
    if end - pos < IMA_DIGEST_SIZE + 4:
        raise ImaLogError(index, pos, "truncated ima template data")
    (event_len,) = unpack_u32(data, pos + IMA_DIGEST_SIZE)
    start = pos + IMA_DIGEST_SIZE + 4
    if event_len > IMA_NAME_MAX:
        raise ImaLogError(index, start - 4, f"ima name length {event_len} exceeds {IMA_NAME_MAX}")
    if event_len > end - start:
        raise ImaLogError(index, start - 4, f"ima name length {event_len} runs past the end")
    if data.find(b"\0", start, start + event_len) >= 0:
        raise ImaLogError(index, start, "ima name contains NUL")
    entry = ImaEntry(pcr, digest, "ima", data[pos:pos + IMA_DIGEST_SIZE] + data[start:start + event_len])
    return start + event_len, entry


def serialize_binary(entries, *, byteorder: str = "little", bank: str | int = "sha1") -> bytes:
    """The binary list of ``entries``: the exact inverse of :func:`parse_binary`."""
    digest_size = BANK_DIGEST_SIZE[bank_name(bank)]
    header = _header(byteorder, digest_size).pack
    pack_u32 = u32_struct(byteorder).pack
    out = []
    for index, (pcr, digest, name, template_data) in enumerate(entries):
        if len(digest) != digest_size:
            raise ValueError(f"entry {index}: {len(digest)}-byte digest in a {digest_size}-byte list")
        if not 0 <= pcr <= MAX_PCR:
            raise ValueError(f"entry {index}: PCR {pcr} outside 0-{MAX_PCR}")
        raw_name = name.encode("ascii")
        out.append(header(pcr, digest, len(raw_name)))
        out.append(raw_name)
        if name == "ima":
            out.append(template_data[:IMA_DIGEST_SIZE])
            out.append(pack_u32(len(template_data) - IMA_DIGEST_SIZE))
            out.append(template_data[IMA_DIGEST_SIZE:])
        else:
            out.append(pack_u32(len(template_data)))
            out.append(template_data)
    return b"".join(out)
