"""tpm2-tools as an independent client of hash and event sequences.

For input longer than MAX_DIGEST_BUFFER (1024 bytes) tpm2_hash runs TPM2_HashSequenceStart /
SequenceUpdate / SequenceComplete and tpm2_pcrevent an event sequence ending in
TPM2_EventSequenceComplete.  tpm2_hash runs against a spawned swtpm (loopback TCP, the swtpm
TCTI's data port P and control port P+1) and against serve-emulator, tpm2_pcrevent against
swtpm; digests and PCR values are computed here with hashlib.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from harness.swtpm.process import SwtpmProcess, find_swtpm_binary
from harness.swtpm.state import copy_state, template
from tests.test_serve_emulator import Server, _free_port_pair

TOOLS = ("tpm2_startup", "tpm2_hash", "tpm2_pcrevent", "tpm2_pcrread")
_MISSING = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"tpm2-tools missing ({', '.join(_MISSING)})")
DATA = bytes(range(256)) * 12  # 3072 bytes: three sequence blocks and a last one


class SpawnedSwtpm:
    """swtpm socket on loopback ports P and P+1, on a fresh copy of the harness's state template."""

    def __init__(self) -> None:
        binary = find_swtpm_binary()
        self.dir = tempfile.mkdtemp(prefix="vtpm-harness-tools-")
        state = os.path.join(self.dir, "state")
        copy_state(template(binary, ("sha1", "sha256"), 5.0), state)
        self.port = _free_port_pair()
        argv = [binary, "socket", "--tpm2", "--tpmstate", f"dir={state}", "--flags", "not-need-init",
                "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
                "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1"]
        self.process = SwtpmProcess(argv, os.path.join(self.dir, "swtpm.log"))
        deadline = time.monotonic() + 5
        while subprocess.run(["tpm2_startup", "-c"], env=self.env(), capture_output=True).returncode:
            self.process.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("swtpm did not answer tpm2_startup")
            time.sleep(0.05)

    def env(self) -> dict:
        return dict(os.environ, TPM2TOOLS_TCTI=f"swtpm:host=127.0.0.1,port={self.port}")

    def stop(self) -> None:
        self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class ServedEmulator:
    def __init__(self) -> None:
        self.server = Server()
        self.port = self.server.port
        tool(self, "tpm2_startup", "-c")

    def env(self) -> dict:
        return dict(os.environ, TPM2TOOLS_TCTI=f"swtpm:host=127.0.0.1,port={self.port}")

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(params=["swtpm", "serve-emulator"])
def tpm(request):
    if request.param == "swtpm":
        if shutil.which(os.environ.get("SWTPM", "swtpm")) is None:
            pytest.skip("swtpm is not installed")
        spawned = SpawnedSwtpm()
    else:
        spawned = ServedEmulator()
    yield spawned
    spawned.stop()


def tool(tpm, *argv: str) -> str:
    done = subprocess.run(argv, env=tpm.env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{' '.join(argv)}: rc {done.returncode}: {done.stderr.strip()}"
    return done.stdout


def test_tpm2_hash_of_long_input_is_hashlib_digest_with_ticket(tpm, tmp_path):
    source, ticket = tmp_path / "data", tmp_path / "ticket"
    source.write_bytes(DATA)
    out = tool(tpm, "tpm2_hash", "-g", "sha256", "-C", "o", "--hex", "-t", str(ticket), str(source))
    assert out.strip() == hashlib.sha256(DATA).hexdigest()
    raw = ticket.read_bytes()  # TPMT_TK_HASHCHECK: tag, hierarchy, TPM2B_DIGEST
    assert raw[:6] == bytes.fromhex("8024" "40000001")  # TPM_ST_HASHCHECK, TPM_RH_OWNER: a safe first block
    assert int.from_bytes(raw[6:8], "big") == len(raw) - 8 > 0


# swtpm only: tpm2_pcrevent authorizes TPM2_EventSequenceComplete with an HMAC session, and the
# emulator has password and policy authorization but computes no session HMACs.
@pytest.mark.parametrize("tpm", ["swtpm"], indirect=True)
def test_tpm2_pcrevent_of_long_input_extends_every_bank(tpm, tmp_path):
    source = tmp_path / "event"
    source.write_bytes(DATA)
    out = tool(tpm, "tpm2_pcrevent", "16", str(source))
    for bank in ("sha1", "sha256"):
        digest = hashlib.new(bank, DATA).hexdigest()
        assert re.search(rf"{bank}:\s*{digest}", out, re.IGNORECASE), out
        read = tool(tpm, "tpm2_pcrread", f"{bank}:16")
        want = hashlib.new(bank, bytes(hashlib.new(bank).digest_size) + bytes.fromhex(digest)).hexdigest()
        assert want in read.lower().replace("0x", ""), read
