"""The evidence document: what ran, against what, and what held.

``Evidence`` accumulates test results and findings and renders the fixed core
of ``evidence.json`` (DESIGN.md): harness, target, requirements with
verdicts and counts, findings with their minimal traces.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from harness import __version__
from harness.invariants import REQUIREMENTS

FORMAT = "vtpm-harness-evidence/1"
_PACKAGES = ("hypothesis", "pytest", "pytest-xdist", "cryptography", "coverage")


def harness_commit() -> str:
    """The git commit of the harness source, or "unknown" outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def environment() -> dict:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": versions}


@dataclass
class TestRecord:
    nodeid: str
    requirements: tuple[str, ...]
    outcome: str  # passed | failed | not-applicable | error
    examples: int = 0
    steps: int = 0
    operations: int = 0
    duration: float = 0.0
    shrinks: int = 0
    reason: str = ""

    def as_json(self) -> dict:
        data = {"nodeid": self.nodeid, "requirements": list(self.requirements),
                "outcome": self.outcome, "examples": self.examples, "steps": self.steps,
                "operations": self.operations, "shrinks": self.shrinks,
                "duration": round(self.duration, 3)}
        if self.reason:
            data["reason"] = self.reason
        return data


@dataclass
class Evidence:
    target: dict
    run: dict
    harness: dict = field(default_factory=lambda: {"version": __version__, "commit": harness_commit()})
    tests: list[TestRecord] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def requirements(self) -> dict:
        """Each requirement's verdict: failed if any finding names it, passed if a test
        checked it (examples > 0), otherwise not-applicable with the reasons."""
        out = {}
        for rid in REQUIREMENTS:
            tests = [t for t in self.tests if rid in t.requirements]
            ran = [t for t in tests if t.outcome in ("passed", "failed") and t.examples > 0]
            failed = [f for f in self.findings if f["requirement"] == rid]
            # a test may fail a requirement it does not declare: its shrinks count there too
            failing = {f["test"] for f in failed}
            shrunk = ran + [t for t in self.tests if t.nodeid in failing and t not in ran]
            if failed:
                verdict = "failed"
            elif ran:
                verdict = "passed"
            else:
                reasons = sorted({t.reason for t in tests if t.reason}) or [
                    "no suite in this run checks it"]
                out[rid] = {"verdict": "not-applicable", "reason": "; ".join(reasons)}
                continue
            out[rid] = {"verdict": verdict,
                        "examples": sum(t.examples for t in ran),
                        "steps": sum(t.steps for t in ran),
                        "operations": sum(t.operations for t in ran),
                        "shrinks": sum(t.shrinks for t in shrunk),
                        "tests": [t.nodeid for t in ran],
                        "findings": len(failed)}
        return out

    def as_json(self) -> dict:
        return {
            "format": FORMAT,
            "harness": self.harness,
            "target": self.target,
            "run": self.run,
            "requirements": self.requirements(),
            "tests": [t.as_json() for t in self.tests],
            "findings": self.findings,
            "errors": self.errors,
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), indent=1, sort_keys=False)
