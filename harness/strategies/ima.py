"""Strategies for realistic IMA measurement lists and pTPM/vTPM histories.

What "realistic" means here (../shared/notes/ima.md): a boot_aggregate
first; file measurements of one configured template, with ima-buf entries
(keys, kexec command line) mixed in; violations as the kernel logs them
(open-writers before the file's measurement, ToMToU after it); no repeated
template digest for a PCR (the kernel does not re-add a measurement);
occasionally an entry for another PCR (policy ``pcr=``); file names as bytes,
sometimes not UTF-8, never with NUL, newline or space (the kernel writes
spaces as '_').  Extend models per bank: SHA-1 is the same under all; other
banks mostly their own hash, sometimes padded SHA-1 (a kernel without that
hash at IMA init), sometimes the pre-5.8 legacy padding for every bank.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hypothesis import strategies as st

from models.ima import (
    BANK_DIGEST_SIZE,
    BOOT_AGGREGATE_NAME,
    LEGACY_PADDED_SHA1,
    PADDED_SHA1,
    PER_BANK,
    ImaEntry,
    StartMode,
    boot_aggregate,
    boot_aggregate_bank,
    digest_field,
    measure,
    name_field,
    violation,
)

BANKS = tuple(BANK_DIGEST_SIZE)
TEMPLATES = ("ima-sig", "ima-ng", "ima-buf", "ima-modsig", "ima-ngv2", "ima-sigv2", "ima")
OTHER_PCR = 11

_DIRECTORIES = (b"/usr/bin", b"/usr/sbin", b"/usr/lib/x86_64-linux-gnu", b"/lib/modules/6.1.0-56-amd64/kernel",
                b"/etc", b"/opt/xen/bin", b"/var/lib/xen", b"/tmp", b"/mnt/host/usr/bin", b"/boot")
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._-+"
_BUF_NAMES = (b"kexec-cmdline", b".ima", b".builtin_trusted_keys", b"selinux-policy-hash", b"dm_table_load")

# ima_hash: SHA-256 is Debian's default; the ima template only allows SHA-1 (or MD5).
ima_hash_algorithms = st.sampled_from(("sha256", "sha256", "sha1", "sha512", "sha384"))
bank_sets = st.lists(st.sampled_from(BANKS), min_size=1, max_size=4, unique=True).map(
    lambda banks: tuple(sorted(banks, key=BANKS.index)))


def _file_name(text: str) -> bytes:
    return text.encode()


file_names = st.one_of(
    st.text(_NAME_CHARS, min_size=1, max_size=24).map(_file_name),
    # Not UTF-8: names are bytes in the kernel and in both lists.
    st.binary(min_size=1, max_size=12).map(lambda raw: raw.translate(None, b"\0\n /") or b"\xff"),
)


@st.composite
def paths(draw) -> bytes:
    """An absolute file path as IMA logs it."""
    return draw(st.sampled_from(_DIRECTORIES)) + b"/" + draw(file_names)


@st.composite
def signatures(draw, ima_hash: str) -> bytes:
    """A security.ima value as ima-sig logs it: mostly none, else a v2 signature
    (type 3, version 2, hash algo, 4-byte key id, u16 big-endian size, signature)."""
    if draw(st.integers(0, 3)):
        return b""
    size = draw(st.sampled_from((256, 384, 512, 64)))
    hash_algo = {"sha1": 2, "sha256": 4, "sha384": 5, "sha512": 6}[ima_hash]
    header = struct.pack(">BBB4sH", 3, 2, hash_algo, draw(st.binary(min_size=4, max_size=4)), size)
    return header + draw(st.binary(min_size=size, max_size=size))


@st.composite
def file_digests(draw, algorithm: str) -> bytes:
    size = BANK_DIGEST_SIZE[algorithm]
    return draw(st.binary(min_size=size, max_size=size))


@st.composite
def file_measurements(draw, template: str, ima_hash: str, path: bytes, pcr: int = 10,
                      byteorder: str = "little") -> ImaEntry:
    """One honest file measurement of ``template``."""
    if template == "ima":
        return measure("ima", [draw(file_digests("sha1")), path[-255:]], pcr=pcr, byteorder=byteorder)
    digest = digest_field(ima_hash, draw(file_digests(ima_hash)))
    if template in ("ima-ngv2", "ima-sigv2"):
        digest = draw(st.sampled_from((b"ima:", b"verity:"))) + digest
    fields = [digest, name_field(path)]
    if template in ("ima-sig", "ima-sigv2", "ima-modsig"):
        fields.append(draw(signatures(ima_hash)))
    if template == "ima-buf":
        fields.append(b"")  # a file measurement has no buffer (ima_eventbuf_init)
    if template == "ima-modsig":
        has_modsig = draw(st.booleans())
        fields.append(digest_field(ima_hash, draw(file_digests(ima_hash))) if has_modsig else b"")
        fields.append(draw(st.binary(min_size=1, max_size=48)) if has_modsig else b"")
    return measure(template, fields, pcr=pcr, byteorder=byteorder)


@st.composite
def boot_aggregates(draw, template: str, ima_hash: str, banks: tuple[str, ...],
                    byteorder: str = "little") -> ImaEntry:
    """The first entry: the boot_aggregate over random boot PCRs of the kernel's chosen bank."""
    if template == "ima":
        pcrs = [draw(file_digests("sha1")) for _ in range(8)]
        return measure("ima", [boot_aggregate(pcrs, "sha1"), BOOT_AGGREGATE_NAME], byteorder=byteorder)
    bank = boot_aggregate_bank(banks, ima_hash)
    if bank is None:  # "No suitable TPM algorithm for boot aggregate": zeros of the ima_hash size
        bank, value = ima_hash, bytes(BANK_DIGEST_SIZE[ima_hash])
    else:
        value = boot_aggregate([draw(file_digests(bank)) for _ in range(10)], bank)
    digest = digest_field(bank, value)
    if template in ("ima-ngv2", "ima-sigv2"):
        digest = b"ima:" + digest
    extra = {"ima-sig": 1, "ima-sigv2": 1, "ima-buf": 1, "ima-modsig": 3}.get(template, 0)
    return measure(template, [digest, name_field(BOOT_AGGREGATE_NAME)] + [b""] * extra, byteorder=byteorder)


@st.composite
def ima_logs(draw, *, min_size: int = 0, max_size: int = 30, template: str | None = None,
             banks: tuple[str, ...] | None = None, byteorder: str = "little") -> list[ImaEntry]:
    """A measurement list as a kernel writes it: the boot_aggregate, then ``min_size`` to
    ``max_size`` more entries (one more when a violation pairs with the last file)."""
    template = template or draw(st.sampled_from(TEMPLATES))
    banks = banks or draw(bank_sets)
    ima_hash = "sha1" if template == "ima" else draw(ima_hash_algorithms)
    entries = [draw(boot_aggregates(template, ima_hash, banks, byteorder))]
    seen = {(entries[0].pcr, entries[0].template_digest)}
    count = draw(st.integers(min_size, max_size))
    while len(entries) < count + 1:
        kind = draw(st.sampled_from(("file",) * 12 + ("buf", "open-writers", "tomtou", "other-pcr")))
        path = draw(paths())
        pcr = OTHER_PCR if kind == "other-pcr" else 10
        if kind == "buf" and template != "ima":
            entry = measure("ima-buf", [digest_field(ima_hash, draw(file_digests(ima_hash))),
                                        name_field(draw(st.sampled_from(_BUF_NAMES))),
                                        draw(st.binary(min_size=1, max_size=64))], byteorder=byteorder)
        else:
            entry = draw(file_measurements(template, ima_hash, path, pcr, byteorder))
        if (entry.pcr, entry.template_digest) in seen:
            count -= 1  # the kernel does not re-add a measurement it holds
            continue
        seen.add((entry.pcr, entry.template_digest))
        broken = violation(template, path, ima_hash=ima_hash, byteorder=byteorder) \
            if kind in ("open-writers", "tomtou") else None
        entries.extend([broken, entry] if kind == "open-writers" else [entry, broken] if broken else [entry])
    return entries


@st.composite
def extend_models(draw, banks: tuple[str, ...]) -> dict[str, str]:
    """Per bank the extend model of the kernel that wrote the list: a 5.8+ kernel extends each
    other bank with its own hash or, lacking that hash, padded SHA-1; an older kernel pads
    SHA-1 into every bank.  (SHA-1 itself is the same under all three.)"""
    if draw(st.integers(0, 5)) == 0:
        return {bank: PER_BANK if bank == "sha1" else LEGACY_PADDED_SHA1 for bank in banks}
    return {bank: PER_BANK if bank == "sha1" else draw(st.sampled_from((PER_BANK, PER_BANK, PADDED_SHA1)))
            for bank in banks}


@dataclass(frozen=True)
class ImaHistory:
    """One TPM: it received ``entries[:extended]`` (its ``banks``, per ``models``); the rest trail."""

    entries: tuple[ImaEntry, ...]
    banks: tuple[str, ...]
    models: dict[str, str]
    extended: int


@dataclass(frozen=True)
class SplitHistory:
    """Architecture 1 (DESIGN.md): dom0 extended ``entries[:split]`` into the pTPM, then
    ``entries[split:extended]`` into its vTPM; the rest trail.  The vTPM began as ``start``
    says: MIRROR copied the pTPM's PCR (each vTPM bank from the same pTPM bank) after
    ``mirrored`` entries, so ``entries[mirrored:split]`` happened during the switch and are
    in the pTPM only; REPLAY replayed ``entries[:split]`` into the zeroed vTPM first."""

    entries: tuple[ImaEntry, ...]
    ptpm_banks: tuple[str, ...]
    vtpm_banks: tuple[str, ...]
    models: dict[str, str]
    start: StartMode
    split: int
    mirrored: int
    extended: int


def _extended(draw, n: int) -> int:
    """Mostly every entry extended; sometimes a few trail (appended, not yet extended)."""
    return n - min(n, draw(st.sampled_from((0, 0, 0, 1, 2, 3))))


@st.composite
def ima_histories(draw, *, max_size: int = 30) -> ImaHistory:
    banks = draw(bank_sets)
    entries = draw(ima_logs(max_size=max_size, banks=banks))
    return ImaHistory(tuple(entries), banks, draw(extend_models(banks)), _extended(draw, len(entries)))


@st.composite
def split_histories(draw, *, max_size: int = 30) -> SplitHistory:
    start = draw(st.sampled_from(StartMode))
    ptpm_banks = draw(bank_sets)
    if start is StartMode.MIRROR:  # a mirror copies banks the hardware has
        vtpm_banks = tuple(b for b in ptpm_banks if draw(st.booleans())) or ptpm_banks[:1]
    else:
        vtpm_banks = draw(bank_sets)
    banks = tuple(b for b in BANKS if b in ptpm_banks or b in vtpm_banks)
    entries = draw(ima_logs(max_size=max_size, banks=banks))
    extended = _extended(draw, len(entries))
    split = draw(st.integers(0, extended))
    mirrored = split - draw(st.integers(0, min(split, 4))) if start is StartMode.MIRROR else split
    return SplitHistory(tuple(entries), ptpm_banks, vtpm_banks, draw(extend_models(banks)), start, split,
                        mirrored, extended)
