"""One entry of the IMA measurement list, as the kernel stores and exports it.

Linux ``security/integrity/ima/ima_fs.c`` (``ima_measurements_show``) writes
per entry: PCR index, template digest, template name, template data.  The
entry is a ``NamedTuple`` rather than a dataclass because parsers build
100,000s of them and tuple construction is several times cheaper.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_PCR = 63
"""Largest PCR a policy rule may name: the kernel's ``INVALID_PCR`` bound
(bits of ``measured_pcrs``, an unsigned long, on 64-bit kernels)."""

MAX_TEMPLATE_NAME = 255
"""Longest template name evmctl accepts (TCG_EVENT_NAME_LEN_MAX); kernel names are far shorter."""


class ImaEntry(NamedTuple):
    """One measurement.

    ``template_digest``: SHA-1 of the template data in the legacy list, the
    digest extended into the bank in a per-bank list (Linux 6.10+), all zero
    for a violation.  ``template_data``: for every template but ``ima``, the
    fields exactly as the kernel hashes and writes them (each a u32 length in
    the log's byte order, then its bytes); for ``ima``, the 20-byte file digest
    followed by the name (the binary list's name length is implied).
    """

    pcr: int
    template_digest: bytes
    template_name: str
    template_data: bytes

    @property
    def is_violation(self) -> bool:
        """All-zero template digest: an open-writers / ToMToU violation (ima_add_violation)."""
        return self.template_digest.count(0) == len(self.template_digest)
