"""The failure corpus: a failure one process finds is the first thing another replays.

The shared case runs Debian's redis-server on a free loopback port, with no
persistence, for the length of one test.  Each "process" is a real Python
subprocess running PcrMachine against the reset-pcr20-at-locality0 mutant,
so nothing is shared between them except the database.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from harness.errors import UsageError
from harness.example_db import example_database, load_profile_with_database

ROOT = Path(__file__).resolve().parents[1]
MUTANT = "reset-pcr20-at-locality0"

# One run of PcrMachine with the given database, phases and example budget; prints one JSON line.
_RUN_MACHINE = f"""
import json, sys, unittest
from hypothesis import Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test
from harness import session
from harness.example_db import example_database
from harness.invariants import Violation
from harness.targets.factory import parse_target
from suites.pcr_suite import PcrMachine

spec, phases, max_examples = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
session.configure(parse_target("emulator?mutant={MUTANT}"))
chosen = settings(settings.get_profile("hunt"), database=example_database(spec), derandomize=False,
                  phases=[Phase[p] for p in phases], max_examples=max_examples,
                  verbosity=Verbosity.quiet, print_blob=False)
result = {{"requirement": None, "steps": [], "ran": True}}
try:
    run_state_machine_as_test(PcrMachine, settings=chosen)
except unittest.SkipTest:  # reuse alone with an empty corpus: Hypothesis has nothing to run
    result["ran"] = False
except Violation as violation:
    result.update(requirement=violation.requirement, steps=violation.steps)
result["examples"] = session.counters.examples
print(json.dumps(result))
"""


def run_machine(spec: str, phases: str, max_examples: int) -> dict:
    done = subprocess.run([sys.executable, "-c", _RUN_MACHINE, spec, phases, str(max_examples)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def redis_server(workdir: Path):
    """redis-server on a free loopback port, without persistence; yields its URL once it answers PING."""
    import redis

    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None, f"redis-server exited with {proc.returncode}"
                assert time.monotonic() < deadline, "redis-server did not answer PING in 15 s"
                time.sleep(0.05)
        yield url, client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _found_then_replayed_first(spec: str) -> tuple[dict, dict]:
    """Control (empty corpus: reuse alone runs nothing), finder, then a reuse-only replayer."""
    control = run_machine(spec, "reuse", 1)
    assert control == {"requirement": None, "steps": [], "ran": False, "examples": 0}
    found = run_machine(spec, "reuse,generate,shrink", 100_000)
    assert found["requirement"] == "PCR-LOCALITY", found
    assert any("TPM2_PCR_Reset(PCR 20) at locality 0" in step for step in found["steps"]), found
    replayed = run_machine(spec, "reuse", 1)
    return found, replayed


@pytest.mark.tools
def test_a_failure_found_by_one_process_is_replayed_first_by_another_through_redis(tmp_path):
    pytest.importorskip("redis", reason="the redis package is not installed (extra: redis)")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    with redis_server(tmp_path) as (url, client):
        found, replayed = _found_then_replayed_first(url)
        assert client.dbsize() > 0  # the corpus lives in Redis, nowhere else
    assert replayed["requirement"] == found["requirement"]
    assert replayed["steps"] == found["steps"]  # the shrunk example, not a new search
    # The saved failure runs first: one example fails, plus Hypothesis's final replay of it.
    assert replayed["examples"] <= 2, replayed


def test_a_directory_corpus_replays_the_failure_first_too(tmp_path):
    found, replayed = _found_then_replayed_first(str(tmp_path / "corpus"))
    assert (replayed["requirement"], replayed["steps"]) == (found["requirement"], found["steps"])
    assert replayed["examples"] <= 2, replayed


def test_a_path_gives_a_directory_database_created_up_front(tmp_path):
    db = example_database(str(tmp_path / "a" / "b"))
    assert isinstance(db, DirectoryBasedExampleDatabase)
    assert (tmp_path / "a" / "b").is_dir()


@pytest.mark.parametrize("spec", ["", "http://127.0.0.1:6379", "redis://", "redis://127.0.0.1:notaport",
                                  "redis://127.0.0.1:99999"])
def test_a_bad_spec_is_one_line_usage_error(spec):
    with pytest.raises(UsageError) as caught:
        example_database(spec)
    assert "\n" not in str(caught.value)


def test_a_file_where_the_directory_should_be_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot use as a directory"):
        example_database(str(tmp_path / "file"))


def test_an_unreachable_redis_is_one_line_usage_error():
    pytest.importorskip("redis", reason="the redis package is not installed (extra: redis)")
    with pytest.raises(UsageError, match="Redis does not answer") as caught:
        example_database(f"redis://127.0.0.1:{free_port()}")  # nothing listens there
    assert "\n" not in str(caught.value)


@pytest.fixture
def restore_profile():
    name = settings.get_current_profile_name()
    yield
    settings.load_profile(name)


def test_certify_with_a_database_keeps_every_other_setting(tmp_path, restore_profile):
    loaded = load_profile_with_database("certify", str(tmp_path / "corpus"))
    assert settings.get_current_profile_name() == "certify-db"
    assert loaded.database == DirectoryBasedExampleDatabase(str(tmp_path / "corpus"))
    certify = settings.get_profile("certify")
    assert (loaded.max_examples, loaded.stateful_step_count, loaded.phases, loaded.derandomize) == \
        (certify.max_examples, certify.stateful_step_count, certify.phases, certify.derandomize)


def test_the_ci_profile_refuses_a_database(tmp_path, restore_profile):
    with pytest.raises(UsageError, match="derandomized"):
        load_profile_with_database("ci", str(tmp_path / "corpus"))
    assert settings.get_current_profile_name() != "ci-db"


def test_certify_and_hunt_stay_randomised_with_a_database_even_under_a_ci_environment():
    # Hypothesis makes its CI settings the default when $CI is set; ours must not inherit them.
    import subprocess
    import sys

    probe = ("import harness.profiles; from hypothesis import settings; "
             "print([(settings.get_profile(p).derandomize, settings.get_profile(p).database is None) "
             "for p in ('certify', 'hunt', 'ci')])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**__import__("os").environ, "CI": "true"}, check=True).stdout
    assert out.strip() == "[(False, False), (False, False), (True, True)]"
