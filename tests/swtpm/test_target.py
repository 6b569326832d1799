"""The spawned swtpm target against real swtpm processes: the target contract end to end.

Expected response codes are the swtpm note's measured locality table (swtpm
0.7.1 / libtpms 0.9.2); expected digests are computed with hashlib or are
the note's vectors.
"""

from __future__ import annotations

import hashlib
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.targets.base import Capability
from harness.targets.swtpm import SwtpmTarget, find_swtpm_binary
from harness.wire import decode_response, encode_command
from models.ops import GetCapability
from models.tcg import ALG_BY_NAME, TPM_CAP
from tests.swtpm.tpm import (FIXTURES, GET_RANDOM, INITIALIZE, LOCALITY, NV_DEFINE, NV_READ, SHA1, SHA256,
                             STARTUP_CLEAR, SUCCESS, SWTPM, extend, extended, nv_read_data, nv_write, pcr,
                             rc, reset)

pytestmark = SWTPM


def test_a_new_target_is_powered_on_and_awaits_startup(target):
    assert rc(target.transmit(GET_RANDOM)) == INITIALIZE
    assert rc(target.transmit(STARTUP_CLEAR)) == SUCCESS
    assert rc(target.transmit(STARTUP_CLEAR)) == INITIALIZE  # a second Startup is refused
    assert rc(target.transmit(GET_RANDOM)) == SUCCESS


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_both_transports_round_trip(transport):
    with SwtpmTarget(transport=transport) as target:
        assert target.transport == transport
        assert rc(target.transmit(STARTUP_CLEAR)) == SUCCESS


@pytest.mark.parametrize("banks", [("sha1", "sha256"), ("sha256",), ("sha256", "sha384")])
def test_the_tpm_allocates_exactly_the_requested_banks(banks):
    op = GetCapability(TPM_CAP.TPM_CAP_PCRS, 0, 1)
    with SwtpmTarget(banks=banks) as target:
        target.transmit(STARTUP_CLEAR)
        outcome = decode_response(op, target.transmit(encode_command(op)))
        allocated = {alg for alg, pcrs in outcome.value.data if pcrs}
        assert allocated == {int(ALG_BY_NAME[name]) for name in banks}
        assert target.identity()["banks"] == list(banks)


def test_bad_banks_and_transports_fail_early():
    with pytest.raises(ValueError, match="banks"):
        SwtpmTarget(banks=("md5",))
    with pytest.raises(ValueError, match="banks"):
        SwtpmTarget(banks=("sha256", "sha256"))
    with pytest.raises(ValueError, match="transport"):
        SwtpmTarget(transport="udp")


def test_identity_names_the_implementation_as_the_tpm_reports_it(target):
    ident = target.identity()  # before Startup: the template's TPM was asked
    # The note's measured GetCapability values for swtpm 0.7.1 / libtpms 0.9.2.
    assert ident["manufacturer"] == "IBM"
    assert ident["vendor_string"] == "SW   TPM"
    assert (ident["firmware_version_1"], ident["firmware_version_2"]) == ("0x20191023", "0x00163636")
    assert ident["pcr_banks"] == ["sha1", "sha256"]
    assert ident["tpm_specification"] == {"family": "2.0", "level": 0, "revision": 164}
    assert ident["tpm_attributes"]["model"] == "swtpm"
    assert ident["binary"] == find_swtpm_binary()
    assert ident["version"].startswith("TPM emulator version")


def test_capabilities_and_profile():
    assert SwtpmTarget.capabilities == {Capability.LOCALITY, Capability.POWER_CYCLE, Capability.CRASH,
                                        Capability.DRTM, Capability.INSTANCES, Capability.DISK}
    assert SwtpmTarget.profile == "libtpms-0.9"


# PCR 20 reset and PCR 17 extend per locality 0-4 (note, section 4, measured table).
RESET_20 = [LOCALITY, LOCALITY, SUCCESS, LOCALITY, LOCALITY]
EXTEND_17 = [LOCALITY, LOCALITY, SUCCESS, SUCCESS, SUCCESS]


@pytest.mark.parametrize("locality", range(5))
def test_each_command_runs_at_its_own_locality(started, locality):
    assert reset(started, 20, locality) == RESET_20[locality]
    assert extend(started, 17, b"x", locality) == EXTEND_17[locality]


def test_the_framed_locality_wins_over_the_sticky_control_locality(started):
    started.control.set_locality(0)  # another client's setting, as tpm2-tools does at init
    assert reset(started, 20, 2) == SUCCESS
    started.control.set_locality(2)
    assert reset(started, 20, 0) == LOCALITY


def test_concurrent_clients_at_different_localities_each_get_their_own(started):
    """Thread A resets PCR 20 at locality 2 (allowed), thread B at 0 (refused), while B also
    moves swtpm's sticky locality over the control channel.  Every answer must match its issuer."""
    rounds = 300
    results = {2: [], 0: []}

    def client(locality: int) -> None:
        for i in range(rounds):
            if locality == 0 and i % 3 == 0:
                started.control.set_locality(2 if i % 2 else 0)
            results[locality].append(reset(started, 20, locality))

    threads = [threading.Thread(target=client, args=(loc,)) for loc in (2, 0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[2] == [SUCCESS] * rounds
    assert results[0] == [LOCALITY] * rounds


def test_instances_are_independent(started):
    with SwtpmTarget() as other:
        other.transmit(STARTUP_CLEAR)
        assert extend(started, 16, b"only in the first") == SUCCESS
        assert pcr(started, 16) == extended(b"only in the first")
        assert pcr(other, 16) == bytes(32)
        assert reset(other, 20, 2) == SUCCESS  # other's locality is its own


def test_orderly_power_cycle_is_tpm_init(started):
    extend(started, 16, b"before")
    pid = started.pid
    started.power_cycle(orderly=True)
    assert started.pid == pid  # CMD_INIT: same process
    assert rc(started.transmit(GET_RANDOM)) == INITIALIZE  # until Startup
    assert rc(started.transmit(STARTUP_CLEAR)) == SUCCESS
    assert pcr(started, 16) == bytes(32)


@pytest.mark.parametrize("cut", ["crash", "power_cut"])
def test_losing_the_process_keeps_nv_and_loses_pcrs(started, cut):
    assert rc(started.transmit(NV_DEFINE)) == SUCCESS
    assert rc(started.transmit(nv_write(b"durable!"))) == SUCCESS
    extend(started, 16, b"volatile")
    pid = started.pid
    if cut == "crash":
        started.crash()
    else:
        started.power_cycle(orderly=False)
    assert started.pid != pid
    assert rc(started.transmit(GET_RANDOM)) == INITIALIZE
    assert rc(started.transmit(STARTUP_CLEAR)) == SUCCESS
    assert pcr(started, 16) == bytes(32)
    response = started.transmit(NV_READ)
    assert rc(response) == SUCCESS
    assert nv_read_data(response) == b"durable!"


def test_drtm_vector(started):
    started.drtm(b"abc")
    # The note's vectors: PCR17 = H(00..00 || H("abc")) per bank.
    assert pcr(started, 17, SHA256).hex() == "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d"
    assert pcr(started, 17, SHA1).hex() == "ccd5bd41458de644ac34a2478b58ff819bef5acf"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3 * 4088 + 17))
def test_drtm_of_any_length_hashes_all_of_it(started, data):
    """HASH_DATA travels in 4088-byte chunks; the TPM must still hash exactly ``data``."""
    started.drtm(data)
    assert pcr(started, 17, SHA256) == hashlib.sha256(bytes(32) + hashlib.sha256(data).digest()).digest()


def test_swtpm_binary_accepts_any_executable_with_the_socket_command_line():
    wrapper = str(FIXTURES / "exec_swtpm.py")
    with SwtpmTarget(binary=wrapper) as target:
        assert rc(target.transmit(STARTUP_CLEAR)) == SUCCESS
        assert target.identity()["binary"] == wrapper


def test_swtpm_environment_variable_names_the_binary(monkeypatch):
    wrapper = str(FIXTURES / "exec_swtpm.py")
    monkeypatch.setenv("SWTPM", wrapper)
    with SwtpmTarget() as target:
        assert target.binary == wrapper


def test_a_missing_binary_is_a_usage_error():
    with pytest.raises(UsageError, match="not an executable"):
        SwtpmTarget(binary="/nonexistent/swtpm")
