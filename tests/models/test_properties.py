"""Hypothesis properties of the model: hash-chain semantics, copies, robustness."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.strategies.tpm import malformed_command, tpm_command
from models.ops import (ANY_ERROR, Crash, Drtm, Outcome, PcrEvent, PcrExtend, PcrRead, PcrReadResult,
                        PcrReset, PowerCycle, Startup)
from models.tpm import PROFILES, TpmModel
from tests.models.expect import ALGS, SHEET_MASKS, SIZES, extended, h, zeros

platform_op = st.one_of(st.builds(PowerCycle, orderly=st.booleans()), st.just(Crash()),
                        st.builds(Drtm, data=st.binary(max_size=16)))
any_op = st.one_of(tpm_command, tpm_command, tpm_command, malformed_command(), platform_op)
profiles = st.sampled_from(sorted(PROFILES))
bank_sets = st.lists(st.sampled_from(ALGS), min_size=1, max_size=4, unique=True).map(tuple)
digest_bytes = {alg: st.binary(min_size=SIZES[alg], max_size=SIZES[alg]) for alg in ALGS}

SETTINGS = settings(max_examples=150, deadline=None)


def started(profile="ptp", banks=ALGS) -> TpmModel:
    model = TpmModel(PROFILES[profile], banks=banks)
    model.apply(Startup(0))
    return model


def snapshot(model: TpmModel):
    return (model.pcr_values(), model.started, model.counter_epoch, model.counter_increments)


@SETTINGS
@given(alg=st.sampled_from(ALGS), data=st.data())
def test_extend_order_matters(alg, data):
    first, second = data.draw(digest_bytes[alg]), data.draw(digest_bytes[alg])
    one_way, other_way = started(), started()
    for model, order in ((one_way, (first, second)), (other_way, (second, first))):
        for digest in order:
            model.apply(PcrExtend(23, ((alg, digest),)))
    assert one_way.pcr(alg, 23) == extended(alg, extended(alg, zeros(alg), first), second)
    assert (one_way.pcr(alg, 23) == other_way.pcr(alg, 23)) == (first == second)


@SETTINGS
@given(steps=st.lists(st.tuples(st.sampled_from([16, 23]), st.sampled_from(["extend", "event", "reset"]),
                                st.binary(max_size=32)), max_size=20),
       banks=bank_sets)
def test_pcr_value_is_the_hash_chain_since_the_last_reset(steps, banks):
    model = started("libtpms-0.9", banks)
    want = {(alg, pcr): zeros(alg) for alg in banks for pcr in (16, 23)}
    for pcr, kind, data in steps:
        if kind == "reset":
            model.apply(PcrReset(pcr))
            want.update({(alg, pcr): zeros(alg) for alg in banks})
        elif kind == "event":
            model.apply(PcrEvent(pcr, data))
            want.update({(alg, pcr): extended(alg, want[alg, pcr], h(alg, data)) for alg in banks})
        else:
            digests = tuple((alg, h(alg, data)) for alg in ALGS)  # every implemented bank listed
            model.apply(PcrExtend(pcr, digests))
            want.update({(alg, pcr): extended(alg, want[alg, pcr], h(alg, data)) for alg in banks})
        assert all(model.pcr(alg, p) == v for (alg, p), v in want.items())


@SETTINGS
@given(profile=profiles, pcr=st.integers(0, 23), locality=st.integers(0, 4), data=st.binary(max_size=8))
def test_reset_then_read_gives_zeros_where_allowed(profile, pcr, locality, data):
    model = started(profile)
    model.apply(PcrEvent(pcr, data, locality=2 if pcr != 20 else 1))
    before = model.pcr_values()
    allowed = SHEET_MASKS[pcr][0] >> locality & 1 and locality != 4
    assert model.apply(PcrReset(pcr, locality)).rc == (0 if allowed else 0x907)
    read = model.apply(PcrRead(tuple((alg, (pcr,)) for alg in ALGS[:2])))
    want = tuple(zeros(alg) if allowed else before[alg, pcr] for alg in ALGS[:2])
    assert read.value.digests == want


@SETTINGS
@given(profile=profiles, banks=bank_sets, ops=st.lists(any_op, max_size=40))
def test_any_sequence_of_operations_is_answered(profile, banks, ops):
    model = TpmModel(PROFILES[profile], banks=banks)
    for op in [Startup(0)] + ops:
        outcome = model.apply(op)
        assert isinstance(outcome, Outcome)
        assert outcome.rc is ANY_ERROR or isinstance(outcome.rc, int)
        if isinstance(outcome.value, PcrReadResult):
            assert len(outcome.value.digests) <= 8
            kept = [(alg, pcr) for alg, pcrs in outcome.value.selection for pcr in pcrs]
            assert list(outcome.value.digests) == [model.pcr(alg, pcr) for alg, pcr in kept]
    values = model.pcr_values()
    assert set(values) == {(alg, pcr) for alg in banks for pcr in range(24)}
    assert all(len(value) == SIZES[alg] for (alg, _), value in values.items())


@SETTINGS
@given(profile=profiles, prefix=st.lists(any_op, max_size=15), suffix=st.lists(any_op, min_size=1, max_size=15))
def test_a_copy_is_independent_and_behaves_the_same(profile, prefix, suffix):
    model = started(profile)
    for op in prefix:
        model.apply(op)
    copy = model.copy()
    frozen = snapshot(model)
    outcomes = [copy.apply(op) for op in suffix]
    assert snapshot(model) == frozen  # the copy's steps left the original alone
    assert [model.apply(op) for op in suffix] == outcomes  # deterministic, same state
    assert snapshot(model) == snapshot(copy)


@SETTINGS
@given(ops=st.lists(any_op, max_size=20))
def test_mutating_the_original_leaves_the_copy_alone(ops):
    model = started()
    model.apply(PcrExtend(16, ((ALGS[0], bytes(20)),)))
    copy = model.copy()
    frozen = snapshot(copy)
    for op in ops + [PcrExtend(16, ((ALGS[1], bytes(32)),)), PowerCycle()]:
        model.apply(op)
    assert snapshot(copy) == frozen
