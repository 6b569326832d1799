"""SIGKILL in the middle of a run leaves evidence that parses and holds every finding so far."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sigkill_mid_run_keeps_every_finding_made_before_it(tmp_path):
    evidence = tmp_path / "ev"
    # First the PCR suite against a mutant (a finding), then a long test that we kill.
    (tmp_path / "test_long.py").write_text("import time\n\ndef test_long():\n    time.sleep(120)\n")
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o", "python_files=*_suite.py test_*.py",
         str(ROOT / "suites" / "pcr_suite.py"), str(tmp_path / "test_long.py"),
         "--target", "emulator?mutant=reset-at-locality4", "--evidence", str(evidence)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        findings = []
        while time.monotonic() < deadline and not findings:
            time.sleep(0.5)
            try:
                findings = json.loads((evidence / "evidence.json").read_text())["findings"]
            except (OSError, ValueError):
                pass  # not written yet; a half-written file would fail the final check
        assert findings, "the suite's finding never reached evidence.json"
        time.sleep(1.0)  # now inside test_long
        assert run.poll() is None, "the run ended before it could be killed"
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    data = json.loads((evidence / "evidence.json").read_text())
    (finding,) = data["findings"]
    assert finding["requirement"] == "PCR-LOCALITY"
    trace = json.loads((evidence / finding["trace"]).read_text())
    assert trace["steps"] and trace["requirement"] == "PCR-LOCALITY"
    assert not [p for p in evidence.rglob(".*") if p.is_file()], "a temporary file was left behind"
