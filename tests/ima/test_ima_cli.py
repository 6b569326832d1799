"""``ima verify``: exit 0 verified, 1 not verified (with the first bad entry), 2 bad input in one line."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys

import pytest

from harness import ima_cli
from models.ima import digest_field, measure, name_field, serialize_ascii, serialize_binary
from tests.ima.independent import PER_BANK, chain, extend_sequence

ENTRIES = [measure("ima-sig", [digest_field("sha256", bytes([i]) * 32), name_field(b"/usr/bin/f%d" % i), b""])
           for i in range(5)]


def pcr_args(entries, banks=("sha1", "sha256")):
    return [f"--pcr={bank}:10={chain(extend_sequence(entries, bank, PER_BANK), bank).hex()}" for bank in banks]


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "binary_runtime_measurements"
    path.write_bytes(serialize_binary(ENTRIES))
    return path


def run(capsys, *argv):
    code = ima_cli.main(["ima", "verify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_verified_list_exits_0(capsys, log):
    code, out, err = run(capsys, log, *pcr_args(ENTRIES[:4]))
    assert code == 0 and err == ""
    assert out.startswith("verified: ") and "1 entry trailing" in out


def test_json_verdict(capsys, log):
    code, out, _ = run(capsys, log, "--json", *pcr_args(ENTRIES))
    verdict = json.loads(out)
    assert code == 0 and verdict["verified"] is True
    assert (verdict["entries"], verdict["matched_prefix"], verdict["trailing"]) == (5, 5, 0)
    assert verdict["models"] == {"sha1": "per-bank", "sha256": "per-bank"} and verdict["bad_entry"] is None


def test_wrong_pcr_exits_1_with_the_reason(capsys, log):
    code, out, _ = run(capsys, log, f"--pcr=sha256:10={'ab' * 32}")
    assert code == 1 and out.startswith("not verified: ") and "sha256" in out


def test_json_counts_every_entry_whether_verified_or_not(capsys, log):
    """A binary list is verified in one pass without its entries; the count must not depend on that."""
    for pcrs, verified in ((pcr_args(ENTRIES[:3]), True), ([f"--pcr=sha256:10={'ab' * 32}"], False)):
        code, out, _ = run(capsys, log, "--json", *pcrs)
        verdict = json.loads(out)
        assert (code == 0, verdict["verified"], verdict["entries"]) == (verified, verified, 5)


def test_an_edited_entry_is_printed_with_index_and_path(capsys, tmp_path):
    forged = ENTRIES[2]._replace(template_data=ENTRIES[2].template_data.replace(b"/usr/bin/f2", b"/usr/bin/f9"))
    path = tmp_path / "log"
    path.write_bytes(serialize_binary(ENTRIES[:2] + [forged] + ENTRIES[3:]))
    code, out, _ = run(capsys, path, *pcr_args(ENTRIES))
    assert code == 1
    assert "first bad entry: 2 /usr/bin/f9" in out
    code, out, _ = run(capsys, path, "--json", *pcr_args(ENTRIES))
    assert json.loads(out)["bad_entry"] == {"index": 2, "path": "/usr/bin/f9"}


def test_template_policy(capsys, log):
    assert run(capsys, log, "--template", "ima-sig", *pcr_args(ENTRIES))[0] == 0
    code, out, _ = run(capsys, log, "--template", "ima-ng", *pcr_args(ENTRIES))
    assert code == 1 and "entry 0 uses template ima-sig, not ima-ng" in out and "/usr/bin/f0" in out


def test_ascii_big_endian_and_per_bank_lists(capsys, tmp_path):
    ascii_log = tmp_path / "ascii"
    ascii_log.write_bytes(serialize_ascii(ENTRIES))
    assert run(capsys, ascii_log, "--ascii", *pcr_args(ENTRIES))[0] == 0
    big = [measure("ima-ng", [digest_field("sha1", bytes(20)), name_field(b"/x")], byteorder="big")]
    big_log = tmp_path / "big"
    big_log.write_bytes(serialize_binary(big, byteorder="big"))
    assert run(capsys, big_log, "--big-endian", *pcr_args(big))[0] == 0
    assert run(capsys, big_log, *pcr_args(big))[0] == 2  # misread as little-endian: malformed
    per_bank = [e._replace(template_digest=hashlib.sha256(e.template_data).digest()) for e in ENTRIES]
    bank_log = tmp_path / "binary_runtime_measurements_sha256"
    bank_log.write_bytes(serialize_binary(per_bank, bank="sha256"))
    assert run(capsys, bank_log, "--list-bank", "sha256", *pcr_args(ENTRIES, ("sha256",)))[0] == 0


def test_padded_model_option(capsys, log):
    padded = chain(extend_sequence(ENTRIES, "sha256", "padded-sha1"), "sha256").hex()
    assert run(capsys, log, f"--pcr=sha256:10={padded}")[0] == 0
    assert run(capsys, log, "--model", "per-bank", f"--pcr=sha256:10={padded}")[0] == 1


@pytest.mark.parametrize("argv, words", [
    (["{log}"], "give the PCR values"),
    (["{log}", "--pcr", "sha256=00"], "expected ALG:PCR=HEX"),
    (["{log}", "--pcr", "sha3:10=00"], "unknown PCR bank"),
    (["{log}", "--pcr", "sha1:10=abcd"], "40 hex digits, not 4"),
    (["{log}", "--pcr", f"sha1:10={'0' * 40}", "--pcr", f"sha1:10={'1' * 40}"], "given twice"),
    (["{log}", "--pcr", f"sha1:10={'0' * 40}", "--pcr", f"sha256:11={'0' * 64}"], "PCRs [10, 11]"),
    (["{log}", "--list-bank", "md5", "--pcr", f"sha1:10={'0' * 40}"], "--list-bank"),
    (["{missing}", "--pcr", f"sha1:10={'0' * 40}"], "cannot read"),
    (["{garbage}", "--pcr", f"sha1:10={'0' * 40}"], "is not a binary measurement list: entry 0 at byte 0"),
    (["{log}", "--ascii", "--pcr", f"sha1:10={'0' * 40}"], "is not an ASCII measurement list"),
    (["{log}", "--model", "sha1-only", "--pcr", f"sha1:10={'0' * 40}"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(capsys, log, tmp_path, argv, words):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\xff" * 64)
    argv = [a.format(log=log, missing=tmp_path / "nope", garbage=garbage) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("vtpm-harness: error: ") and words in err


def test_as_a_process_bad_input_is_one_line_without_traceback(log):
    result = subprocess.run([sys.executable, "-m", "harness.ima_cli", "ima", "verify", str(log), "--pcr", "bad"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_add_parser_registers_under_a_parent_cli():
    """The lead's CLI passes its own subparsers; ``func`` dispatches to run()."""
    parser = argparse.ArgumentParser(prog="vtpm-harness")
    ima_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ima", "verify", "LOG", "--pcr", "sha1:10=00", "--json"])
    assert args.func is ima_cli.run and args.ima_command == "verify" and args.log == "LOG" and args.json
