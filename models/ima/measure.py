"""Entries as the kernel appends them: what generators and scenario machines log.

``ima_store_template`` / ``ima_alloc_init_template``: the template digest is
SHA-1 of the template hash input; ``ima_add_violation`` logs an all-zero
digest and (kernels with "fix violation measurement list record") a d-ng
field holding a zero digest of the ``ima_hash`` size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from models.ima.banks import BANK_DIGEST_SIZE
from models.ima.entry import MAX_PCR, ImaEntry
from models.ima.replay import IMA_PCR, hash_input
from models.ima.templates import TEMPLATE_FIELDS, digest_field, join_fields, name_field


def measure(template: str, fields: Sequence[bytes], *, pcr: int = IMA_PCR,
            byteorder: str = "little") -> ImaEntry:
    """A measurement entry of ``template`` with these field values (checked)."""
    if not 0 <= pcr <= MAX_PCR:
        raise ValueError(f"PCR {pcr} outside 0-{MAX_PCR}")
    data = join_fields(template, fields, byteorder)
    entry = ImaEntry(pcr, bytes(20), template, data)
    return entry._replace(template_digest=hashlib.sha1(hash_input(entry)).digest())


def violation(template: str, path: bytes, *, ima_hash: str = "sha256", pcr: int = IMA_PCR,
              byteorder: str = "little") -> ImaEntry:
    """A violation entry (open-writers or ToMToU) for ``path``: zero digests, empty extras."""
    kinds = TEMPLATE_FIELDS.get(template)
    if kinds is None:
        raise ValueError(f"no violation layout for template {template!r}")
    if template == "ima":
        fields = [bytes(20), path.replace(b" ", b"_")]
    else:
        zero = bytes(BANK_DIGEST_SIZE[ima_hash])
        first = (b"ima:" + digest_field(ima_hash, zero)) if kinds[0] == "d-ngv2" else digest_field(ima_hash, zero)
        fields = [first, name_field(path)] + [b""] * (len(kinds) - 2)
    if not 0 <= pcr <= MAX_PCR:
        raise ValueError(f"PCR {pcr} outside 0-{MAX_PCR}")
    return ImaEntry(pcr, bytes(20), template, join_fields(template, fields, byteorder))
