"""Hash and event sequences and the state-dependent GetCapability answers, on the emulator and a
spawned swtpm, each in lockstep with the model (the driver compares every response).

Digests are computed here with hashlib; the transient handles, slot count, ticket rules, codes
and TPMA_CC values are what the reference and libtpms 0.9 (measured through swtpm) agree on.
"""

from __future__ import annotations

import hashlib
import shutil

import pytest

from harness.driver import Checked
from harness.targets.factory import parse_target
from harness.wire import decode_response, encode_command
from models import ops
from models.ops import HashSequenceStart as Start
from models.ops import SequenceComplete as Complete
from models.ops import SequenceUpdate as Update
from models.tcg import ALG_BY_NAME, TPM_CAP, TPM_PT
from models.tpm import PROFILES, TpmModel

NULL, OWNER, PLATFORM = 0x40000007, 0x40000001, 0x4000000C
SHA1, SHA256, ALG_NULL = 0x0004, 0x000B, 0x0010
HASHCHECK = 0x8024
HANDLES, COMMANDS, PROPERTIES = (int(TPM_CAP.TPM_CAP_HANDLES), int(TPM_CAP.TPM_CAP_COMMANDS),
                                 int(TPM_CAP.TPM_CAP_TPM_PROPERTIES))
OWNER_RW_NO_DA = 0x00020002 | 0x02000000


@pytest.fixture(params=["emulator", "swtpm"])
def tpm(request):
    if request.param == "swtpm" and shutil.which("swtpm") is None:
        pytest.skip("swtpm is not installed")
    factory = parse_target(request.param)
    target = factory.create()
    model = TpmModel(PROFILES[factory.profile], banks=tuple(int(ALG_BY_NAME[b]) for b in factory.banks))
    pair = Checked(target, model)
    pair.command(ops.Startup(0))
    yield pair
    target.close()


def test_hash_sequences_give_hashlib_digests(tpm):
    blocks = [b"abc", b"", bytes(range(256)) * 4]
    for alg, name in ((SHA1, "sha1"), (SHA256, "sha256"), (0x000C, "sha384"), (0x000D, "sha512")):
        handle = tpm.command(Start(b"pw", alg)).value
        for block in blocks:
            assert tpm.command(Update(handle, block, b"pw")).rc == 0
        result = tpm.command(Complete(handle, b"end", NULL, b"pw")).value
        assert result.digest == hashlib.new(name, b"".join(blocks) + b"end").digest()
        assert result.ticket == ops.HashCheckTicket(HASHCHECK, NULL, b"")


def test_event_sequence_returns_every_digest_and_extends_the_pcr(tpm):
    handle = tpm.command(Start(b"", ALG_NULL)).value
    tpm.command(Update(handle, b"measured "))
    digests = dict(tpm.command(ops.EventSequenceComplete(23, handle, b"thing")).value)
    for alg, name in ((SHA1, "sha1"), (SHA256, "sha256"), (0x000C, "sha384"), (0x000D, "sha512")):
        assert digests[alg] == hashlib.new(name, b"measured thing").digest()
    tpm.check_pcrs()  # the model extended PCR 23 with the same digests; the target agrees
    for alg in tpm.model.banks:
        assert tpm.model.pcr(alg, 23) == hashlib.new(
            {SHA1: "sha1", SHA256: "sha256", 0x000C: "sha384", 0x000D: "sha512"}[alg],
            bytes(len(digests[alg])) + digests[alg]).digest()


def test_refusals_slots_and_tickets(tpm):
    hashing = tpm.command(Start(b"pw", SHA256)).value
    event = tpm.command(Start(b"", ALG_NULL)).value
    third = tpm.command(Start(b"", SHA1)).value
    assert {hashing, event, third} == {0x80000000, 0x80000001, 0x80000002}
    refusals = [
        (Start(b"", SHA1), 0x902),  # TPM_RC_OBJECT_MEMORY: three slots
        (Start(b"", 0x0099), 0x2C3),  # TPM_RC_HASH + parameter 2
        (Complete(event, b"", NULL), 0x189),  # TPM_RC_MODE + handle 1
        (ops.EventSequenceComplete(16, hashing, b"", b"pw"), 0x289),  # TPM_RC_MODE + handle 2
        (ops.EventSequenceComplete(17, event, b""), 0x907),  # TPM_RC_LOCALITY
        (Update(hashing, b"", b"wrong"), 0x9A2),  # TPM_RC_BAD_AUTH + session 1, no DA
        (Update(hashing, b"x" * 1025, b"pw"), 0x1D5),  # TPM_RC_SIZE + parameter 1
        (Complete(hashing, b"", 0x40000009, b"pw"), 0x2C4),  # TPM_RC_VALUE + parameter 2
        (Update(0x80000003, b""), 0x184),  # beyond the slots: TPM_RC_VALUE + handle 1
        (Update(0x81000000, b""), 0x902),  # a persistent object needs a free slot to load into
    ]
    for op, code in refusals:
        assert tpm.command(op).rc == code, op
    safe = tpm.command(Complete(hashing, b"abcd", PLATFORM, b"pw")).value.ticket  # first block "abcd"
    assert (safe.tag, safe.hierarchy) == (HASHCHECK, PLATFORM) and safe.digest
    assert tpm.command(Update(hashing, b"", b"pw")).rc == 0x910  # flushed: TPM_RC_REFERENCE_H0
    assert tpm.command(Update(0x81000000, b"")).rc == 0x18B  # a free slot, no such object: TPM_RC_HANDLE
    unsafe = tpm.command(Start(b"", SHA256)).value
    tpm.command(Update(unsafe, b"\xffTCG and more"))
    assert tpm.command(Complete(unsafe, b"abcd", OWNER)).value.ticket == ops.HashCheckTicket(HASHCHECK, NULL, b"")


def test_sequences_do_not_survive_resume(tpm):
    handle = tpm.command(Start(b"", SHA256)).value
    tpm.command(ops.Shutdown(1))
    tpm.platform(ops.PowerCycle(True))
    tpm.command(ops.Startup(1))
    assert tpm.command(Update(handle, b"")).rc == 0x910
    assert tpm.command(ops.GetCapability(HANDLES, 0x80000000, 8)).value.data == ()


def test_handles_and_counts_follow_defines_and_sequences(tpm):
    for index, counter in ((0x01000003, True), (0x01000001, False), (0x01000002, True)):
        tpm.command(ops.NvDefineSpace(OWNER, index, SHA256, OWNER_RW_NO_DA | (0x10 if counter else 0), 8))
    tpm.command(ops.NvUndefineSpace(OWNER, 0x01000002))
    opened = [tpm.command(Start(b"", SHA256)).value for _ in range(2)]
    nv = tpm.command(ops.GetCapability(HANDLES, 0x01000000, 8)).value
    assert (nv.more_data, nv.data) == (False, (0x01000001, 0x01000003))  # ascending, not by definition
    paged = tpm.command(ops.GetCapability(HANDLES, 0x01000002, 1)).value
    assert (paged.more_data, paged.data) == (False, (0x01000003,))
    transient = tpm.command(ops.GetCapability(HANDLES, 0x80000000, 1)).value
    assert (transient.more_data, transient.data) == (True, (opened[0],))
    props = dict(tpm.command(ops.GetCapability(PROPERTIES, int(TPM_PT.TPM_PT_HR_NV_INDEX), 9)).value.data)
    assert props[int(TPM_PT.TPM_PT_HR_NV_INDEX)] == 2
    assert props[int(TPM_PT.TPM_PT_NV_COUNTERS)] == 1
    assert props[int(TPM_PT.TPM_PT_HR_TRANSIENT_AVAIL)] == 1
    assert props[int(TPM_PT.TPM_PT_HR_LOADED)] == props[int(TPM_PT.TPM_PT_HR_ACTIVE)] == 0


def test_command_attributes_match_swtpm():
    """TPMA_CC of every emulator command equals libtpms' (both follow the Part 3 tables)."""
    if shutil.which("swtpm") is None:
        pytest.skip("swtpm is not installed")
    from harness.emulator import Emulator

    answers = {}
    for spec in ("emulator", "swtpm"):
        target = parse_target(spec).create()
        try:
            target.transmit(encode_command(ops.Startup(0)))
            rows = []
            for code in sorted(Emulator.commands):
                op = ops.GetCapability(COMMANDS, code, 1)
                rows.append(decode_response(op, target.transmit(encode_command(op))).value.data[0])
            answers[spec] = rows
        finally:
            target.close()
    assert answers["emulator"] == answers["swtpm"]
    assert [a & 0xFFFF for a in answers["emulator"]] == sorted(Emulator.commands)


def test_drtm_with_every_slot_taken_evicts_the_first_sequence(tpm):
    """_TPM_Hash_Start needs an object slot: the lowest loaded handle is flushed for it."""
    opened = [tpm.command(Start(b"", SHA256)).value for _ in range(3)]
    tpm.platform(ops.Drtm(b"1234"))
    assert tpm.command(Update(opened[0], b"")).rc == 0x910
    assert [tpm.command(Update(h, b"")).rc for h in opened[1:]] == [0, 0]
    assert tpm.command(Start(b"", SHA1)).value == opened[0]
