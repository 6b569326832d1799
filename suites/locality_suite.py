"""Locality contention: real client threads at different localities share one TPM.

The scheduler of :mod:`harness.contention` releases the threads in the drawn
order, one at a time or two racing.  Every command is modelled in the order
the target served it: the drawn one for a lone step; for a race, whichever
order of the two agrees with both answers (one of them must).  The commands
are the locality-gated ones (PCR_Reset and PCR_Event of PCRs 16-23, whose
reset/extend masks differ per locality), so a command run at another
client's locality shows as a wrong TPM_RC_LOCALITY or a wrong success.
"""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from harness.contention import Scheduler
from harness.errors import TargetError
from harness import session
from harness.invariants import check_loc_contention, check_resp_wellformed, classify_outcome, rc_text
from harness.machine import HarnessMachine, machine_test
from harness.targets.base import Capability
from harness.trace import describe_op
from harness.wire import WireError, decode_response, encode_command
from models import ops
from models.ops import outcome_matches
from models.tcg import TPM_ALG, TPM_SU

MAX_CLIENTS = 3
BURST = 6
_GATED = (16, 17, 18, 19, 20, 21, 22, 23)
_op = st.one_of(
    st.builds(ops.PcrReset, pcr=st.sampled_from(_GATED)),
    st.builds(ops.PcrEvent, pcr=st.sampled_from(_GATED), data=st.binary(min_size=1, max_size=8)),
    st.builds(ops.PcrRead, selection=st.sampled_from(_GATED).map(
        lambda pcr: ((int(TPM_ALG.TPM_ALG_SHA256), (pcr,)),))),
)
# A step: one client alone, or two different clients racing.
_step = st.lists(st.tuples(st.integers(0, MAX_CLIENTS - 1), _op), min_size=1, max_size=2,
                 unique_by=lambda send: send[0])
_PCR_CHANGERS = (ops.PcrReset, ops.PcrEvent)
_STARTUP = encode_command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))


def _text(outcome, other) -> str:
    """The response code, and the value when only the values differ."""
    if outcome.rc == other.rc and outcome.value is not None:
        return f"{rc_text(outcome.rc)} with {outcome.value}"
    return rc_text(outcome.rc)


class Contended:
    """One checked pair shared by client threads at ``localities``: runs steps of (client, op)
    through the scheduler and checks every answer against the serialization the target took."""

    def __init__(self, pair, localities, names=None) -> None:
        self.tpm = pair
        self.localities = list(localities)
        self.names = names or [f"client {n}" for n in range(len(self.localities))]
        self.scheduler = Scheduler(pair.target, self.localities)

    def run(self, sends):
        """``sends``: one (client, op) alone, or two of different clients racing."""
        tpm = self.tpm
        localized = [dataclasses.replace(op, locality=self.localities[c]) for c, op in sends]
        commands = [encode_command(op) for op in localized]
        try:
            answers = self.scheduler.step([(c, cmd) for (c, _), cmd in zip(sends, commands)])
        except TargetError as exc:
            tpm._fail(check_loc_contention, f"a released command got no single answer: {exc}")
        observed = []
        # Traced under the TPM's instance, as replay re-executes per instance; the op's locality
        # tells the clients apart.
        for (c, _), op, cmd, rsp in zip(sends, localized, commands, answers):
            tpm.commands += 1
            if isinstance(rsp, TargetError):
                tpm.steps.append((tpm.instance, op, cmd, None))
                tpm._fail(check_resp_wellformed, describe_op(op), f"no response ({rsp})")
            tpm.steps.append((tpm.instance, op, cmd, rsp))
            try:
                observed.append(decode_response(op, rsp))
            except WireError as exc:
                tpm._fail(check_loc_contention, f"{self.who(c)} {describe_op(op)}: the answer does "
                          f"not parse as its response (misrouted or malformed): {exc}")
        self.settle(sends, localized, observed)

    def settle(self, sends, localized, observed):
        """Adopt the model of a serialization (program order kept) that explains every answer."""
        orders = [(0,)] if len(localized) == 1 else [(0, 1), (1, 0)]
        explained, problems = [], []
        for order in orders:
            model = self.tpm.model.copy()
            problem = None
            for i in order:
                expected = model.apply(localized[i])
                if problem is None and not outcome_matches(expected, observed[i]):
                    problem = (i, expected)
            (problems if problem else explained).append(problem or model)
        if not explained:  # a wrong response code points at the culprit better than a read
            culprit = min(problems, key=lambda problem: observed[problem[0]].rc == problem[1].rc)
            self.unexplained(sends, localized, observed, culprit)
        changed = sorted({op.pcr for op, out in zip(localized, observed)
                          if out.rc == 0 and isinstance(op, _PCR_CHANGERS)})
        self.tpm.adopt(self.order_taken(explained, changed), changed)

    def unexplained(self, sends, localized, observed, problem):
        """No serialization explains the answers: the command ran at another locality
        (LOC-CONTENTION) unless a fresh target of the same spec, serving it alone, answers it
        the same way (then the target's locality table or PCRs are wrong: PCR-LOCALITY etc.)."""
        i, expected = problem
        op, got = localized[i], observed[i]
        what = f"{self.who(sends[i][0])} {describe_op(op)}"
        if self.solo_rc(op) == got.rc:
            self.tpm._fail(classify_outcome, op, what, expected, got)
        race = " (in either order of the race)" if len(sends) > 1 else ""
        self.tpm._fail(check_loc_contention,
                       f"{what}: returned {_text(got, expected)}, a TPM running it at locality "
                       f"{op.locality} returns {_text(expected, got)}{race}")

    @staticmethod
    def solo_rc(op) -> int:
        """``op``'s response code on a fresh target of the run's spec with one client: after
        Startup, sent twice at its locality (the second run at that locality whatever the
        target's switching does)."""
        target = session.factory().create()
        try:
            target.transmit(_STARTUP, 0)
            command = encode_command(op)
            target.transmit(command, op.locality)
            return decode_response(op, target.transmit(command, op.locality)).rc
        finally:
            target.close()

    def order_taken(self, models, changed):
        """Of the models that explain a race, the one whose PCRs the target now holds."""
        if len(models) == 1 or not changed or models[0].pcr_values() == models[1].pcr_values():
            return models[0]
        read = ops.PcrRead(selection=tuple((alg, tuple(changed)) for alg in self.tpm.model.banks))
        cmd = encode_command(read)
        rsp = self.tpm.target.transmit(cmd, 0)
        self.tpm.steps.append((self.tpm.instance, read, cmd, rsp))
        values = decode_response(read, rsp).value.digests
        for model in models:
            if tuple(model.pcr(alg, pcr) for alg, pcrs in read.selection for pcr in pcrs) == values:
                return model
        return models[0]  # neither: the sweep reports the PCRs that differ

    def who(self, client: int) -> str:
        return f"{self.names[client]} (locality {self.localities[client]})"

    def close(self) -> None:
        self.scheduler.close()


class ContentionMachine(HarnessMachine):
    """Two or three client threads at distinct localities send locality-gated PCR commands to
    one target, interleaved and raced as drawn; each must run at its sender's locality."""

    REQUIREMENTS = ("LOC-CONTENTION", "PCR-AGREE", "RESP-WELLFORMED")
    NEEDS = frozenset({Capability.LOCALITY})
    RACES = True  # whether a step may release two clients at once

    def __init__(self) -> None:
        super().__init__()
        self.tpm = self.new_pair()
        self.shared: Contended | None = None  # the clients, once their localities are drawn

    @initialize(localities=st.lists(st.integers(0, 4), min_size=2, max_size=MAX_CLIENTS, unique=True))
    def clients(self, localities):
        self.tpm.command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
        self.shared = Contended(self.tpm, localities)

    @rule(steps=st.lists(_step, min_size=1, max_size=BURST))
    def interleave(self, steps):
        n = len(self.shared.localities)
        for step in steps:
            sends = [(c % n, op) for c, op in step]
            if len(sends) == 2 and sends[0][0] == sends[1][0]:
                sends = sends[:1]  # a client cannot race itself
            if self.RACES:
                self.run(sends)
            else:
                for send in sends:
                    self.run([send])

    def run(self, sends):
        self.shared.run(sends)

    @invariant()
    def pcrs_agree(self):
        self.count_step()
        self.tpm.check_pcrs()

    def teardown(self) -> None:
        if self.shared is not None:
            self.shared.close()
        super().teardown()


test_contention_machine = machine_test(ContentionMachine)


class OrderedContentionMachine(ContentionMachine):
    """The same clients, each step releasing one: the target sees exactly the drawn order, so a
    failure replays and shrinks exactly (a race's order is the target's choice)."""

    RACES = False
