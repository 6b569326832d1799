"""Policy sessions on swtpm: digests from the TPM, from tpm2-tools and from Part 3's formulas
(hashlib, in this file) agree, and a PCR-sealed index is released iff the PCRs match."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile

import pytest

from harness.driver import Checked
from harness.policy import start_session
from harness.swtpm.process import SwtpmProcess, find_swtpm_binary
from harness.targets.swtpm import SwtpmTarget
from models import ops
from models.tpm import PROFILES, TpmModel
from tests.swtpm.tpm import SHA1, SHA256, SWTPM
from tests.test_serve_emulator import _free_port_pair

pytestmark = SWTPM
CC_POLICY_PCR, CC_POLICY_LOCALITY = 0x17F, 0x16F
POLICY, TRIAL = 1, 3
TOOLS = shutil.which("tpm2_createpolicy") and shutil.which("tpm2_policypcr")


def selection_bytes(selection) -> bytes:
    out = struct.pack(">I", len(selection))
    for alg, pcrs in selection:
        out += struct.pack(">HB", alg, 3) + sum(1 << p for p in pcrs).to_bytes(3, "little")
    return out


def pcr_policy(name: str, old: bytes, selection, values: bytes) -> bytes:
    """Part 3, PolicyPCR: H(old || TPM_CC_PolicyPCR || pcrs || H(PCR values, selection order))."""
    h = lambda data: hashlib.new(name, data).digest()  # noqa: E731
    return h(old + struct.pack(">I", CC_POLICY_PCR) + selection_bytes(selection) + h(values))


def extended(start: bytes, data: bytes, name: str) -> bytes:
    return hashlib.new(name, start + hashlib.new(name, data).digest()).digest()


@pytest.fixture
def pair():
    with SwtpmTarget(banks=("sha1", "sha256")) as target:
        checked = Checked(target, TpmModel(PROFILES[target.profile], banks=(SHA1, SHA256)))
        checked.command(ops.Startup(0))
        yield checked


def _extend(pair: Checked, pcr: int, data: bytes) -> None:
    digests = ((SHA1, hashlib.sha1(data).digest()), (SHA256, hashlib.sha256(data).digest()))
    assert pair.command(ops.PcrExtend(pcr, digests)).rc == 0


@pytest.mark.parametrize("kind", [POLICY, TRIAL])
@pytest.mark.parametrize("alg, name", [(SHA256, "sha256"), (SHA1, "sha1")])
def test_swtpm_policy_digests_equal_part3_formulas(pair, kind, alg, name):
    _extend(pair, 16, b"boot")
    pcr16 = {n: extended(bytes(hashlib.new(n).digest_size), b"boot", n) for n in ("sha1", "sha256")}
    handle = start_session(pair, ops.StartAuthSession(kind, alg, b"\x01" * 20))
    assert handle >> 24 == 0x03
    selection = ((SHA1, (16,)), (SHA256, (0, 16)))
    assert pair.command(ops.PolicyPCR(handle, selection)).rc == 0
    size = hashlib.new(name).digest_size
    want = pcr_policy(name, bytes(size), selection, pcr16["sha1"] + bytes(32) + pcr16["sha256"])
    assert pair.command(ops.PolicyGetDigest(handle)).value == want
    assert pair.command(ops.PolicyLocality(handle, 0x06)).rc == 0
    want = hashlib.new(name, want + struct.pack(">IB", CC_POLICY_LOCALITY, 0x06)).digest()
    assert pair.command(ops.PolicyGetDigest(handle)).value == want
    assert pair.command(ops.PolicyRestart(handle)).rc == 0
    assert pair.command(ops.PolicyGetDigest(handle)).value == bytes(size)


def test_swtpm_releases_sealed_data_iff_the_pcrs_match(pair):
    selection = ((SHA256, (16,)),)
    policy = pcr_policy("sha256", bytes(32), selection, bytes(32))
    attributes = (1 << 19) | (1 << 1) | (1 << 25)  # POLICYREAD | OWNERWRITE | NO_DA
    assert pair.command(ops.NvDefineSpace(0x40000001, 0x01400010, SHA256, attributes, 6, policy)).rc == 0
    assert pair.command(ops.NvWrite(0x40000001, 0x01400010, b"secret")).rc == 0
    handle = start_session(pair, ops.StartAuthSession(POLICY, SHA256))
    assert pair.command(ops.PolicyPCR(handle, selection)).rc == 0
    assert pair.command(ops.NvPolicyRead(0x01400010, 6, handle)) == ops.Outcome(0, b"secret")
    _extend(pair, 16, b"attack")
    assert pair.command(ops.PolicyPCR(handle, selection)).rc == 0
    assert pair.command(ops.NvPolicyRead(0x01400010, 6, handle)).rc == 0x99D  # POLICY_FAIL, session 1
    assert pair.command(ops.PcrReset(16)).rc == 0
    assert pair.command(ops.PolicyRestart(handle)).rc == 0
    assert pair.command(ops.PolicyPCR(handle, selection)).rc == 0
    _extend(pair, 7, b"counted")
    assert pair.command(ops.NvPolicyRead(0x01400010, 6, handle)).rc == 0x128  # TPM_RC_PCR_CHANGED


@pytest.mark.skipif(not TOOLS, reason="tpm2-tools is not installed (Debian package tpm2-tools)")
def test_tpm2_tools_compute_the_same_pcr_policy():
    """tpm2_createpolicy (trial session) and tpm2_startauthsession + tpm2_policypcr, run against a
    swtpm of their own, give the digest of Part 3's formula, the emulator's and the model's."""
    port = _free_port_pair()
    with tempfile.TemporaryDirectory() as work:
        state = os.path.join(work, "state")
        os.mkdir(state)
        argv = [find_swtpm_binary(None), "socket", "--tpm2", "--server", f"type=tcp,port={port}",
                "--ctrl", f"type=tcp,port={port + 1}", "--tpmstate", f"dir={state}",
                "--flags", "not-need-init,startup-clear"]
        env = dict(os.environ, TPM2TOOLS_TCTI=f"swtpm:host=127.0.0.1,port={port}")
        process = SwtpmProcess(argv, os.path.join(work, "swtpm.log"))
        try:
            def tool(*args: str) -> None:
                for _ in range(50):  # the data port listens a few ms after the spawn
                    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=20, cwd=work)
                    if done.returncode == 0 or "onnect" not in done.stderr:
                        break
                assert done.returncode == 0, f"{args}: {done.stderr}"
            tool("tpm2_pcrextend", f"16:sha256={'ab' * 32}")
            tool("tpm2_createpolicy", "--policy-pcr", "-l", "sha256:0,16", "-L", "trial.bin")
            tool("tpm2_startauthsession", "--policy-session", "-S", "session.ctx", "-g", "sha256")
            tool("tpm2_policypcr", "-S", "session.ctx", "-l", "sha256:0,16", "-L", "policy.bin")
            tool("tpm2_flushcontext", "session.ctx")
            process.check_alive()
        finally:
            process.kill()
        digests = {name: open(os.path.join(work, name), "rb").read() for name in ("trial.bin", "policy.bin")}
    pcr16 = hashlib.sha256(bytes(32) + bytes.fromhex("ab" * 32)).digest()
    selection = ((SHA256, (0, 16)),)
    want = pcr_policy("sha256", bytes(32), selection, bytes(32) + pcr16)
    assert digests == {"trial.bin": want, "policy.bin": want}
    model = TpmModel(PROFILES["ptp"], banks=(SHA256,))
    model.apply(ops.Startup(0))
    model.apply(ops.PcrExtend(16, ((SHA256, bytes.fromhex("ab" * 32)),)))
    model.apply(ops.StartAuthSession(TRIAL, SHA256))
    model.follow_session(0x03000000)
    model.apply(ops.PolicyPCR(0x03000000, selection))
    assert model.apply(ops.PolicyGetDigest(0x03000000)).value == want
