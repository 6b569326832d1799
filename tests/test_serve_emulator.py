"""serve-emulator: swtpm's protocol in front of the built-in emulator, driven by real clients.

Real tpm2-tools (swtpm TCTI: a new data connection per command, the control
port at data port + 1) check the server against the reference model
(profile "ptp") and hashlib; the PCR machine then runs over the harness's
own ``swtpm+tcp://`` attach target.  Control-channel tests use the harness's
control client (harness.swtpm.control), whose layouts were measured on swtpm.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from harness import session
from harness.errors import UsageError
from harness.invariants import Violation
from harness.serve import add_parser, serve
from harness.swtpm.control import INFO_TPMSPECIFICATION, PTM_CAP, ControlChannel, ControlError, TPM_RESULT
from harness.swtpm.data import DataChannel
from harness.targets.factory import parse_target
from models import ops
from models.tcg import TPM_ALG, TPM_RC, TPM_SU
from models.tpm import PROFILES, TpmModel
from suites.pcr_suite import PcrMachine

TOOLS = ("tpm2_startup", "tpm2_pcrread", "tpm2_pcrextend", "tpm2_pcrreset", "tpm2_getrandom", "tpm2_getcap")
_MISSING = [t for t in TOOLS if shutil.which(t) is None]
needs_tools = pytest.mark.skipif(bool(_MISSING), reason=f"tpm2-tools missing ({', '.join(_MISSING)})")
SHA1, SHA256 = int(TPM_ALG.TPM_ALG_SHA1), int(TPM_ALG.TPM_ALG_SHA256)
ALL_BANKS = tuple(int(a) for a in (TPM_ALG.TPM_ALG_SHA1, TPM_ALG.TPM_ALG_SHA256,
                                   TPM_ALG.TPM_ALG_SHA384, TPM_ALG.TPM_ALG_SHA512))


def _free_port_pair() -> int:
    """A loopback port P with P+1 also free right now (the swtpm TCTI's rule)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no pair of free loopback ports")


class Server:
    """serve() in a thread on free ports P (data) and P+1 (control); stopped by stop()."""

    def __init__(self, **kwargs) -> None:
        self.stop_event = threading.Event()
        ready = threading.Event()
        self.error: BaseException | None = None
        for _ in range(5):
            self.port = _free_port_pair()
            self.ctrl_port = self.port + 1

            def run() -> None:
                try:
                    serve(self.port, self.ctrl_port, ready=ready.set, stop=self.stop_event, **kwargs)
                except BaseException as exc:  # reported to the test
                    self.error = exc
                    ready.set()
            self.thread = threading.Thread(target=run, daemon=True)
            self.thread.start()
            ready.wait(5)
            if self.error is None:
                return
            ready.clear()
            self.error = None  # ports taken in between: try another pair
        raise RuntimeError("serve() did not start")

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.stop()


def _tool(server: Server, *argv: str) -> str:
    env = dict(os.environ, TPM2TOOLS_TCTI=f"swtpm:host=127.0.0.1,port={server.port}")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{' '.join(argv)}: rc {done.returncode}: {done.stderr.strip()}"
    return done.stdout


def _pcrread(server: Server, spec: str) -> dict[tuple[str, int], bytes]:
    """tpm2_pcrread's YAML as {(bank, pcr): value}."""
    values, bank = {}, None
    for line in _tool(server, "tpm2_pcrread", spec).splitlines():
        if m := re.fullmatch(r"\s*(sha\d+):\s*", line):
            bank = m.group(1)
        elif m := re.fullmatch(r"\s*(\d+)\s*:\s*0x([0-9A-Fa-f]+)\s*", line):
            values[(bank, int(m.group(1)))] = bytes.fromhex(m.group(2))
    return values


# --- real tpm2-tools against the reference model -------------------------------------


@pytest.mark.tools
@needs_tools
def test_tpm2_tools_agree_with_the_model_and_hashlib(server):
    model = TpmModel(PROFILES["ptp"], banks=ALL_BANKS)
    assert model.apply(ops.Startup(int(TPM_SU.TPM_SU_CLEAR))).rc == 0
    _tool(server, "tpm2_startup", "-c")

    initial = _pcrread(server, "sha1:16+sha256:16")
    assert initial == {("sha1", 16): model.pcr(SHA1, 16), ("sha256", 16): model.pcr(SHA256, 16)}
    assert initial[("sha256", 16)] == bytes(32)

    digest = hashlib.sha256(b"serve-emulator").digest()
    assert model.apply(ops.PcrExtend(16, ((SHA256, digest),))).rc == 0
    _tool(server, "tpm2_pcrextend", f"16:sha256={digest.hex()}")
    extended = _pcrread(server, "sha1:16+sha256:16")
    assert extended[("sha256", 16)] == hashlib.sha256(bytes(32) + digest).digest()
    assert extended == {("sha1", 16): model.pcr(SHA1, 16), ("sha256", 16): model.pcr(SHA256, 16)}
    assert extended[("sha1", 16)] == bytes(20)  # only the bank listed is extended

    assert model.apply(ops.PcrReset(16)).rc == 0
    _tool(server, "tpm2_pcrreset", "16")
    assert _pcrread(server, "sha1:16+sha256:16") == {("sha1", 16): bytes(20), ("sha256", 16): bytes(32)}

    random_hex = _tool(server, "tpm2_getrandom", "8", "--hex").strip()
    assert model.apply(ops.GetRandom(8)).rc == 0
    assert re.fullmatch(r"[0-9a-f]{16}", random_hex), random_hex

    banks = dict(re.findall(r"-\s*(sha\d+):\s*\[([^\]]*)\]", _tool(server, "tpm2_getcap", "pcrs")))
    assert sorted(banks) == sorted(TPM_ALG(alg).name.removeprefix("TPM_ALG_").lower() for alg in model.banks)
    for pcrs in banks.values():
        assert [int(p) for p in pcrs.split(",")] == list(range(24))


@pytest.mark.tools
@needs_tools
def test_tools_see_a_drtm_sent_over_the_control_channel(server):
    _tool(server, "tpm2_startup", "-c")
    control = ControlChannel.connect(("127.0.0.1", server.ctrl_port), 5.0)
    try:
        control.hash_start()
        control.hash_data(b"abc")
        control.hash_end()
    finally:
        control.close()
    # notes/swtpm.md section 3: PCR17 = H(00..00 || H(data)) in every bank.
    want = hashlib.sha256(bytes(32) + hashlib.sha256(b"abc").digest()).digest()
    assert want.hex() == "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d"
    assert _pcrread(server, "sha256:17")[("sha256", 17)] == want


def _run_pcr_machine(server: Server, phases=tuple(Phase)) -> int:
    """PcrMachine over swtpm+tcp:// against ``server``; the number of examples run."""
    spec = (f"swtpm+tcp://127.0.0.1:{server.port}?ctrl={server.ctrl_port}&profile=ptp"
            "&banks=sha1,sha256,sha384,sha512")
    previous = session.factory()
    session.configure(parse_target(spec))
    before = session.counters.examples
    try:
        assert PcrMachine.skip_reason(session.factory()) is None
        run_state_machine_as_test(PcrMachine, settings=settings(
            max_examples=20, stateful_step_count=10, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck), phases=phases))
    finally:
        session.configure(previous)
    return session.counters.examples - before


@pytest.mark.tools
def test_the_pcr_machine_passes_over_the_attach_target(server):
    assert _run_pcr_machine(server) >= 20


@pytest.mark.tools
def test_the_pcr_machine_finds_a_bug_planted_in_the_served_emulator():
    srv = Server(mutants=frozenset({"extend-skips-last-bank"}))
    try:
        with pytest.raises(Violation, match="PCR-AGREE|PCR-INIT"):
            _run_pcr_machine(srv, phases=(Phase.generate,))  # no shrinking: finding it is the point
    finally:
        srv.stop()


# --- the protocol itself ----------------------------------------------------------------


def test_control_channel_advertises_send_command_header_and_refuses_unknown_codes(server):
    control = ControlChannel.connect(("127.0.0.1", server.ctrl_port), 5.0)
    try:
        mask = control.get_capability()
        assert mask & (1 << PTM_CAP.index("SEND_COMMAND_HEADER"))
        assert mask & (1 << PTM_CAP.index("INIT")) and mask & (1 << PTM_CAP.index("HASHING"))
        assert not mask & (1 << PTM_CAP.index("GET_STATEBLOB"))  # not implemented, not advertised
        assert control.get_info(INFO_TPMSPECIFICATION)["TPMSpecification"]["family"] == "2.0"
        assert control.set_buffer_size(0) == (4096, 2808, 4096)
        assert control.get_config() == 0
        with pytest.raises(ControlError) as refused:
            control.set_locality(5)
        assert refused.value.result == TPM_RESULT.TPM_BAD_LOCALITY
        with pytest.raises(ControlError) as unknown:
            control.store_volatile()  # CMD 0x0a: not implemented here
        assert unknown.value.result == TPM_RESULT.TPM_BAD_ORDINAL
    finally:
        control.close()


def _rc(response: bytes) -> int:
    return int.from_bytes(response[6:10], "big")


STARTUP_CLEAR = bytes.fromhex("80010000000c000001440000")
SHUTDOWN_CLEAR = bytes.fromhex("80010000000c000001450000")
GET_RANDOM_8 = bytes.fromhex("80010000000c0000017b0008")
PCR_RESET_20 = bytes.fromhex("80020000001b0000013d00000014" "00000009" "40000009" "0000" "00" "0000")


def test_prefix_locality_sticks_for_plain_commands_and_stop_init_resets(server):
    data = DataChannel.connect(("127.0.0.1", server.port), 5.0)
    control = ControlChannel.connect(("127.0.0.1", server.ctrl_port), 5.0)
    try:
        assert _rc(data.transmit(STARTUP_CLEAR, 0)) == 0
        assert _rc(data.transmit(PCR_RESET_20, 0)) == TPM_RC.TPM_RC_LOCALITY  # PTP: PCR 20 resets at 2
        assert _rc(data.transmit(PCR_RESET_20, 2)) == 0
        with socket.create_connection(("127.0.0.1", server.port), 5.0) as plain:
            plain.sendall(PCR_RESET_20)  # plain framing: the locality last set (2, by the prefix)
            assert _rc(plain.recv(64)) == 0
        control.set_locality(0)
        with socket.create_connection(("127.0.0.1", server.port), 5.0) as plain:
            plain.sendall(PCR_RESET_20)
            assert _rc(plain.recv(64)) == TPM_RC.TPM_RC_LOCALITY
        control.stop()
        assert _rc(data.transmit(GET_RANDOM_8, 0)) == TPM_RC.TPM_RC_FAILURE
        control.init()  # _TPM_Init: awaits Startup again
        assert _rc(data.transmit(GET_RANDOM_8, 0)) == TPM_RC.TPM_RC_INITIALIZE
        assert _rc(data.transmit(STARTUP_CLEAR, 0)) == 0
        assert _rc(data.transmit(GET_RANDOM_8, 0)) == 0
    finally:
        data.close()
        control.close()


def test_shutdown_ends_serve():
    srv = Server()
    control = ControlChannel.connect(("127.0.0.1", srv.ctrl_port), 5.0)
    try:
        control.shutdown()
    finally:
        control.close()
    srv.thread.join(5)
    assert not srv.thread.is_alive()


def test_a_port_in_use_is_a_usage_error(server):
    with pytest.raises(UsageError, match="in use"):
        serve(server.port, server.port + 2)
    with pytest.raises(UsageError, match="loopback"):
        serve(1, 2, host="192.0.2.1")


def _parse(*argv: str):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["serve-emulator", *argv])


def test_the_command_line_refuses_bad_banks_mutants_and_busy_ports(server):
    for argv, reason in ((["--banks", "sha1,md5"], "--banks"), (["--mutant", "no-such-bug"], "unknown mutant")):
        args = _parse("--port", "1", "--ctrl-port", "2", *argv)
        with pytest.raises(UsageError, match=reason):
            args.func(args)
    args = _parse("--port", str(server.port), "--ctrl-port", str(server.port + 2))
    with pytest.raises(UsageError, match="in use"):
        args.func(args)


def test_the_command_line_serves_until_cmd_shutdown():
    port = _free_port_pair()
    args = _parse("--port", str(port), "--ctrl-port", str(port + 1), "--banks", "sha256")
    result = []
    thread = threading.Thread(target=lambda: result.append(args.func(args)), daemon=True)
    thread.start()
    control = ControlChannel.connect(("127.0.0.1", port + 1), 5.0, check=lambda: None)  # retry until it listens
    try:
        control.shutdown()
    finally:
        control.close()
    thread.join(5)
    assert result == [0]
