"""hunt finds a planted bug and writes a trace; replay reproduces it on the mutant only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MUTANT = "reset-pcr20-at-locality0"


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def hunted(tmp_path_factory):
    evidence = tmp_path_factory.mktemp("hunt")
    result = cli("hunt", "--target", f"emulator?mutant={MUTANT}", "--budget", "60",
                 "--evidence", str(evidence))
    return result, evidence


def test_hunt_finds_the_mutant_and_prints_readable_steps(hunted):
    result, evidence = hunted
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[PCR-LOCALITY]" in result.stdout
    assert "TPM2_PCR_Reset(PCR 20) at locality" in result.stdout
    data = json.loads((evidence / "evidence.json").read_text())
    assert data["findings"][0]["requirement"] == "PCR-LOCALITY"
    assert data["requirements"]["PCR-LOCALITY"]["verdict"] == "failed"


def test_replay_reproduces_on_the_mutant_and_passes_on_the_unmutated_emulator(hunted):
    _, evidence = hunted
    trace = evidence / json.loads((evidence / "evidence.json").read_text())["findings"][0]["trace"]
    on_mutant = cli("replay", str(trace), "--target", f"emulator?mutant={MUTANT}")
    assert on_mutant.returncode == 1, on_mutant.stdout + on_mutant.stderr
    assert "reproduced" in on_mutant.stdout and "[PCR-LOCALITY]" in on_mutant.stdout
    on_good = cli("replay", str(trace), "--target", "emulator")
    assert on_good.returncode == 0, on_good.stdout + on_good.stderr
    assert "not reproduced" in on_good.stdout


def test_hunt_without_a_finding_exits_0_with_totals(tmp_path):
    # The budget is wall-clock and includes starting the spawned workers, which takes seconds on
    # a loaded 2-core CI machine: 15 s leaves room for several examples there.
    result = cli("hunt", "--target", "emulator", "--budget", "15", "--evidence", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no finding" in result.stdout
    data = json.loads((tmp_path / "evidence.json").read_text())
    assert data["tests"][0]["examples"] > 0 and data["findings"] == []


@pytest.mark.parametrize("args", [
    ["hunt", "--target", "emulator", "--budget", "soon"],
    ["hunt", "--target", "emulator", "--budget", "-5"],
    ["hunt", "--target", "no-such-target", "--budget", "5"],
    ["replay", "/nonexistent/trace.json", "--target", "emulator"],
])
def test_bad_input_is_one_line_and_exit_2(args):
    result = cli(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
