"""The device target: for real against ``swtpm chardev`` on a SOCK_SEQPACKET socketpair
(one write = one command, one read = one response, as /dev/tpm0), and /dev/tpm0 where present."""

from __future__ import annotations

import os
import signal

import pytest

from harness.errors import TargetDied, TargetTimeout, UsageError
from harness.swtpm.chardev import swtpm_chardev
from harness.targets.device import DeviceTarget
from tests.swtpm.tpm import GET_RANDOM, INITIALIZE, STARTUP_CLEAR, SUCCESS, SWTPM, extend, extended, pcr, rc

pytestmark = SWTPM


@pytest.fixture
def device():
    with swtpm_chardev() as target:
        yield target


def test_commands_round_trip_one_write_one_read(device):
    assert rc(device.transmit(GET_RANDOM)) == INITIALIZE
    assert rc(device.transmit(STARTUP_CLEAR)) == SUCCESS
    assert extend(device, 16, b"through the device") == SUCCESS
    assert pcr(device, 16) == extended(b"through the device")
    assert device.identity()["manufacturer"] == "IBM"


def test_a_device_reaches_locality_0_only(device):
    with pytest.raises(ValueError, match="locality 0 only"):
        device.transmit(GET_RANDOM, 1)
    assert DeviceTarget.capabilities == frozenset()


def test_a_device_that_stops_answering_times_out():
    with swtpm_chardev(timeout=0.5) as device:
        os.kill(device.pid, signal.SIGSTOP)
        with pytest.raises(TargetTimeout, match="no response"):
            device.transmit(GET_RANDOM)
        with pytest.raises(TargetDied, match="given up"):
            device.transmit(GET_RANDOM)


def test_a_device_whose_server_dies_is_target_died(device):
    os.kill(device.pid, signal.SIGKILL)
    with pytest.raises(TargetDied, match="killed by SIGKILL"):
        device.transmit(GET_RANDOM)


def test_close_reaps_the_chardev_process(device):
    pid = device.pid
    device.close()
    assert not os.path.exists(f"/proc/{pid}")
    device.close()  # idempotent


def test_a_missing_device_is_a_usage_error():
    with pytest.raises(UsageError, match="cannot open TPM device /nonexistent/tpm0"):
        DeviceTarget("/nonexistent/tpm0")


@pytest.mark.skipif(not os.path.exists("/dev/tpmrm0"), reason="no /dev/tpmrm0 on this machine (no kernel TPM)")
def test_the_kernel_resource_manager_answers():
    with DeviceTarget("/dev/tpmrm0") as device:
        response = device.transmit(GET_RANDOM)
        assert rc(response) == SUCCESS  # firmware and kernel have started the TPM
        assert len(response) == 10 + 2 + 8
