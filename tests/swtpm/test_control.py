"""The control-channel client against real swtpm processes: every CMD_*, exact replies, named results."""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.swtpm import state
from harness.swtpm.control import BLOB, CMD, PTM_CAP, TPM_RESULT, ControlChannel, ControlError, describe_result
from harness.swtpm.data import DataChannel
from harness.swtpm.process import SwtpmProcess, find_swtpm_binary
from harness.targets.swtpm import SwtpmTarget
from tests.swtpm.tpm import (FAILURE, GET_RANDOM, INITIALIZE, STARTUP_CLEAR, SUCCESS, SWTPM, extend, extended,
                             pcr, rc)

pytestmark = SWTPM


def test_results_print_by_name():
    assert str(TPM_RESULT.TPM_BAD_LOCALITY) == "TPM_BAD_LOCALITY (0x3d)"
    assert describe_result(0x800) == "TPM_RETRY (0x800)"
    assert describe_result(0x1234) == "TPM 1.2 result (0x1234)"
    assert str(ControlError(CMD.CMD_STOP, 9)) == "CMD_STOP failed: TPM_FAIL (0x9)"


def test_get_capability_lists_every_request_of_swtpm_0_7(target):
    mask = target.control.get_capability()
    assert mask == (1 << PTM_CAP.index("SEND_COMMAND_HEADER") + 1) - 1  # 0xffff, bits 0-15


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(locality=st.integers(0, 255))
def test_set_locality_accepts_0_to_4_and_stays_in_step(target, locality):
    if locality <= 4:
        target.control.set_locality(locality)
    else:
        with pytest.raises(ControlError) as caught:
            target.control.set_locality(locality)
        assert caught.value.result == TPM_RESULT.TPM_BAD_LOCALITY
        assert "TPM_BAD_LOCALITY (0x3d)" in str(caught.value)
    assert target.control.get_config() == 0  # the next reply is read from its start


def test_init_is_a_tpm_reset_and_delete_volatile_drops_the_stored_state(started):
    volatile = os.path.join(started.state_dir, state.VOLATILE_FILE)
    started.control.store_volatile()
    assert os.path.exists(volatile)
    started.control.init(delete_volatile=True)
    assert not os.path.exists(volatile)
    assert rc(started.transmit(GET_RANDOM)) == SUCCESS  # the stored state said: started
    started.control.init()
    assert rc(started.transmit(GET_RANDOM)) == INITIALIZE


def test_stop_halts_the_tpm_until_init(started):
    started.control.stop()
    assert rc(started.transmit(GET_RANDOM)) == FAILURE
    with pytest.raises(ControlError) as caught:
        started.control.get_tpm_established()
    assert caught.value.result == TPM_RESULT.TPM_BAD_ORDINAL
    started.control.init()
    assert rc(started.transmit(STARTUP_CLEAR)) == SUCCESS


def test_drtm_sets_tpm_established_and_locality_3_resets_it(started):
    control = started.control
    assert control.get_tpm_established() is False
    control.hash_start()
    control.hash_data(b"abc")
    control.hash_end()
    assert control.get_tpm_established() is True
    with pytest.raises(ControlError) as caught:
        control.reset_tpm_established(0)
    assert caught.value.result == TPM_RESULT.TPM_BAD_LOCALITY
    control.reset_tpm_established(3)
    assert control.get_tpm_established() is False


def test_buffer_size_config_cancel_and_info(target):
    control = target.control
    assert control.set_buffer_size() == (4096, 2808, 4096)  # the note: current, minimum, maximum
    with pytest.raises(ControlError) as caught:
        control.set_buffer_size(3000)  # only while the TPM is stopped
    assert caught.value.result == TPM_RESULT.TPM_BAD_ORDINAL
    assert control.get_config() == 0
    control.cancel_tpm_cmd()
    assert control.get_info(1) == {"TPMSpecification": {"family": "2.0", "level": 0, "revision": 164}}
    assert control.get_info(2)["TPMAttributes"]["manufacturer"] == "id:00001014"


def test_failed_replies_with_bodies_are_consumed_whole(target):
    with pytest.raises(ControlError) as caught:
        target.control.get_state_blob(BLOB.SAVESTATE)  # a TPM 2 has none: 16-byte failure reply
    assert caught.value.result == TPM_RESULT.TPM_RETRY
    with pytest.raises(ControlError) as caught:
        target.control.set_state_blob(target.control.get_state_blob(BLOB.PERMANENT))  # TPM running
    assert caught.value.result == TPM_RESULT.TPM_BAD_ORDINAL
    assert target.control.get_config() == 0


def test_state_blobs_move_a_tpm_between_instances(started):
    extend(started, 16, b"carried over")
    blobs = [started.control.get_state_blob(kind) for kind in (BLOB.PERMANENT, BLOB.VOLATILE)]
    assert len(blobs[0].data) > 1000 and not blobs[0].encrypted
    with SwtpmTarget() as other:
        other.control.stop()
        for blob in blobs:
            other.control.set_state_blob(blob)
        other.control.init()
        assert rc(other.transmit(GET_RANDOM)) == SUCCESS  # already started, as the source was
        assert pcr(other, 16) == extended(b"carried over")


def test_shutdown_ends_the_process(target):
    process = target._running().process
    target.control.shutdown()
    assert process.wait(5) == 0


def test_set_datafd_hands_swtpm_its_data_connection(tmp_path):
    """QEMU's way: swtpm with a control channel only, the data socket passed over it."""
    os.mkdir(tmp_path / "state")
    ctrl = str(tmp_path / "ctrl.sock")
    process = SwtpmProcess([find_swtpm_binary(), "socket", "--tpm2", "--ctrl", f"type=unixio,path={ctrl}",
                            "--tpmstate", f"dir={tmp_path / 'state'}", "--flags", "not-need-init"],
                           str(tmp_path / "log"))
    try:
        control = ControlChannel.connect(ctrl, 5, process.check_alive)
        ours, theirs = socket.socketpair()
        control.set_datafd(theirs.fileno())
        theirs.close()
        data = DataChannel.over(ours, 5, "passed data connection")
        assert rc(data.transmit(STARTUP_CLEAR)) == SUCCESS
        data.close()
        control.close()
    finally:
        process.kill()
