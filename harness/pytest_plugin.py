"""The pytest face of vtpm-harness: ``pytest --target SPEC [--evidence DIR]``.

Installed as a ``pytest11`` entry point, so any repository that installs the
package can run the suites against its own TPM.  A bad ``--target`` stops
pytest at once with one line (pytest's usage error, exit code 4).
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from harness import profiles, session
from harness.errors import UsageError
from harness.targets.factory import parse_target

# The ci profile is the default; --hypothesis-profile (Hypothesis's own option) overrides it.
settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vtpm-harness")
    group.addoption("--target", default="emulator", metavar="SPEC",
                    help="the TPM under test: emulator, swtpm, swtpm+tcp://HOST:PORT?ctrl=PORT, "
                         "device:PATH, plugin:module:Class, tis+qtest, tis+mmio:/dev/mem (default: emulator)")
    group.addoption("--swtpm-binary", default=None, metavar="PATH",
                    help="swtpm executable for --target swtpm (default: $SWTPM, then PATH)")
    group.addoption("--qemu-binary", default=None, metavar="PATH",
                    help="qemu-system-x86_64 for --target tis+qtest (default: $QEMU, then PATH)")
    group.addoption("--evidence", default=None, metavar="DIR",
                    help="write an evidence bundle (evidence.json, traces/) to DIR as the run goes")
    group.addoption("--example-db", default=None, metavar="PATH|redis://HOST:PORT",
                    help="Hypothesis example database (failure corpus); default: Hypothesis's local "
                         "directory for certify/hunt, none for ci")
    group.addoption("--screenshot", action="store_true",
                    help="add evidence.png (headless Chromium) to the bundle")
    group.addoption("--signing-key", default=None, metavar="PEM",
                    help="Ed25519 private key (PKCS8 PEM) signing the bundle's manifest (default: fresh key)")


@pytest.hookimpl(trylast=True)  # after Hypothesis's plugin has loaded --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirements(*ids): requirement IDs a test checks (evidence)")
    try:
        factory = parse_target(config.getoption("target"), config.getoption("swtpm_binary"),
                               config.getoption("qemu_binary"))
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    session.configure(factory)
    example_db = config.getoption("example_db")
    if example_db:
        from harness.example_db import load_profile_with_database

        try:
            load_profile_with_database(config.getoption("hypothesis_profile", None) or "ci", example_db)
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
    evidence_dir = config.getoption("evidence")
    if evidence_dir:
        from reports.plugin import EvidenceRecorder

        profile = config.getoption("hypothesis_profile", None) or "ci"
        if profile not in profiles.PROFILES:
            raise pytest.UsageError(f"unknown profile {profile!r} (expected {', '.join(profiles.PROFILES)})")
        from reports.manifest import load_private_key

        key_path = config.getoption("signing_key")
        try:
            key = load_private_key(key_path) if key_path else None
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        try:
            recorder = EvidenceRecorder(config, evidence_dir, factory, profile, key,
                                        screenshot=config.getoption("screenshot"))
        except UsageError as exc:  # e.g. an endpoint that does not answer
            raise pytest.UsageError(str(exc)) from None
        config.pluginmanager.register(recorder, "vtpm-harness-evidence")


@pytest.fixture
def target_factory():
    """The run's target factory: ``target_factory.create()`` gives a fresh target."""
    return session.factory()
