"""Hand-made bundles and the schema validators shared by the evidence tests.

Fixture evidence is built with the recorder's own document type
(reports.evidence.Evidence) and traces with harness.trace, so the schema is
checked against what the harness emits, not against a copy of the schema.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from harness.errors import UsageError
from harness.trace import to_json
from models import ops
from reports import commands
from reports.evidence import Evidence, TestRecord
from reports.html import write_html
from reports.manifest import write_manifest

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "reports" / "schema"
PCR_REQUIREMENTS = ("PCR-AGREE", "PCR-LOCALITY", "PCR-INIT", "STARTUP", "RESP-WELLFORMED",
                    "ROBUST-INPUT")


def load_schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """A draft 2020-12 validator for one of the bundle schemas (cross-references resolved)."""
    schemas = [load_schema(f) for f in ("evidence.schema.json", "trace.schema.json",
                                        "manifest.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry,
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def single_run(*, started="2024-05-01T10:00:00Z", finished="2024-05-01T10:05:00Z", seed=None) -> dict:
    """The ``run`` object the recorder writes (reports/plugin.py), with fixed values."""
    return {"profile": "ci", "seed": seed,
            "hypothesis": {"max_examples": 200, "stateful_step_count": 25, "derandomize": True,
                           "deadline": None},
            "argv": ["suites", "--target", "emulator"], "started": started, "finished": finished,
            "python": "3.11.2", "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
            "packages": {"hypothesis": "6.100.0", "pytest": "8.0.0", "pytest-xdist": None}}


TARGET = {"spec": "emulator", "profile": "tpm2-ptp", "banks": ["sha1", "sha256"],
          "identity": {"manufacturer": "VTPM", "firmware": "0.1", "banks": ["sha1", "sha256"]}}

TRACE_STEPS = [
    ("", ops.Startup(0), bytes.fromhex("80010000000c000001440000"), bytes.fromhex("80010000000a00000000")),
    ("", ops.PcrReset(20, locality=0), bytes.fromhex("80020000001b0000013d00000014"),
     bytes.fromhex("80010000000a00000907")),
    ("", ops.PowerCycle(orderly=False), None, None),
]


def trace_text(requirement: str = "PCR-LOCALITY", summary: str = "PCR 20 reset at locality 0") -> str:
    return to_json(TRACE_STEPS, target=TARGET["spec"], requirement=requirement, summary=summary)


def make_evidence(tests: list[TestRecord], findings: list[dict] = (), errors: list[dict] = (), *,
                  run: dict | None = None, target: dict = TARGET) -> dict:
    evidence = Evidence(target=target, run=run or single_run(),
                        harness={"version": "0.1.0", "commit": "ab" * 20})
    evidence.tests = list(tests)
    evidence.findings = list(findings)
    evidence.errors = list(errors)
    return evidence.as_json()


def passing_shard_evidence(examples: int = 40, steps: int = 800, operations: int = 9000, **kw) -> dict:
    return make_evidence([
        TestRecord("suites/pcr_suite.py::test_pcr_machine", PCR_REQUIREMENTS, "passed",
                   examples, steps, operations, 12.5),
        TestRecord("suites/nv_suite.py::test_nv_machine", ("NV-DURABLE",), "not-applicable",
                   reason="the target cannot crash"),
    ], **kw)


FINDING_TRACE = "traces/001-test_pcr_machine-PCR-LOCALITY.json"


def failing_shard_evidence(**kw) -> dict:
    finding = {"requirement": "PCR-LOCALITY", "test": "suites/pcr_suite.py::test_pcr_machine",
               "summary": "TPM2_PCR_Reset(PCR 20) at locality 0: returned TPM_RC_SUCCESS, the model "
                          "expects TPM_RC_LOCALITY", "steps": ["  1. TPM2_Startup(TPM_SU_CLEAR)",
                                                               "  2. TPM2_PCR_Reset(PCR 20) at locality 0"],
               "trace": FINDING_TRACE}
    return make_evidence([
        TestRecord("suites/pcr_suite.py::test_pcr_machine", PCR_REQUIREMENTS, "failed", 25, 300, 4000, 3.0,
                   shrinks=7),
        TestRecord("suites/nv_suite.py::test_nv_machine", ("NV-DURABLE",), "not-applicable",
                   reason="no NV disk"),
    ], [finding], **kw)


JUNIT = ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" '
         'failures="0" skipped="0" tests="1"><testcase classname="suites.pcr_suite" '
         'name="test_pcr_machine" time="1.0"/></testsuite></testsuites>\n')


def write_bundle(directory: Path, evidence: dict, traces: dict[str, str] | None = None, key=None) -> Path:
    """A finished bundle as the recorder leaves it: traces, evidence, junit, html, manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (traces or {}).items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    (directory / "evidence.json").write_text(json.dumps(evidence, indent=1))
    (directory / "junit.xml").write_text(JUNIT)
    write_html(directory)
    write_manifest(directory, key)
    return directory


@pytest.fixture
def passing_bundle(tmp_path) -> Path:
    return write_bundle(tmp_path / "shard-a", passing_shard_evidence())


@pytest.fixture
def failing_bundle(tmp_path) -> Path:
    return write_bundle(tmp_path / "shard-b", failing_shard_evidence(), {FINDING_TRACE: trace_text()})


# --- the commands, as the CLI runs them ---------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def run_command(*argv: str) -> tuple[int, str, str]:
    """Run a reports subcommand as ``vtpm-harness`` does: (exit code, stdout, usage error line)."""
    parser = _Parser(prog="vtpm-harness")
    commands.add_parsers(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            args = parser.parse_args(list(argv))
            return args.func(args), out.getvalue(), ""
    except UsageError as exc:
        return 2, out.getvalue(), str(exc)


# --- real runs ------------------------------------------------------------------------


MUTANT = "extend-operand-order"  # any extend shows it: found in every ci run


def run_harness(evidence: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", "--evidence", str(evidence), *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)


@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory) -> Path:
    """The bundle of a real run against an emulator mutant: exit 1, a finding and its trace.

    One run (~45 s on 2 busy cores) serves every real-bundle test, shared by the
    xdist workers of a session; a clean run adds nothing the schema does not
    already cover, and tests/test_cli.py makes one.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's directory, common to its workers
    bundle = base / "real-mutant-bundle"
    with open(base / "real-mutant-bundle.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "real-mutant-bundle.done").exists():
            shutil.rmtree(bundle, ignore_errors=True)
            result = run_harness(bundle, "--target", f"emulator?mutant={MUTANT}")
            assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
            (base / "real-mutant-bundle.done").touch()
    return bundle


@pytest.fixture(scope="session")
def finished_real_bundle(real_bundle, tmp_path_factory) -> Path:
    """A copy of the real bundle with evidence.html and a fresh-key manifest added."""
    finished = Path(shutil.copytree(real_bundle, tmp_path_factory.mktemp("finished") / "mutant"))
    write_html(finished)
    write_manifest(finished, None)
    return finished
