"""The attach target against a swtpm started outside it (``swtpm+tcp://HOST:PORT?ctrl=PORT``)."""

from __future__ import annotations

import socket
import time

import pytest

from harness.errors import UsageError
from harness.swtpm import state
from harness.swtpm.process import SwtpmProcess, find_swtpm_binary
from harness.targets.base import Capability
from harness.targets.swtpm import SwtpmAttachTarget
from tests.swtpm.tpm import GET_RANDOM, INITIALIZE, LOCALITY, SHA256, STARTUP_CLEAR, SUCCESS, SWTPM, pcr, rc, reset

pytestmark = SWTPM


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def endpoint(tmp_path):
    """A swtpm of the test's own on loopback ports: (port, ctrl_port)."""
    binary = find_swtpm_binary()
    state.copy_state(state.template(binary, ("sha1", "sha256"), 5.0), str(tmp_path / "state"))
    port, ctrl = _free_port(), _free_port()
    process = SwtpmProcess([binary, "socket", "--tpm2", "--tpmstate", f"dir={tmp_path / 'state'}",
                            "--flags", "not-need-init", "--server", f"type=tcp,port={port}",
                            "--ctrl", f"type=tcp,port={ctrl}"], str(tmp_path / "log"))
    try:
        yield port, ctrl, process
    finally:
        process.kill()


def _attach(endpoint) -> SwtpmAttachTarget:
    port, ctrl, process = endpoint
    deadline = time.monotonic() + 5
    while True:  # until swtpm listens (a few ms)
        try:
            return SwtpmAttachTarget("127.0.0.1", port, ctrl, timeout=5)
        except UsageError:
            process.check_alive()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def test_attach_speaks_localities_power_cycles_and_drtm(endpoint):
    with _attach(endpoint) as target:
        assert rc(target.transmit(STARTUP_CLEAR)) == SUCCESS
        assert reset(target, 20, 2) == SUCCESS
        assert reset(target, 20, 0) == LOCALITY
        target.drtm(b"abc")
        assert pcr(target, 17, SHA256).hex() == "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d"
        ident = target.identity()
        assert ident["manufacturer"] == "IBM" and ident["tpm_attributes"]["model"] == "swtpm"
        target.power_cycle(orderly=True)
        assert rc(target.transmit(GET_RANDOM)) == INITIALIZE
        with pytest.raises(NotImplementedError, match="cannot lose power"):
            target.power_cycle(orderly=False)
        with pytest.raises(NotImplementedError):
            target.crash()
    assert endpoint[2].returncode is None  # detaching leaves the endpoint running


def test_identity_before_startup_says_why_properties_are_missing(endpoint):
    with _attach(endpoint) as target:
        assert target.identity()["tpm_properties"] == "unavailable: TPM_RC_INITIALIZE (0x100)"
        target.transmit(STARTUP_CLEAR)
        assert target.identity()["manufacturer"] == "IBM"


def test_attach_capabilities_leave_out_process_control():
    assert SwtpmAttachTarget.capabilities == {Capability.LOCALITY, Capability.POWER_CYCLE, Capability.DRTM}


def test_nothing_listening_is_a_usage_error():
    port = _free_port()
    with pytest.raises(UsageError, match="cannot connect"):
        SwtpmAttachTarget("127.0.0.1", port, port, timeout=1)
