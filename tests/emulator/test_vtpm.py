"""The emulator's vTPM manager: disks, refusals without them, mirrored PCRs, isolation,
and one scenario per vTPM mutant (test_mutants.py counts them)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from harness.emulator.vtpm import VtpmManager

from .frames import STATE, assert_rc, pcr_extend, pcr_reset, pcr_value, rc, rc_only, shutdown, startup

NV_UNAVAILABLE, FAILURE, INITIALIZE = 0x923, 0x101, 0x100  # TPM_RC (Part 2, 6.6)
OK = rc_only(0)
D = hashlib.sha256(b"measured").digest()
EXTENDED = hashlib.sha256(bytes(32) + D).digest()


def two(mutants=frozenset(), disk=True, without_disk="persistent"):
    manager = VtpmManager(("sha256",), frozenset(mutants), without_disk)
    return manager.create("a", disk), manager.create("b", disk)


def value(vtpm, pcr):
    return pcr_value(vtpm, "sha256", pcr)


def test_without_disk_extends_are_served_shutdown_refused_and_rolled_back():
    a, _ = two(disk=False)
    assert a.execute(startup()) == OK
    assert rc(a.execute(pcr_extend(16, [("sha256", D)]))) == 0
    assert_rc(a.execute(shutdown(STATE)), NV_UNAVAILABLE)
    a.power_on()
    assert rc(a.execute(startup(STATE))) != 0  # the refused Shutdown(STATE) left no orderly state
    assert_rc(a.execute(shutdown(STATE)), INITIALIZE)  # the Startup gate still comes first


def test_late_attach_keeps_pcrs_and_then_persists():
    a, _ = two(disk=False)
    a.execute(startup())
    a.execute(pcr_extend(16, [("sha256", D)]))
    a.attach_disk()
    assert value(a, 16) == EXTENDED
    assert a.execute(shutdown(STATE)) == OK
    a.crash()
    assert a.execute(startup(STATE)) == OK


def test_crash_without_disk_forgets_nv_a_lost_disk_keeps_it():
    a, _ = two()
    a.execute(startup())
    assert a.execute(shutdown(STATE)) == OK
    a.detach_disk()
    a.crash()
    assert rc(a.execute(startup(STATE))) != 0
    a.attach_disk()
    a.power_on()
    assert a.execute(startup(STATE)) == OK


def test_xen_profile_refuses_everything_without_disk():
    a, _ = two(disk=False, without_disk="xen")
    assert_rc(a.execute(startup()), FAILURE)
    a.attach_disk()
    assert a.execute(startup()) == OK


def test_mirrored_pcrs_start_with_the_copied_values():
    a, b = two()
    hw = hashlib.sha256(b"hardware").digest()
    a.mirror_pcrs({0x000B: {10: hw}})
    for v in (a, b):
        v.execute(startup())
    assert value(a, 10) == hw and value(a, 11) == bytes(32) and value(b, 10) == bytes(32)


def test_instances_are_independent():
    a, b = two()
    for v in (a, b):
        v.execute(startup())
    a.execute(pcr_extend(16, [("sha256", D)]))
    a.execute(pcr_reset(16))
    b.execute(pcr_extend(16, [("sha256", D)]))
    a.crash()
    assert value(b, 16) == EXTENDED and b.emu.started


# --- one scenario per vTPM mutant: the clean pair, then the mutated pair --------------

VTPM_SCENARIOS: dict[str, Callable] = {}


def scenario(name: str):
    def register(check):
        VTPM_SCENARIOS[name] = check
        return check
    return register


def _started(mutants, disk=True):
    a, b = two(mutants, disk)
    for v in (a, b):
        v.execute(startup())
    return a, b


@scenario("vtpm-attach-drops-last-extend")
@scenario("vtpm-attach-old-volatile")
def _attach_keeps_extends(mutant, clean):
    a, _ = _started(set() if clean else {mutant}, disk=False)
    a.execute(pcr_extend(16, [("sha256", D)]))
    a.attach_disk()
    assert (value(a, 16) == EXTENDED) == clean


@scenario("vtpm-mirror-wrong-pcr")
def _(mutant, clean):
    a, _ = two(set() if clean else {mutant})
    a.mirror_pcrs({0x000B: {10: D}})
    a.execute(startup())
    assert (value(a, 10) == D) == clean


@scenario("vtpm-mirror-sha1-only")
def _(mutant, clean):
    manager = VtpmManager(("sha1", "sha256"), frozenset() if clean else {mutant})
    a = manager.create("a")
    sha1 = hashlib.sha1(b"hardware").digest()
    a.mirror_pcrs({0x0004: {10: sha1}, 0x000B: {10: D}})
    a.execute(startup())
    assert pcr_value(a, "sha1", 10) == sha1
    assert (value(a, 10) == D) == clean


@scenario("vtpm-reset-leaks")
@scenario("vtpm-extend-misrouted")
def _(mutant, clean):
    a, b = _started(set() if clean else {mutant})
    a.execute(pcr_extend(16, [("sha256", D)]))
    b.execute(pcr_extend(16, [("sha256", D)]))
    b.execute(pcr_reset(16))
    assert (value(a, 16) == EXTENDED and value(b, 16) == bytes(32)) == clean


@scenario("vtpm-crash-takes-all")
def _(mutant, clean):
    a, b = _started(set() if clean else {mutant})
    a.crash()
    assert b.emu.started == clean


@scenario("vtpm-crash-resumes-stale")
def _(mutant, clean):
    a, _ = _started(set() if clean else {mutant})
    a.crash()
    assert (a.execute(startup()) == OK) == clean


@scenario("vtpm-persistent-without-disk")
def _(mutant, clean):
    a, _ = _started(set() if clean else {mutant}, disk=False)
    assert (rc(a.execute(shutdown(STATE))) == NV_UNAVAILABLE) == clean


@scenario("vtpm-extend-needs-disk")
def _(mutant, clean):
    a, _ = _started(set() if clean else {mutant}, disk=False)
    assert (rc(a.execute(pcr_extend(16, [("sha256", D)]))) == 0) == clean


@pytest.mark.parametrize("name", sorted(VTPM_SCENARIOS))
def test_the_vtpm_mutant_changes_behaviour_as_described(name):
    VTPM_SCENARIOS[name](name, clean=True)
    VTPM_SCENARIOS[name](name, clean=False)
