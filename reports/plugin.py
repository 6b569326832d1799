"""Records evidence as a pytest run goes: after every test, atomically.

A run killed at any point leaves an ``evidence.json`` that parses and holds
every finding made before the kill; each finding's full trace is written to
``traces/`` before the evidence that cites it.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from hypothesis import settings

from harness import session
from harness.errors import UsageError
from harness.invariants import Violation
from harness.targets.factory import TargetFactory
from harness.trace import to_json
from reports.atomic import write_atomic
from reports.evidence import Evidence, TestRecord, environment
from reports.html import write_html
from reports.manifest import write_manifest
from reports.screenshot import write_screenshot

EVIDENCE_FILE = "evidence.json"


def _hypothesis_settings() -> dict:
    s = settings.default
    return {"max_examples": s.max_examples, "stateful_step_count": s.stateful_step_count,
            "derandomize": s.derandomize, "deadline": None if s.deadline is None else str(s.deadline)}


def target_identity(factory: TargetFactory) -> dict:
    """Ask one fresh target who it is; a target that cannot say is recorded as such."""
    try:
        target = factory.create()
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - the target's failure is evidence, not a crash
        return {"error": f"{type(exc).__name__}: {exc}"}
    try:
        return target.identity()
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        target.close()


class EvidenceRecorder:
    """pytest plugin object registered by ``--evidence DIR``."""

    def __init__(self, config: pytest.Config, directory: str, factory: TargetFactory,
                 profile: str, signing_key=None, screenshot: bool = False) -> None:
        self.dir = Path(directory)
        self.signing_key = signing_key
        self.screenshot = screenshot
        self.is_worker = hasattr(config, "workerinput")  # xdist: only the controller seals
        self.dir.mkdir(parents=True, exist_ok=True)
        self.factory = factory
        seed = config.getoption("hypothesis_seed", None)
        self.evidence = Evidence(
            target={"spec": factory.spec, "profile": factory.profile, "banks": list(factory.banks),
                    "identity": target_identity(factory)},
            run={"profile": profile, "seed": seed, "hypothesis": _hypothesis_settings(),
                 "argv": sys.argv[1:], "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "finished": None, **environment()},
        )
        self._current: TestRecord | None = None
        self._before = (0, 0, 0)
        self._flush()

    # --- hooks --------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker("requirements")
        self._current = TestRecord(item.nodeid, tuple(marker.args) if marker else (), "passed")
        self._before = session.counters.snapshot()
        self._shrinks_before = session.counters.shrinks
        self._started = time.monotonic()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        record = self._current
        if record is None or record.nodeid != item.nodeid:
            return
        if report.skipped:
            record.outcome = "not-applicable"
            record.reason = _skip_reason(report)
        elif report.failed:
            violations = _violations(call.excinfo.value if call.excinfo else None)
            if violations:
                record.outcome = "failed"
                for violation in violations:
                    self._finding(item.nodeid, violation)
            else:
                record.outcome = "error"
                record.reason = _one_line(call.excinfo)
                self.evidence.errors.append({"test": item.nodeid, "error": record.reason})

    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        record = self._current
        if record is None:
            return
        after = session.counters.snapshot()
        record.examples, record.steps, record.operations = (a - b for a, b in zip(after, self._before))
        record.shrinks = session.counters.shrinks - self._shrinks_before
        record.duration = time.monotonic() - self._started
        if record.requirements or record.outcome != "passed":
            self.evidence.tests.append(record)
            self._flush()
        self._current = None

    @pytest.hookimpl(trylast=True)  # after pytest's junitxml plugin has written junit.xml
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.evidence.run["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._flush()
        if not self.is_worker:
            write_html(self.dir)
            if self.screenshot:  # before the manifest, which must list it
                try:
                    write_screenshot(self.dir)
                except UsageError as exc:
                    sys.stderr.write(f"vtpm-harness: no screenshot: {exc}\n")
            write_manifest(self.dir, self.signing_key)

    # --- writing ------------------------------------------------------------------

    def _finding(self, nodeid: str, violation: Violation) -> None:
        n = len(self.evidence.findings) + 1
        name = f"traces/{n:03d}-{_slug(nodeid)}-{violation.requirement}.json"
        write_atomic(self.dir / name, to_json(violation.trace or [], target=self.factory.spec,
                                              requirement=violation.requirement,
                                              summary=violation.summary))
        self.evidence.findings.append({"requirement": violation.requirement, "test": nodeid,
                                       "summary": violation.summary, "steps": violation.steps,
                                       "trace": name})

    def _flush(self) -> None:
        write_atomic(self.dir / EVIDENCE_FILE, self.evidence.dumps())


def _violations(exc) -> list[Violation]:
    """The Violations in a failure; Hypothesis groups distinct bugs in an ExceptionGroup."""
    if isinstance(exc, Violation):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        found = [v for sub in exc.exceptions for v in _violations(sub)]
        return found if len(found) == len(exc.exceptions) else []
    return []


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text.split("::")[-1]).strip("-")[:48]


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _one_line(excinfo) -> str:
    if excinfo is None:
        return "unknown error"
    text = str(excinfo.value).strip().splitlines()
    return f"{excinfo.type.__name__}: {text[0] if text else ''}"
