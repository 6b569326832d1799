"""The real ima-evm-utils sample files (tests/fixtures/ima-evm-utils, see PROVENANCE.md) through
our parser, replay and boot_aggregate.

What can be checked independently (the sample's sha256 PCRs come from a binary BIOS log that
is not stored here): the ASCII boot_aggregate entry's template digest was computed by a real
kernel, so rebuilding its template data from the ASCII line must reproduce it; the line must
come back byte for byte; the sample PCR file's sha1 boot_aggregate over PCR0-7 is checked
against hashlib here and against evmctl in test_evmctl_interop.py.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from models.ima import PER_BANK, boot_aggregate, parse_ascii, replay, serialize_ascii, serialize_binary, \
    split_fields, verify

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ima-evm-utils"
ASCII = FIXTURES / "sample-ascii_runtime_measurements-pcrs-8-9"
PCRS = FIXTURES / "sample-tpm-2.0-pcrs-8-9"
KERNEL_TEMPLATE_DIGEST = "2e03b3fdb0014fc8bae2a07ca33ae67125b290f3"
BOOT_AGGREGATE_SHA256 = "83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"


@pytest.mark.parametrize("path, sha256", [
    (ASCII, "615e77023160689905ec8f310126e124737fa477b454b263f55e982cda89afe7"),
    (PCRS, "2fd1b6a6259b6f9c0f4873dd5739717c7807d62bdd1607431e30ff70669f3387"),
])
def test_fixture_files_are_the_ones_provenance_names(path, sha256):
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def test_the_kernel_logged_boot_aggregate_parses_and_rebuilds_its_template_digest():
    (entry,) = parse_ascii(ASCII.read_bytes())
    assert (entry.pcr, entry.template_name, entry.template_digest.hex()) == (10, "ima-ng", KERNEL_TEMPLATE_DIGEST)
    d_ng = b"sha256:\0" + bytes.fromhex(BOOT_AGGREGATE_SHA256)
    n_ng = b"boot_aggregate\0"
    rebuilt = struct.pack("<I", len(d_ng)) + d_ng + struct.pack("<I", len(n_ng)) + n_ng
    assert entry.template_data == rebuilt
    assert hashlib.sha1(rebuilt).hexdigest() == KERNEL_TEMPLATE_DIGEST  # the kernel's own hash
    assert split_fields("ima-ng", entry.template_data) == (d_ng, n_ng)


def test_the_fixture_round_trips_ascii_binary_ascii():
    text = ASCII.read_bytes()
    entries = parse_ascii(text)
    assert serialize_ascii(entries) == text
    assert len(serialize_binary(entries)) == 4 + 20 + 4 + 6 + 4 + len(entries[0].template_data)


def test_the_fixture_entry_verifies_against_its_own_replay():
    entries = parse_ascii(ASCII.read_bytes())
    expected = hashlib.sha1(bytes(20) + bytes.fromhex(KERNEL_TEMPLATE_DIGEST)).digest()
    assert replay(entries, "sha1", PER_BANK) == expected
    assert verify(entries, {"sha1": expected}).ok


def test_sha1_boot_aggregate_of_the_sample_pcrs():
    lines = PCRS.read_text().splitlines()
    assert lines[0] == "pcrread: tsspcrread -halg sha1"
    pcrs = [bytes.fromhex(line.split(": ")[1]) for line in lines[1:]]
    assert len(pcrs) == 24
    assert boot_aggregate(pcrs, "sha1") == hashlib.sha1(b"".join(pcrs[:8])).digest()
    assert boot_aggregate(pcrs, "sha1").hex() == "902992f8f550b797165537c7e8ab9a2f2170321d"  # evmctl's figure
