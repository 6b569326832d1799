"""The ASCII measurement list (``ascii_runtime_measurements[_<bank>]``).

One line per entry (Linux ``ima_fs.c``, ``ima_ascii_measurements_show``)::

    <pcr %2d> <template digest hex> <template name>( <field>)*\\n

with one space before every field, also an empty one, so an ``ima-sig`` line
without a signature ends in a space.  Fields print as in
``ima_template_lib.c``: digests as ``<algorithm>:<hex>`` (the ``ima``
template's ``d`` as bare hex), names as raw bytes without the NUL, signatures
and buffers as hex, empty fields as nothing.  The ASCII list drops the field
lengths, so turning it back into template data needs the byte order of the
kernel that hashed it (keylime rebuilds it the same way, little-endian).

Lines are bytes: the kernel prints file names as they are, not as UTF-8.
Names are the only fields that may hold spaces (old kernels did not replace
them), so the fields before a name are split from the left and the fields
after it from the right.
"""

from __future__ import annotations

import binascii

from models.ima.banks import BANK_DIGEST_SIZE, bank_name
from models.ima.entry import MAX_PCR, ImaEntry
from models.ima.errors import ImaLogError
from models.ima.templates import (
    TEMPLATE_FIELDS,
    field_problem,
    join_fields,
    split_fields,
    template_name_problem,
    u32_struct,
)

_NAME_KINDS = ("n", "n-ng")
_DIGEST_KINDS = ("d-ng", "d-ngv2", "d-modsig")
_HEX_KINDS = ("d", "sig", "buf", "modsig")


class _LineError(Exception):
    """A problem at ``column`` of the current line; the caller adds entry index and offset."""

    def __init__(self, column: int, message: str):
        super().__init__(message)
        self.column = column
        self.message = message


def _unhex(token: bytes, column: int, what: str) -> bytes:
    if token.lower() != token:
        raise _LineError(column, f"{what} is not lowercase hex")
    try:
        return binascii.a2b_hex(token)
    except binascii.Error:
        raise _LineError(column, f"{what} is not hex: {token[:80]!r}") from None


def _field_from_text(kind: str, token: bytes, column: int) -> bytes:
    if kind in _HEX_KINDS:
        return _unhex(token, column, f"{kind} field")
    if kind in _DIGEST_KINDS:
        if not token:
            return b""
        colon = token.rfind(b":")
        if colon < 0:
            raise _LineError(column, f"{kind} field without '<algorithm>:'")
        return token[:colon + 1] + b"\0" + _unhex(token[colon + 1:], column + colon + 1, f"{kind} digest")
    if kind == "n-ng":
        return token + b"\0"
    return token  # "n": the ima template's name, printed as stored


def _split_tokens(kinds: tuple[str, ...], rest: bytes, column: int) -> list[tuple[bytes, int]]:
    """The field tokens of ``rest`` with their columns: fields left of the name split
    from the left, fields right of it from the right."""
    name_at = next(i for i, kind in enumerate(kinds) if kind in _NAME_KINDS)
    after = len(kinds) - name_at - 1
    left = rest.split(b" ", name_at)
    if len(left) != name_at + 1:
        raise _LineError(column, f"{len(left)} fields, the template has {len(kinds)}")
    right = left.pop().rsplit(b" ", after)
    if len(right) != after + 1:
        raise _LineError(column, f"{name_at + len(right)} fields, the template has {len(kinds)}")
    tokens = []
    for token in left + right:
        tokens.append((token, column))
        column += len(token) + 1
    return tokens


def _parse_line(line: bytes, digest_hex_len: int, byteorder: str) -> ImaEntry:
    space = line.find(b" ", 1)
    if space < 0:
        raise _LineError(0, "no space after the PCR")
    pcr_text = line[:space]
    if not pcr_text.strip(b" ").isdigit() or b"%2d" % int(pcr_text) != pcr_text:
        raise _LineError(0, f"PCR {pcr_text[:20]!r} is not the kernel's '%2d'")
    pcr = int(pcr_text)
    if pcr > MAX_PCR:
        raise _LineError(0, f"PCR {pcr} outside 0-{MAX_PCR}")
    column = space + 1
    digest_text = line[column:column + digest_hex_len]
    if len(digest_text) != digest_hex_len or line[column + digest_hex_len:column + digest_hex_len + 1] != b" ":
        raise _LineError(column, f"template digest is not {digest_hex_len} hex digits and a space")
    digest = _unhex(digest_text, column, "template digest")
    column += digest_hex_len + 1
    name_end = line.find(b" ", column)
    if name_end < 0:
        raise _LineError(column, "no fields after the template name")
    raw_name = line[column:name_end]
    problem = template_name_problem(raw_name)
    if problem:
        raise _LineError(column, problem)
    name = raw_name.decode("ascii")
    kinds = TEMPLATE_FIELDS.get(name)
    if kinds is None:
        raise _LineError(column, f"template {name!r} has no known ASCII layout")
    fields = []
    for kind, (token, at) in zip(kinds, _split_tokens(kinds, line[name_end + 1:], name_end + 1)):
        value = _field_from_text(kind, token, at)
        problem = field_problem(kind, value, 0, len(value))
        if problem:
            raise _LineError(at, problem)
        fields.append(value)
    return ImaEntry(pcr, digest, name, join_fields(name, fields, byteorder))


def parse_ascii(text: bytes, *, byteorder: str = "little", bank: str | int = "sha1") -> list[ImaEntry]:
    """Entries of an ASCII list; ``byteorder`` is that of the kernel that hashed the
    template data, ``bank`` names the list (``sha1``: the legacy one).

    Raises ImaLogError, naming the line (entry) and byte offset, for any input
    a kernel could not have written.
    """
    if not isinstance(text, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_ascii takes the list's bytes, not {type(text).__name__}")
    text = bytes(text)
    digest_hex_len = 2 * BANK_DIGEST_SIZE[bank_name(bank)]
    u32_struct(byteorder)  # misuse fails before any line is read
    lines = text.split(b"\n")
    if lines[-1]:
        raise ImaLogError(len(lines) - 1, len(text) - len(lines[-1]), "last line has no newline")
    entries = []
    offset = 0
    for index, line in enumerate(lines[:-1]):
        try:
            entries.append(_parse_line(line, digest_hex_len, byteorder))
        except _LineError as exc:
            raise ImaLogError(index, offset + exc.column, exc.message) from None
        offset += len(line) + 1
    return entries


def _field_text(kind: str, value: bytes) -> bytes:
    if kind in _HEX_KINDS:
        return binascii.b2a_hex(value)
    if kind in _DIGEST_KINDS:
        if not value:
            return b""
        nul = value.index(b"\0")
        return value[:nul] + binascii.b2a_hex(value[nul + 1:])
    name = value[:-1] if kind == "n-ng" else value
    if b"\n" in name:
        raise ValueError(f"name {name[:80]!r} holds a newline, which the ASCII list cannot carry")
    return name


def serialize_ascii(entries, *, byteorder: str = "little") -> bytes:
    """The ASCII list of ``entries`` as the kernel prints it: the inverse of :func:`parse_ascii`."""
    lines = []
    for index, entry in enumerate(entries):
        kinds = TEMPLATE_FIELDS.get(entry.template_name)
        if kinds is None:
            raise ValueError(f"entry {index}: template {entry.template_name!r} has no known ASCII layout")
        fields = split_fields(entry.template_name, entry.template_data, byteorder)
        if len(fields) != len(kinds):
            raise ValueError(f"entry {index}: {len(fields)} fields, {entry.template_name} has {len(kinds)}")
        parts = [b"%2d %s %s" % (entry.pcr, binascii.b2a_hex(entry.template_digest),
                                 entry.template_name.encode("ascii"))]
        parts.extend(b" " + _field_text(kind, value) for kind, value in zip(kinds, fields))
        parts.append(b"\n")
        lines.append(b"".join(parts))
    return b"".join(lines)
