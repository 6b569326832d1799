"""NV indices in the model and on the wire: Names from the Part 2 layout (hashlib), open values,
durability across power cuts; the NV machine itself runs in suites/nv_suite.py."""

from __future__ import annotations

import hashlib
import struct

import pytest

from harness.wire import decode_response, encode_command, encode_response
from models import ops
from models.ops import AtLeast, Outcome, Partly, outcome_matches
from models.tcg import TPM_SU
from models.tpm import TpmModel

OWNER, PLATFORM, INDEX = 0x40000001, 0x4000000C, 0x01500016
SHA256 = 0x000B
# TPMA_NV_OWNERREAD | OWNERWRITE | AUTHREAD | AUTHWRITE | NO_DA
RW = 0x00020000 | 0x00000002 | 0x00040000 | 0x00000004 | 0x02000000
WRITTEN, ORDERLY, COUNTER = 0x20000000, 0x04000000, 0x10


def name(index: int, attributes: int, size: int, policy: bytes = b"") -> bytes:
    """Part 2 TPMS_NV_PUBLIC (nvIndex, nameAlg, attributes, authPolicy, dataSize) and the Name,
    nameAlg || H(TPMS_NV_PUBLIC), written here from the spec text."""
    public = struct.pack(">IHIH", index, SHA256, attributes, len(policy)) + policy + struct.pack(">H", size)
    return struct.pack(">H", SHA256) + hashlib.sha256(public).digest()


def started() -> TpmModel:
    model = TpmModel()
    assert model.apply(ops.Startup(int(TPM_SU.TPM_SU_CLEAR))).rc == 0
    return model


def test_the_name_covers_the_written_attribute():
    model = started()
    assert model.apply(ops.NvDefineSpace(OWNER, INDEX, SHA256, RW, 8)).rc == 0
    before = model.apply(ops.NvReadPublic(INDEX)).value
    assert before.name == name(INDEX, RW, 8) and before.attributes == RW
    assert model.apply(ops.NvWrite(OWNER, INDEX, b"ab", 3)).rc == 0
    after = model.apply(ops.NvReadPublic(INDEX)).value
    assert after.name == name(INDEX, RW | WRITTEN, 8) != before.name


def test_unwritten_octets_are_open_written_ones_exact():
    model = started()
    model.apply(ops.NvDefineSpace(OWNER, INDEX, SHA256, RW, 4))
    model.apply(ops.NvWrite(OWNER, INDEX, b"ab", 1))
    expected = model.apply(ops.NvRead(OWNER, INDEX, 4))
    assert outcome_matches(expected, Outcome(0, b"\xffab\xff"))
    assert outcome_matches(expected, Outcome(0, b"\x00ab\x00"))
    assert not outcome_matches(expected, Outcome(0, b"\x00aX\x00"))
    assert isinstance(expected.value, Partly)


def test_an_orderly_counter_after_a_power_cut_is_at_least_its_last_count():
    model = started()
    model.apply(ops.NvDefineSpace(OWNER, INDEX, SHA256, RW | ORDERLY | COUNTER, 8))
    model.apply(ops.NvIncrement(OWNER, INDEX))
    read = ops.NvRead(OWNER, INDEX, 8)
    model.nv_observe(read, Outcome(0, (5).to_bytes(8, "big")))  # the TPM's first count
    model.apply(ops.NvIncrement(OWNER, INDEX))
    assert model.apply(read).value == (6).to_bytes(8, "big")
    model.apply(ops.PowerCycle(orderly=False))
    model.apply(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
    expected = model.apply(read)
    assert isinstance(expected.value, AtLeast)
    assert outcome_matches(expected, Outcome(0, (6 + 256).to_bytes(8, "big")))
    assert not outcome_matches(expected, Outcome(0, (5).to_bytes(8, "big")))


def test_a_non_orderly_write_survives_a_power_cut_and_an_orderly_one_a_reset_does_not():
    model = started()
    plain, orderly = INDEX, INDEX + 1
    model.apply(ops.NvDefineSpace(OWNER, plain, SHA256, RW, 2))
    model.apply(ops.NvDefineSpace(OWNER, orderly, SHA256, RW | ORDERLY, 2))
    for index in (plain, orderly):
        assert model.apply(ops.NvWrite(OWNER, index, b"ok")).rc == 0
    model.apply(ops.Crash())
    model.apply(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
    assert model.apply(ops.NvRead(OWNER, plain, 2)) == Outcome(0, b"ok")
    assert model.apply(ops.NvRead(OWNER, orderly, 2)).rc == 0x14A  # TPM_RC_NV_UNINITIALIZED


WRITEDEFINE, WRITELOCKED = 0x2000, 0x800
LOCKABLE_COUNTER = RW | ORDERLY | COUNTER | WRITEDEFINE


def locked_counter() -> TpmModel:
    """A written, write-locked orderly WRITEDEFINE counter; the lock is only in RAM so far."""
    model = started()
    model.apply(ops.NvDefineSpace(OWNER, INDEX, SHA256, LOCKABLE_COUNTER, 8))
    model.apply(ops.NvIncrement(OWNER, INDEX))
    assert model.apply(ops.NvWriteLock(OWNER, INDEX)).rc == 0
    return model


def test_a_lock_set_since_the_last_shutdown_may_be_lost_in_a_crash_until_read_public_shows_it():
    """Part 2 TPMA_NV_ORDERLY: index state need only be saved by TPM2_Shutdown; libtpms 0.9
    drops such a lock (NvReadPublic shows WRITELOCKED clear after the crash)."""
    model = locked_counter()
    model.apply(ops.Crash())
    model.apply(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
    locked, unlocked = RW | ORDERLY | COUNTER | WRITEDEFINE | WRITTEN | WRITELOCKED, LOCKABLE_COUNTER | WRITTEN
    expected = model.apply(ops.NvReadPublic(INDEX))
    for attributes in (locked, unlocked):
        public = ops.NvPublicResult(INDEX, SHA256, attributes, b"", 8, name(INDEX, attributes, 8))
        assert outcome_matches(expected, Outcome(0, public))
    wrong_name = ops.NvPublicResult(INDEX, SHA256, unlocked, b"", 8, name(INDEX, locked, 8))
    assert not outcome_matches(expected, Outcome(0, wrong_name))
    seen = ops.NvPublicResult(INDEX, SHA256, unlocked, b"", 8, name(INDEX, unlocked, 8))
    model.nv_observe(ops.NvReadPublic(INDEX), Outcome(0, seen))
    assert model.apply(ops.NvReadPublic(INDEX)) == Outcome(0, seen)
    assert model.apply(ops.NvIncrement(OWNER, INDEX)).rc == 0


def test_a_lock_saved_by_shutdown_survives_the_power_cut():
    model = locked_counter()
    model.apply(ops.Shutdown(int(TPM_SU.TPM_SU_CLEAR)))
    model.apply(ops.PowerCycle(orderly=True))
    model.apply(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
    public = model.apply(ops.NvReadPublic(INDEX)).value
    assert type(public) is ops.NvPublicResult and public.attributes & WRITELOCKED
    assert model.apply(ops.NvIncrement(OWNER, INDEX)).rc == 0x148  # TPM_RC_NV_LOCKED


@pytest.mark.parametrize("op, outcome", [
    (ops.NvRead(OWNER, INDEX, 3), Outcome(0, b"abc")),
    (ops.NvWrite(INDEX, INDEX, b"x", 2, b"pw"), Outcome(0)),
    (ops.NvDefineSpace(PLATFORM, INDEX, SHA256, RW, 8), Outcome(0)),
    (ops.NvReadPublic(INDEX), Outcome(0, ops.NvPublicResult(INDEX, SHA256, RW, b"", 8, name(INDEX, RW, 8)))),
    (ops.NvIncrement(OWNER, INDEX), Outcome(0x149)),
])
def test_nv_responses_round_trip(op, outcome):
    assert decode_response(op, encode_response(op, outcome)) == outcome


def test_nv_write_bytes_follow_part_3():
    cmd = encode_command(ops.NvWrite(OWNER, INDEX, b"xy", 5, b"pw"))
    auth = struct.pack(">IHBH", 0x40000009, 0, 0, 2) + b"pw"
    body = struct.pack(">II", OWNER, INDEX) + struct.pack(">I", len(auth)) + auth + b"\x00\x02xy\x00\x05"
    assert cmd == struct.pack(">HII", 0x8002, 10 + len(body), 0x137) + body

