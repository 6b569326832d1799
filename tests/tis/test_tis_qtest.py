"""QEMU's tpm-tis over qtest (with swtpm behind it): the target, the machines, the finding.

Real QEMU and swtpm, started by the harness; skipped only when either is absent.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.invariants import Violation
from harness.targets.factory import parse_target
from harness.targets.tis import regs as r
from harness.wire import encode_command
from models.ops import GetRandom, PcrExtend, PcrRead, Startup
from models.tcg import TPM_ALG
from suites.pcr_suite import PcrMachine
from suites.tis_suite import TisMachine

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None or shutil.which("swtpm") is None,
                                reason="qemu-system-x86_64 or swtpm is not installed")
SMALL = settings(max_examples=3, stateful_step_count=6, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck), phases=[Phase.generate])
SHA256 = int(TPM_ALG.TPM_ALG_SHA256)


@pytest.fixture
def tis():
    target = parse_target("tis+qtest").create()
    yield target
    target.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_extends_at_each_locality_reach_the_tpm_and_close_leaves_no_process():
    target = parse_target("tis+qtest").create()
    pids = target.pids
    try:
        assert target.transmit(encode_command(Startup(0)))[6:10] == bytes(4)
        expected = bytes(32)
        for locality in range(4):  # PCR 16 and 23 may be extended from every locality
            digest = hashlib.sha256(b"loc%d" % locality).digest()
            assert target.transmit(encode_command(PcrExtend(16, ((SHA256, digest),), locality)), locality)[6:10] == bytes(4)
            expected = hashlib.sha256(expected + digest).digest()
        response = target.transmit(encode_command(PcrRead(selection=((SHA256, (16,)),))))
        assert response.endswith(expected)
        ident = target.identity()
        assert (ident["vendor_id"], ident["interface_id"]) == ("0x1014", "0x00002100")
    finally:
        target.close()
    assert not any(_alive(pid) for pid in pids)


def _run(machine) -> None:
    previous = session.factory()
    session.configure(parse_target("tis+qtest"))
    try:
        assert machine.skip_reason(session.factory()) is None
        run_state_machine_as_test(machine, settings=SMALL)
    finally:
        session.configure(previous)


def test_pcr_machine_runs_through_the_tis():
    _run(PcrMachine)


def test_tis_machine_runs_and_reports_deviations_as_loc_contention():
    """A short run passes, or stops at one finding of QEMU's that names LOC-CONTENTION."""
    try:
        _run(TisMachine)
    except Violation as finding:
        assert finding.requirement == "LOC-CONTENTION", finding


def test_qemu_tis_lets_a_new_locality_inherit_a_partial_command(tis):
    """Finding: after locality 0 relinquishes mid-command, locality 1's commandReady does not
    clear the FIFO; its own command is taken as the continuation of locality 0's bytes."""
    fifo = tis.fifo
    tis.transmit(encode_command(Startup(0)))
    command = encode_command(PcrExtend(0, ((int(TPM_ALG.TPM_ALG_SHA1), bytes(20)),), 0))
    fifo.request(0)
    fifo.command_ready(0)
    fifo.write_bytes(0, command[:1])
    fifo.relinquish(0)
    fifo.request(1)
    fifo.command_ready(1)
    fifo.write_bytes(1, command[:5])
    sts = fifo.sts(1)
    # The spec: Expect stays 1 until commandSize (53) bytes of *this* command are in.
    assert sts & (r.STS_VALID | r.STS_EXPECT) == r.STS_VALID, f"QEMU now keeps the FIFOs apart (STS {sts:#x})"


def test_qemu_tis_lets_a_new_locality_inherit_an_unread_response(tis):
    """Finding: locality 0 reads 1 byte of a response and relinquishes; locality 1's commandReady
    does not reset the FIFO, so its 12-byte command stops being expected after 11 bytes."""
    fifo = tis.fifo
    tis.transmit(encode_command(Startup(0)))
    command = encode_command(GetRandom(16))
    fifo.request(0)
    fifo.command_ready(0)
    fifo.write_command(0, command)
    fifo.go(0)
    fifo.wait_data(0)
    fifo.read_bytes(0, 1)
    fifo.relinquish(0)
    fifo.request(1)
    fifo.command_ready(1)
    fifo.write_bytes(1, command[:-1])
    sts = fifo.sts(1)
    # The spec: Expect = 1 until all 12 bytes of this command are in.
    assert sts & (r.STS_VALID | r.STS_EXPECT) == r.STS_VALID, f"QEMU now keeps the FIFOs apart (STS {sts:#x})"
