"""The command line: bad input gives one line and exit 2; a run writes evidence."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize("args", [
    ["run", "--target", "nonsense"],
    ["run", "--profile", "forever"],
    ["frobnicate"],
    [],
    ["run", "--seed", "not-a-number"],
])
def test_bad_input_is_one_line_and_exit_2(args):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vtpm-harness: error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_mutants_lists_every_planted_bug_with_its_requirement(capsys):
    from harness.emulator import MUTANTS
    from harness.invariants import REQUIREMENTS

    assert main(["mutants"]) == 0
    out = capsys.readouterr().out
    for name, mutant in MUTANTS.items():
        assert name in out
        assert mutant.requirement in REQUIREMENTS


def test_run_against_the_emulator_writes_evidence_and_exits_0(tmp_path):
    evidence = tmp_path / "ev"
    result = run_cli("run", "--evidence", str(evidence))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((evidence / "evidence.json").read_text())
    assert data["target"]["spec"] == "emulator"
    assert data["findings"] == [] and data["errors"] == []
    for rid in ("PCR-AGREE", "PCR-LOCALITY", "PCR-INIT", "STARTUP", "RESP-WELLFORMED", "ROBUST-INPUT",
                "NV-POLICY"):
        verdict = data["requirements"][rid]
        assert verdict["verdict"] == "passed" and verdict["examples"] > 0 and verdict["steps"] > 0
    assert (evidence / "junit.xml").exists()


def test_run_against_a_mutant_exits_1_with_a_finding_and_its_trace(tmp_path):
    evidence = tmp_path / "ev"
    result = run_cli("run", "--target", "emulator?mutant=reset-pcr20-at-locality0",
                     "--evidence", str(evidence))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((evidence / "evidence.json").read_text())
    assert data["requirements"]["PCR-LOCALITY"]["verdict"] == "failed"
    # Every machine that ran may have found it; at least one finding names the right ID.
    finding = next(f for f in data["findings"] if f["requirement"] == "PCR-LOCALITY")
    trace = json.loads((evidence / finding["trace"]).read_text())
    assert trace["steps"], "the trace holds the steps of the minimal example"


def test_an_unreachable_endpoint_is_one_line_and_exit_2_before_any_test_runs(tmp_path):
    result = run_cli("run", "--target", "swtpm+tcp://127.0.0.1:1?ctrl=2", "--evidence", str(tmp_path / "ev"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "vtpm-harness: error: swtpm+tcp://127.0.0.1:1?ctrl=2: cannot connect to 127.0.0.1:1: Connection refused"]
    assert "INTERNALERROR" not in result.stdout and "Traceback" not in result.stdout
