"""The emulator's hash and event sequences, checked against hashlib and the Part 3 rules.

Commands are built by the wire layer (an implementation apart from the emulator); digests
are computed here with hashlib.  SEQUENCE_SCENARIOS show each sequence mutant changing the
bytes as its description says (tests/emulator/test_mutants.py requires one per mutant).
"""

from __future__ import annotations

import hashlib
import struct

import pytest

from harness.emulator import Emulator
from harness.wire import decode_response, encode_command
from models.ops import (EventSequenceComplete, GetCapability, HashSequenceStart, NvDefineSpace, SequenceComplete,
                        SequenceUpdate)

from .frames import pcr_value, rc, startup

NULL, OWNER, ENDORSEMENT = 0x40000007, 0x40000001, 0x4000000B
SHA1, SHA256, ALG_NULL = 0x0004, 0x000B, 0x0010
HASHCHECK = 0x8024


def run(tpm: Emulator, op, locality: int = 0):
    return decode_response(op, tpm.execute(encode_command(op), locality))


def started(*mutants: str) -> Emulator:
    tpm = Emulator(mutants=frozenset(mutants))
    assert rc(tpm.execute(startup())) == 0
    return tpm


def start(tpm: Emulator, alg: int = SHA256, auth: bytes = b"") -> int:
    outcome = run(tpm, HashSequenceStart(auth, alg))
    assert outcome.rc == 0, hex(outcome.rc)
    return outcome.value


def test_hash_sequence_digest_is_the_hash_of_all_blocks():
    tpm = started()
    handle = start(tpm, SHA256, b"seq")
    assert handle >> 24 == 0x80
    for block in (b"abc", b"", b"d" * 1024):
        assert run(tpm, SequenceUpdate(handle, block, b"seq")).rc == 0
    result = run(tpm, SequenceComplete(handle, b"tail", NULL, b"seq")).value
    assert result.digest == hashlib.sha256(b"abc" + b"d" * 1024 + b"tail").digest()
    assert (result.ticket.tag, result.ticket.hierarchy, result.ticket.digest) == (HASHCHECK, NULL, b"")
    assert run(tpm, SequenceUpdate(handle, b"x", b"seq")).rc == 0x910  # flushed: TPM_RC_REFERENCE_H0


def test_ticket_for_a_hierarchy_depends_on_the_first_block():
    tpm = started()
    safe = start(tpm)
    ticket = run(tpm, SequenceComplete(safe, b"abcdef", OWNER)).value.ticket
    assert (ticket.tag, ticket.hierarchy) == (HASHCHECK, OWNER) and len(ticket.digest) == 32
    for first in (b"abc", b"\xffTCGxyz"):  # shorter than TPM_GENERATED_VALUE, or starting with it
        unsafe = start(tpm)
        assert run(tpm, SequenceUpdate(unsafe, first)).rc == 0
        ticket = run(tpm, SequenceComplete(unsafe, b"abcdef", ENDORSEMENT)).value.ticket
        assert (ticket.hierarchy, ticket.digest) == (NULL, b"")


def test_event_sequence_extends_every_allocated_bank_and_returns_every_digest():
    tpm = started()
    handle = start(tpm, ALG_NULL, b"e")
    assert run(tpm, SequenceUpdate(handle, b"event ", b"e")).rc == 0
    outcome = run(tpm, EventSequenceComplete(16, handle, b"data", b"e"))
    assert outcome.rc == 0
    want = {alg: hashlib.new(name, b"event data").digest()
            for alg, name in ((SHA1, "sha1"), (SHA256, "sha256"), (0x0C, "sha384"), (0x0D, "sha512"))}
    assert dict(outcome.value) == want
    for alg, name in ((SHA1, "sha1"), (SHA256, "sha256")):
        assert pcr_value(tpm, name, 16) == hashlib.new(name, bytes(want[alg].__len__()) + want[alg]).digest()


def test_sequence_rules():
    tpm = started()
    hashing, event = start(tpm, SHA1, b"pw"), start(tpm, ALG_NULL)
    assert run(tpm, SequenceComplete(event, b"", NULL)).rc == 0x189  # TPM_RC_MODE + handle 1
    assert run(tpm, EventSequenceComplete(16, hashing, b"", b"pw")).rc == 0x289  # TPM_RC_MODE + handle 2
    assert run(tpm, EventSequenceComplete(17, event, b"")).rc == 0x907  # PCR 17 at locality 0
    assert run(tpm, SequenceUpdate(hashing, b"x", b"wrong")).rc == 0x9A2  # TPM_RC_BAD_AUTH + session 1
    assert run(tpm, SequenceUpdate(hashing, b"x" * 1025, b"pw")).rc == 0x1D5  # TPM_RC_SIZE + parameter 1
    assert run(tpm, SequenceComplete(hashing, b"", 0x40000009, b"pw")).rc == 0x2C4  # not a hierarchy
    assert run(tpm, SequenceUpdate(0x80000005, b"")).rc == 0x184  # beyond the slots: TPM_RC_VALUE
    assert run(tpm, SequenceUpdate(0x81000000, b"")).rc == 0x18B  # no persistent object
    assert run(tpm, HashSequenceStart(b"", 0x0099)).rc == 0x2C3  # TPM_RC_HASH + parameter 2
    start(tpm)
    assert run(tpm, HashSequenceStart(b"", SHA1)).rc == 0x902  # TPM_RC_OBJECT_MEMORY


@pytest.mark.parametrize("shutdown", [None, 0, 1])
def test_sequences_are_lost_at_init_and_startup(shutdown):
    tpm = started()
    handle = start(tpm)
    if shutdown is not None:
        tpm.execute(struct.pack(">HIIH", 0x8001, 12, 0x145, shutdown))
    tpm.power_on()
    assert rc(tpm.execute(startup(1 if shutdown == 1 else 0))) == 0  # even a Resume keeps none
    assert run(tpm, SequenceUpdate(handle, b"")).rc == 0x910
    assert tpm.sequences.handles() == []


def test_drtm_evicts_the_first_object_when_every_slot_is_taken():
    tpm = started()
    handles = [start(tpm) for _ in range(3)]
    tpm.drtm(b"1234")
    assert run(tpm, SequenceUpdate(handles[0], b"")).rc == 0x910
    assert [run(tpm, SequenceUpdate(h, b"")).rc for h in handles[1:]] == [0, 0]


def test_flush_frees_the_slot():
    tpm = started()
    handle = start(tpm)
    assert tpm.sequences.flush(handle) and not tpm.sequences.flush(handle)
    assert start(tpm) == handle


# --- mutant scenarios ---------------------------------------------------------------------

SEQUENCE_SCENARIOS = {}  # the sequence and capability-of-state mutants


def scenario(name: str):
    def register(check):
        SEQUENCE_SCENARIOS[name] = check
        return check
    return register


def _both(clean, bug, *ops):
    return [[run(tpm, op) for op in ops] for tpm in (clean, bug)]


@scenario("sequence-update-drops-block")
def _(clean, bug):
    for tpm in (clean, bug):
        handle = start(tpm, SHA256)
        run(tpm, SequenceUpdate(handle, b"first"))
        run(tpm, SequenceUpdate(handle, b"second"))
        tpm.result = run(tpm, SequenceComplete(handle, b"", NULL)).value.digest
    assert clean.result == hashlib.sha256(b"firstsecond").digest()
    assert bug.result == hashlib.sha256(b"first").digest()


@scenario("event-sequence-skips-bank")
def _(clean, bug):
    for tpm in (clean, bug):
        handle = start(tpm, ALG_NULL)
        assert run(tpm, EventSequenceComplete(16, handle, b"x")).rc == 0
    x1, x512 = hashlib.sha1(b"x").digest(), hashlib.sha512(b"x").digest()
    assert pcr_value(bug, "sha1", 16) == pcr_value(clean, "sha1", 16) == hashlib.sha1(bytes(20) + x1).digest()
    assert pcr_value(clean, "sha512", 16) == hashlib.sha512(bytes(64) + x512).digest()
    assert pcr_value(bug, "sha512", 16) == bytes(64)


@scenario("sequence-survives-startup")
def _(clean, bug):
    for tpm in (clean, bug):
        tpm.handle = start(tpm)
        tpm.power_on()
        assert rc(tpm.execute(startup())) == 0
    assert run(clean, SequenceUpdate(clean.handle, b"")).rc == 0x910  # TPM_RC_REFERENCE_H0
    assert run(bug, SequenceUpdate(bug.handle, b"")).rc == 0


@scenario("sequence-ticket-checks-last-block")
def _(clean, bug):
    for tpm in (clean, bug):
        handle = start(tpm)
        run(tpm, SequenceUpdate(handle, b"ab"))  # a first block too short for a ticket
        tpm.result = run(tpm, SequenceComplete(handle, b"abcdef", OWNER)).value.ticket.hierarchy
    assert (clean.result, bug.result) == (NULL, OWNER)


@pytest.mark.parametrize("name", sorted(SEQUENCE_SCENARIOS))
def test_the_sequence_mutant_changes_behaviour_as_described(name):
    SEQUENCE_SCENARIOS[name](started(), started(name))


# --- GetCapability of state (harness/emulator/live_capability.py) -------------------------


def capability(tpm: Emulator, cap: int, prop: int, count: int):
    return run(tpm, GetCapability(cap, prop, count)).value


@scenario("handles-capability-misses-nv-index")
def _(clean, bug):
    for tpm in (clean, bug):
        for index in (0x01000002, 0x01000001):
            assert run(tpm, NvDefineSpace(OWNER, index, SHA256, 0x02020002, 8)).rc == 0
    assert capability(clean, 1, 0x01000000, 8).data == (0x01000001, 0x01000002)
    assert capability(bug, 1, 0x01000000, 8).data == (0x01000001,)


@scenario("transient-avail-not-updated")
def _(clean, bug):
    for tpm in (clean, bug):
        start(tpm)
    assert capability(clean, 6, 0x207, 1).data == ((0x207, 2),)  # TPM_PT_HR_TRANSIENT_AVAIL
    assert capability(bug, 6, 0x207, 1).data == ((0x207, 3),)


def test_handles_capability_lists_each_type_from_property_on():
    tpm = started()
    opened = [start(tpm) for _ in range(2)]
    assert capability(tpm, 1, 0x80000000, 8).data == tuple(opened)
    more = capability(tpm, 1, 0x80000000, 1)
    assert (more.more_data, more.data) == (True, (opened[0],))
    pcrs = capability(tpm, 1, 0x00000014, 8)
    assert (pcrs.more_data, pcrs.data) == (False, (20, 21, 22, 23))
    permanent = capability(tpm, 1, 0x40000000, 8).data
    assert {OWNER, NULL, 0x40000009} <= set(permanent) and list(permanent) == sorted(permanent)
    assert capability(tpm, 1, 0x02000000, 8).data == capability(tpm, 1, 0x81000000, 8).data == ()
    assert run(tpm, GetCapability(1, 0x05000000, 8)).rc == 0x2CB  # no such handle type


def test_commands_capability_lists_every_command_once():
    tpm = started()
    listed = capability(tpm, 2, 0, 300)
    assert not listed.more_data and [a & 0xFFFF for a in listed.data] == sorted(tpm.commands)
    paged = capability(tpm, 2, 0x15C, 2)
    assert paged.more_data and [a & 0xFFFF for a in paged.data] == sorted(c for c in tpm.commands if c >= 0x15C)[:2]
    # TPMA_CC of TPM2_EventSequenceComplete: cHandles 2, flushed, nv (Part 2, 8.9; Part 3, 17.6)
    assert capability(tpm, 2, 0x185, 1).data == (0x185 | 2 << 25 | 1 << 24 | 1 << 22,)


def test_an_open_sequence_survives_a_deepcopy_checkpoint():
    import copy

    tpm = started()
    handle = start(tpm)
    run(tpm, SequenceUpdate(handle, b"before "))
    checkpoint = copy.deepcopy(tpm.__dict__)  # as the vTPM manager does
    run(tpm, SequenceUpdate(handle, b"lost"))
    tpm.__dict__.update(checkpoint)
    digest = run(tpm, SequenceComplete(handle, b"after", NULL)).value.digest
    assert digest == hashlib.sha256(b"before after").digest()
