"""Startup/Shutdown: TPM Reset / Restart / Resume, the Startup gate, H-CRTM.

Expectations: the classification table of notes/tpm-spec.md section 2 and the
semantics sheet; cases the notes do not cover cite the reference code
(StartupCommands.c) and were measured on swtpm 0.7.1 / libtpms 0.9.2 when
these tests were written.
"""

from __future__ import annotations

import pytest

from models.ops import (Crash, Drtm, GetCapability, GetRandom, PcrEvent, PcrExtend, PcrRead,
                        PcrReset, PowerCycle, Shutdown, Startup)
from models.tpm import PROFILES, TpmModel
from tests.models.expect import (ALGS, RC_INITIALIZE, RC_LOCALITY, RC_VALUE_P1, SHA1, SHA256, h,
                                 extended, ones, zeros)

CLEAR, STATE = 0, 1
MARK = {alg: b"\x5a" * len(zeros(alg)) for alg in ALGS}
# A locality at which each PCR can be extended (sheet table: 17-19 and 21-22 need 2, 20 needs 1-3).
EXTEND_AT = {pcr: 2 for pcr in range(24)}


def fresh(profile: str = "ptp") -> TpmModel:
    return TpmModel(PROFILES[profile])


def started(locality: int = 0, profile: str = "ptp") -> TpmModel:
    model = fresh(profile)
    assert model.apply(Startup(su=CLEAR, locality=locality)).rc == 0
    return model


def initial(alg: int, pcr: int, locality: int = 0) -> bytes:
    """The sheet: FF..FF for 17-22, else 00..00 with PCR0's last byte = startup locality."""
    if 17 <= pcr <= 22:
        return ones(alg)
    if pcr == 0:
        return zeros(alg)[:-1] + bytes([locality])
    return zeros(alg)


def mark_every_pcr(model: TpmModel) -> dict:
    """Extend every PCR once; return the values the test expects."""
    values = {}
    for pcr in range(24):
        old = {alg: model.pcr(alg, pcr) for alg in ALGS}
        assert model.apply(PcrExtend(pcr, tuple(MARK.items()), EXTEND_AT[pcr])).rc == 0
        for alg in ALGS:
            values[alg, pcr] = extended(alg, old[alg], MARK[alg])
    assert all(model.pcr(alg, pcr) == v for (alg, pcr), v in values.items())
    return values


# notes/tpm-spec.md section 2: previous Shutdown x Startup -> kind.
CLASSIFICATION = [
    (None, CLEAR, "reset"),
    (CLEAR, CLEAR, "reset"),
    (STATE, CLEAR, "restart"),
    (STATE, STATE, "resume"),
    (None, STATE, "error"),
    (CLEAR, STATE, "error"),
]


@pytest.mark.parametrize("shutdown,startup,kind", CLASSIFICATION)
@pytest.mark.parametrize("power", [PowerCycle(orderly=True), PowerCycle(orderly=False), Crash()],
                         ids=["power-cycle", "power-cut", "crash"])
def test_startup_classification(shutdown, startup, kind, power):
    model = started()
    marked = mark_every_pcr(model)
    if shutdown is not None:
        assert model.apply(Shutdown(su=shutdown)).rc == 0
    model.apply(power)
    assert not model.started
    outcome = model.apply(Startup(su=startup))
    if kind == "error":
        assert outcome.rc == RC_VALUE_P1
        assert not model.started
        return
    assert outcome.rc == 0 and model.started
    for alg in ALGS:
        for pcr in range(24):
            want = marked[alg, pcr] if kind == "resume" and pcr < 16 else initial(alg, pcr)
            assert model.pcr(alg, pcr) == want, (kind, alg, pcr)


def test_every_command_before_startup_gets_initialize():
    model = fresh()
    for op in (Shutdown(CLEAR), PcrExtend(16, ((SHA256, zeros(SHA256)),)), PcrEvent(16, b"x"),
               PcrReset(16), PcrRead(((SHA1, (0,)),)), GetRandom(8), GetCapability(6, 0x100, 1),
               PcrExtend(24, ((0x12, b""),), 4)):
        assert model.apply(op).rc == RC_INITIALIZE, op
    assert not model.started


def test_second_startup_gets_initialize_even_with_a_bad_value():
    model = started()
    for su in (CLEAR, STATE, 7):
        assert model.apply(Startup(su=su)).rc == RC_INITIALIZE


@pytest.mark.parametrize("locality", [1, 2, 4])
def test_startup_only_at_locality_0_or_3(locality):
    model = fresh()
    assert model.apply(Startup(su=CLEAR, locality=locality)).rc == RC_LOCALITY
    assert not model.started
    assert model.apply(Startup(su=CLEAR, locality=3)).rc == 0


def test_startup_at_locality_3_sets_pcr0_last_byte():
    model = started(locality=3)
    for alg in ALGS:
        assert model.pcr(alg, 0) == zeros(alg)[:-1] + b"\x03"


def test_bad_startup_and_shutdown_types_are_value_parameter_1():
    model = fresh()
    assert model.apply(Startup(su=2)).rc == RC_VALUE_P1
    assert model.apply(Startup(su=CLEAR)).rc == 0
    assert model.apply(Shutdown(su=0x8000)).rc == RC_VALUE_P1


def test_startup_locality_is_checked_before_the_orderly_state():
    # Measured: Startup(STATE) at locality 1 with no saved state -> TPM_RC_LOCALITY.
    assert fresh().apply(Startup(su=STATE, locality=1)).rc == RC_LOCALITY


def test_resume_needs_the_saved_startup_locality():
    model = started(locality=3)
    marked = mark_every_pcr(model)
    model.apply(Shutdown(STATE))
    model.apply(PowerCycle())
    assert model.apply(Startup(STATE, locality=0)).rc == RC_LOCALITY
    assert not model.started
    assert model.apply(Startup(STATE, locality=3)).rc == 0
    assert model.pcr(SHA256, 0) == marked[SHA256, 0]


def test_commands_keep_working_after_shutdown():
    model = started()
    assert model.apply(Shutdown(CLEAR)).rc == 0
    assert model.apply(GetRandom(8)).rc == 0
    assert model.apply(PcrExtend(16, ((SHA1, zeros(SHA1)),))).rc == 0


@pytest.mark.parametrize("pcr,resumes", [(0, False), (15, False), (16, True), (23, True)])
def test_changing_a_state_saved_pcr_after_shutdown_state_cancels_resume(pcr, resumes):
    # Reference g_clearOrderly; measured on swtpm: PCR0 (even with no digest) cancels, PCR16 does not.
    for op in (PcrExtend(pcr, ()), PcrEvent(pcr, b"e")):
        model = started()
        model.apply(Shutdown(STATE))
        assert model.apply(op).rc == 0
        model.apply(PowerCycle())
        assert model.apply(Startup(STATE)).rc == (0 if resumes else RC_VALUE_P1)


def test_shutdown_clear_after_shutdown_state_cancels_resume():
    model = started()
    model.apply(Shutdown(STATE))
    model.apply(Shutdown(CLEAR))
    model.apply(PowerCycle())
    assert model.apply(Startup(STATE)).rc == RC_VALUE_P1


def test_any_successful_startup_ends_the_orderly_state():
    model = started()
    model.apply(Shutdown(STATE))
    model.apply(PowerCycle())
    assert model.apply(Startup(CLEAR)).rc == 0  # TPM Restart
    model.apply(Crash())
    assert model.apply(Startup(STATE)).rc == RC_VALUE_P1


def test_saved_state_survives_several_power_losses_and_failed_startups():
    model = started()
    marked = mark_every_pcr(model)
    model.apply(Shutdown(STATE))
    for power in (Crash(), PowerCycle(orderly=False), PowerCycle()):
        model.apply(power)
        assert model.apply(Startup(STATE, locality=3)).rc == RC_LOCALITY
    assert model.apply(Startup(STATE)).rc == 0
    assert [model.pcr(SHA1, p) for p in range(16)] == [marked[SHA1, p] for p in range(16)]


def test_resume_restores_only_allocated_banks():
    model = TpmModel(PROFILES["libtpms-0.9"], banks=(SHA256,))
    model.apply(Startup(CLEAR))
    model.apply(PcrExtend(5, ((SHA1, zeros(SHA1)), (SHA256, MARK[SHA256]))))
    model.apply(Shutdown(STATE))
    model.apply(PowerCycle())
    model.apply(Startup(STATE))
    assert model.pcr_values()[SHA256, 5] == extended(SHA256, zeros(SHA256), MARK[SHA256])
    assert {alg for alg, _ in model.pcr_values()} == {SHA256}


# --- H-CRTM (sheet vectors; StartupCommands.c / PCR.c) -------------------------------

CRTM_PCR0_SHA256 = bytes.fromhex("aad316f5fd06d8b8bde198c7a5fe3307f672cb57e28fe68902cd2d986b3cca21")


def hcrtm_pcr0(alg: int, data: bytes) -> bytes:
    return h(alg, zeros(alg)[:-1] + b"\x04" + h(alg, data))


@pytest.mark.parametrize("locality", [0, 3])
def test_hcrtm_before_startup_clear_keeps_pcr0(locality):
    model = fresh()
    model.apply(Drtm(b"crtm"))
    assert model.apply(Startup(CLEAR, locality=locality)).rc == 0
    assert model.pcr(SHA256, 0) == CRTM_PCR0_SHA256
    for alg in ALGS:
        assert model.pcr(alg, 0) == hcrtm_pcr0(alg, b"crtm")
        assert model.pcr(alg, 17) == ones(alg)


def test_a_second_hcrtm_replaces_the_first():
    model = fresh()
    model.apply(Drtm(b"first"))
    model.apply(Drtm(b"crtm"))
    model.apply(Startup(CLEAR))
    assert model.pcr(SHA256, 0) == CRTM_PCR0_SHA256


def test_hcrtm_survives_a_failed_startup_but_not_a_power_cycle():
    model = fresh()
    model.apply(Drtm(b"crtm"))
    assert model.apply(Startup(STATE)).rc == RC_VALUE_P1
    assert model.apply(Startup(CLEAR)).rc == 0
    assert model.pcr(SHA256, 0) == CRTM_PCR0_SHA256
    model.apply(PowerCycle())
    model.apply(Drtm(b"crtm"))
    model.apply(PowerCycle())
    model.apply(Startup(CLEAR))
    assert model.pcr(SHA256, 0) == zeros(SHA256)


def test_resume_needs_the_same_hcrtm_status():
    with_hcrtm = fresh()
    with_hcrtm.apply(Drtm(b"crtm"))
    with_hcrtm.apply(Startup(CLEAR, locality=3))  # H-CRTM: the startup counts as locality 0
    with_hcrtm.apply(Shutdown(STATE))
    with_hcrtm.apply(PowerCycle())
    resume_without = with_hcrtm.copy()
    assert resume_without.apply(Startup(STATE)).rc == RC_VALUE_P1
    with_hcrtm.apply(Drtm(b"other"))
    assert with_hcrtm.apply(Startup(STATE, locality=3)).rc == 0
    assert with_hcrtm.pcr(SHA256, 0) == CRTM_PCR0_SHA256  # restored, not the new measurement

    without = started()
    without.apply(Shutdown(STATE))
    without.apply(PowerCycle())
    without.apply(Drtm(b"crtm"))
    assert without.apply(Startup(STATE)).rc == RC_VALUE_P1


# --- pcrUpdateCounter epochs ----------------------------------------------------------

def test_counter_epoch_moves_on_startup_power_and_drtm_only():
    model = fresh()
    epoch = model.counter_epoch
    model.apply(Startup(su=CLEAR, locality=1))  # refused: no new epoch
    assert model.counter_epoch == epoch
    model.apply(Startup(CLEAR))
    assert model.counter_epoch == epoch + 1
    model.apply(PcrExtend(16, ((SHA1, zeros(SHA1)), (SHA256, zeros(SHA256)))))
    model.apply(PcrReset(16))
    model.apply(GetRandom(4))
    assert (model.counter_epoch, model.counter_increments) == (epoch + 1, 3)
    for op in (Drtm(b"x"), PowerCycle(), Crash()):
        before = model.counter_epoch
        model.apply(op)
        assert (model.counter_epoch, model.counter_increments) == (before + 1, 0)
