"""Interop with evmctl (Debian ima-evm-utils): it replays the lists we write against the PCR
values we compute, and must match them; and a changed PCR value must make it fail.

evmctl's facts (../shared/notes/ima.md section 10): binary lists only, sha1 and sha256 banks,
``--pcrs ALG,FILE`` at most twice with ``PCR-NN: <hex>`` lines, ``--ignore-violations``
needed for violations.  It checks every PCR the list names, so the files carry the values
of all of them (PCR 11 for policy ``pcr=`` entries), not only PCR 10.  Its "SHA1 padded"
model is the pre-5.8 kernels' (violations 0xFF x 20 zero-padded): our ``legacy-padded-sha1``.
Our stricter rule (all banks of a quote match the same prefix) has no evmctl counterpart.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.strategies.ima import TEMPLATES, ima_logs
from models.ima import (
    LEGACY_PADDED_SHA1,
    PER_BANK,
    boot_aggregate,
    digest_field,
    measure,
    name_field,
    parse_ascii,
    replay,
    serialize_binary,
    verify,
)

EVMCTL = shutil.which("evmctl")
pytestmark = [
    pytest.mark.tools,
    pytest.mark.requirements("IMA-REPLAY"),
    pytest.mark.skipif(EVMCTL is None, reason="evmctl not installed (Debian package ima-evm-utils)"),
]
BANKS = ("sha1", "sha256")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ima-evm-utils"
EXPECTED = {PER_BANK: "Matched per TPM bank calculated digest(s).",
            LEGACY_PADDED_SHA1: "Matched SHA1 padded TPM digest(s)."}


def write_pcr_file(path: Path, values: dict[int, bytes], size: int) -> None:
    path.write_text("".join(f"PCR-{i:02d}: {values.get(i, bytes(size)).hex()}\n" for i in range(24)))


def evmctl_measurement(entries, pcr_values: dict[str, dict[int, bytes]]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="ima-interop-") as tmp:
        log = Path(tmp) / "binary_runtime_measurements"
        log.write_bytes(serialize_binary(entries))
        command = [EVMCTL, "ima_measurement", "--ignore-violations"]
        for bank, values in pcr_values.items():
            write_pcr_file(Path(tmp) / bank, values, 20 if bank == "sha1" else 32)
            command += ["--pcrs", f"{bank},{Path(tmp) / bank}"]
        return subprocess.run(command + [str(log)], capture_output=True, text=True, errors="replace", timeout=60)


def our_pcrs(entries, model: str) -> dict[str, dict[int, bytes]]:
    """Every PCR the list names, per bank, as our replay computes it."""
    return {bank: {pcr: replay(entries, bank, model, pcr=pcr) for pcr in {e.pcr for e in entries}}
            for bank in BANKS}


@settings(deadline=None)
@given(st.sampled_from(TEMPLATES), st.sampled_from((PER_BANK, LEGACY_PADDED_SHA1)), st.data())
def test_evmctl_matches_the_pcrs_we_compute(template, model, data):
    entries = data.draw(ima_logs(template=template, banks=BANKS, max_size=12))
    # The list may run ahead: the PCRs cover only the first entries.
    covered = entries[:data.draw(st.integers(1, len(entries)), label="entries extended")]
    pcrs = our_pcrs(covered, model)
    result = evmctl_measurement(entries, pcrs)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert EXPECTED[model] in result.stdout + result.stderr
    assert verify(entries, {bank: pcrs[bank].get(10, bytes(20 if bank == "sha1" else 32))
                            for bank in BANKS}).ok


@settings(deadline=None)
@given(st.sampled_from(TEMPLATES), st.sampled_from((("sha256",), ("sha1", "sha256"))), st.data())
def test_evmctl_rejects_a_changed_pcr_value(template, changed, data):
    """Negative control: the same run with one byte of PCR10 changed in the sha256 bank or both.
    (evmctl 1.4 keeps only the last bank comparison's result, so a wrong sha1 value alone
    passes when sha256 matches at the last entry; our verifier rejects that too, see
    test_verifier.py::test_all_banks_of_one_quote_must_match_the_same_prefix.)"""
    entries = data.draw(ima_logs(template=template, banks=BANKS, max_size=8))
    pcrs = our_pcrs(entries, PER_BANK)
    for bank in changed:
        at = data.draw(st.integers(0, len(pcrs[bank][10]) - 1), label=f"{bank} byte")
        value = bytearray(pcrs[bank][10])
        value[at] ^= 0x01
        pcrs[bank][10] = bytes(value)
    result = evmctl_measurement(entries, pcrs)
    assert result.returncode != 0
    assert "Matched" not in result.stdout + result.stderr
    assert not verify(entries, {bank: pcrs[bank][10] for bank in BANKS}).ok


def test_evmctl_and_we_reject_an_edited_template_digest():
    entries = [measure("ima-ng", [digest_field("sha256", bytes([i]) * 32), name_field(b"/usr/bin/f%d" % i)])
               for i in range(3)]
    pcrs = our_pcrs(entries, PER_BANK)
    edited = entries[:1] + [entries[1]._replace(template_digest=bytes([entries[1].template_digest[0] ^ 1])
                                                + entries[1].template_digest[1:])] + entries[2:]
    result = evmctl_measurement(edited, pcrs)
    assert result.returncode != 0 and "Failed to verify template data digest" in result.stdout + result.stderr
    assert not verify(edited, {bank: pcrs[bank][10] for bank in BANKS}).ok


def test_evmctl_boot_aggregate_agrees_on_the_fixture_pcrs(tmp_path):
    """The ima-evm-utils sample PCR file (tsspcrread -halg sha1): our sha1 boot_aggregate over
    PCR0-7 equals evmctl's, computed from the same values."""
    lines = (FIXTURES / "sample-tpm-2.0-pcrs-8-9").read_text().splitlines()[1:]
    pcrs = {int(index): bytes.fromhex(value) for index, value in (line.split(": ") for line in lines)}
    pcr_file = tmp_path / "sha1"
    write_pcr_file(pcr_file, pcrs, 20)
    result = subprocess.run([EVMCTL, "ima_boot_aggregate", "--pcrs", f"sha1,{pcr_file}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    ours = boot_aggregate([pcrs[i] for i in range(24)], "sha1")
    assert result.stdout.strip() == f"sha1:{ours.hex()}"


def test_evmctl_replays_the_fixture_boot_aggregate_entry_as_we_do(tmp_path):
    """The upstream sample ASCII entry, rebuilt as binary by our parser: evmctl's replay of it
    equals ours (and its logged template digest passes evmctl's template check)."""
    entries = parse_ascii((FIXTURES / "sample-ascii_runtime_measurements-pcrs-8-9").read_bytes())
    result = evmctl_measurement(entries, our_pcrs(entries, PER_BANK))
    assert result.returncode == 0 and EXPECTED[PER_BANK] in result.stdout + result.stderr
