"""Architecture 1: dom0 measures IMA events into the pTPM, then hands off to its own vTPM.

dom0 (locality 0) and the vTPM manager (locality 2) are client threads on the
one pTPM (:class:`suites.locality_suite.Contended`); dom0's extends may race
the manager's commands.  At a drawn moment the manager starts dom0's vTPM (a
new instance).  Its start mode is drawn: REPLAY, from zero, or MIRROR where the
target can (Xen hwinitpcr: the vTPM starts with the pTPM's PCR10 and some boot
PCRs as they are at its start).  IMA events keep going to the pTPM until dom0
switches; then, in REPLAY, the entries the pTPM holds are replayed into the
vTPM, while in MIRROR the vTPM already holds those measured before its start
(those between its start and the switch stay in the pTPM only); every later
event goes to the vTPM.  Either TPM or the manager may crash at any step: a
pTPM crash is a host reboot (a new log, no vTPM); a vTPM crash loses its PCRs
and the manager replays the log into it again (in MIRROR only the entries after
the switch: the vTPM restarts with the copied PCRs); a manager crash loses its
thread and its in-flight work, and a new one takes over.

After every step the PCR10 of each TPM holding part of the log is read back and
checked against the log with models.ima (IMA-REPLAY, HANDOFF-NOLOSS), then every
PCR against the TPM model (PCR-AGREE).
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness.invariants import (check_handoff_noloss, check_handoff_verifiable, check_ima_replay)
from harness.machine import HarnessMachine, machine_test
from harness.strategies.ima import file_measurements, paths
from harness.targets.base import Capability
from harness.wire import decode_response, encode_command
from models import ops
from models.ima import StartMode, verify_split
from models.ima.replay import IMA_PCR, PER_BANK, extend_digests, replay
from models.tcg import ALG_BY_NAME, TPM_SU
from suites.locality_suite import Contended

DOM0, MANAGER = 0, 1
MODEL = PER_BANK  # Linux 5.8+: each bank extended with its own hash of the template data
_STARTUP = ops.Startup(int(TPM_SU.TPM_SU_CLEAR))
_event = paths().flatmap(lambda path: file_measurements("ima-ng", "sha256", path))
_manager_op = st.one_of(
    st.builds(ops.PcrEvent, pcr=st.sampled_from((16, 20, 21, 22)), data=st.binary(min_size=1, max_size=8)),
    st.builds(ops.PcrReset, pcr=st.sampled_from((16, 20, 21, 22))),
    st.just(ops.PcrRead(selection=((int(ALG_BY_NAME["sha256"]), (IMA_PCR,)),))),
)
# dom0's events, each alone or racing one command of the manager on the pTPM.
_events = st.lists(st.tuples(_event, st.one_of(st.none(), _manager_op)), min_size=1, max_size=4)


class HandoffMachine(HarnessMachine):
    """dom0 measures into the pTPM at locality 0 beside the manager at locality 2, then switches
    to its vTPM (REPLAY or MIRROR start) while events keep coming; crashes of either TPM or the
    manager."""

    REQUIREMENTS = ("HANDOFF-NOLOSS", "HANDOFF-VERIFIABLE", "IMA-REPLAY", "LOC-CONTENTION",
                    "PCR-AGREE", "RESP-WELLFORMED")
    NEEDS = frozenset({Capability.LOCALITY, Capability.INSTANCES})
    RACES = True  # whether dom0's extends may race the manager's commands

    def __init__(self) -> None:
        super().__init__()
        self.caps = self.factory.capabilities
        self.ptpm = self.new_pair("pTPM")
        self.banks = tuple(self.factory.banks)
        self.algs = tuple(int(ALG_BY_NAME[b]) for b in self.banks)
        self.host: Contended | None = None
        self.boot()

    def boot(self) -> None:
        """The host (re)boots: a new log, dom0 on the pTPM, no vTPM."""
        self.log = []
        self.split: int | None = None  # entries the pTPM holds once dom0 has switched
        self.vtpm = None
        self.mode = StartMode.REPLAY
        self.mirrored: dict[str, bytes] | None = None  # MIRROR: the vTPM's PCR10 at its start
        self.mirrored_entries = 0  # MIRROR: the entries the pTPM held when the vTPM started
        self.ptpm.command(_STARTUP)

    @initialize()
    def clients(self):
        self.host = Contended(self.ptpm, [0, 2], ["dom0", "manager"])

    # --- dom0 measures ------------------------------------------------------------

    def extend(self, entry) -> ops.PcrExtend:
        return ops.PcrExtend(IMA_PCR, tuple((alg, extend_digests([entry], bank, MODEL)[0])
                                            for alg, bank in zip(self.algs, self.banks)))

    @rule(events=_events)
    def measure(self, events):
        """IMA appends each entry to the log, then extends it into dom0's current TPM."""
        for entry, manager_op in events:
            self.log.append(entry)
            op = self.extend(entry)
            if self.split is not None:
                self.vtpm.command(op)
            elif manager_op is None:
                self.host.run([(DOM0, op)])
            elif self.RACES:
                self.host.run([(DOM0, op), (MANAGER, manager_op)])
            else:
                self.host.run([(DOM0, op)])
                self.host.run([(MANAGER, manager_op)])

    @rule(commands=st.lists(_manager_op, min_size=1, max_size=4))
    def manager(self, commands):
        """The manager's own work on the pTPM at locality 2."""
        for op in commands:
            self.host.run([(MANAGER, op)])

    # --- the handoff ----------------------------------------------------------------

    @precondition(lambda self: self.vtpm is None)
    @rule(mode=st.sampled_from((StartMode.REPLAY, StartMode.MIRROR)),
          boot_pcrs=st.sets(st.integers(0, 7), max_size=3))
    def start_vtpm(self, mode, boot_pcrs):
        """The manager starts dom0's vTPM, in MIRROR only where the target can: then with PCR10 and
        ``boot_pcrs`` read from the pTPM and copied; dom0 keeps measuring into the pTPM until it
        switches.  A mirror that lost measurements the pTPM held is HANDOFF-NOLOSS."""
        self.vtpm = self.new_pair("vtpm-dom0")
        self.mode = mode if Capability.MIRROR in self.caps else StartMode.REPLAY
        if self.mode is StartMode.MIRROR:
            copied = self.read(self.ptpm, sorted({*boot_pcrs, IMA_PCR}))
            self.vtpm.platform(ops.MirrorPcrs(tuple(
                (alg, tuple(copied[bank].items())) for alg, bank in zip(self.algs, self.banks))))
            self.mirrored = {bank: values[IMA_PCR] for bank, values in copied.items()}
            self.mirrored_entries = len(self.log)
        self.vtpm.command(_STARTUP)
        if self.mode is StartMode.MIRROR:
            started = self.pcr10(self.vtpm)
            if started != self.mirrored:
                lost = [bank for bank in self.banks if started[bank] != self.mirrored[bank]]
                self.vtpm._fail(check_handoff_noloss,
                                f"the vTPM started with PCR10 {', '.join(lost)} not as copied from the pTPM, "
                                f"which held {self.mirrored_entries} log entries then: those measurements "
                                f"are lost from the vTPM's chain")

    @precondition(lambda self: self.vtpm is not None and self.split is None)
    @rule()
    def switch(self):
        """dom0 switches: the entries the pTPM holds are replayed into the vTPM, then it is dom0's."""
        self.split = len(self.log)
        self.replay_into_vtpm()

    def replay_into_vtpm(self) -> None:
        if self.mode is StartMode.REPLAY:
            for entry in self.log[:self.split]:
                self.vtpm.command(self.extend(entry))

    # --- faults ---------------------------------------------------------------------

    @rule(what=st.sampled_from(("manager", "vTPM", "manager", "vTPM", "pTPM")))
    def crash(self, what):
        """The pTPM loses power (the host reboots with it); dom0's vTPM dies and restarts from
        zero (once dom0 uses it, the manager replays the whole log into it, the entries after the
        split too); or the manager's thread dies with whatever it held and a new one takes
        locality 2.  A TPM crash needs a target that can crash."""
        if what == "manager":
            self.host.scheduler.restart(MANAGER)
        elif Capability.CRASH not in self.caps:
            return
        elif what == "pTPM":
            self.ptpm.platform(ops.Crash())
            self.boot()
        elif self.vtpm is not None:
            self.vtpm.platform(ops.Crash())
            self.vtpm.command(_STARTUP)
            if self.split is not None:
                for entry in self.log if self.mode is StartMode.REPLAY else self.log[self.split:]:
                    self.vtpm.command(self.extend(entry))

    # --- checks ---------------------------------------------------------------------

    def pcr10(self, pair) -> dict[str, bytes]:
        """PCR10 of every bank as the target reports it (compared with the log, not the model)."""
        read = ops.PcrRead(selection=tuple((alg, (IMA_PCR,)) for alg in self.algs))
        cmd = encode_command(read)
        rsp = pair.target.transmit(cmd, 0)
        pair.steps.append((pair.instance, read, cmd, rsp))
        return dict(zip(self.banks, decode_response(read, rsp).value.digests))

    def read(self, pair, pcrs) -> dict[str, dict[int, bytes]]:
        """``pcrs`` (at most 8) of every bank, one checked TPM2_PCR_Read per bank, as the manager
        reads them from the pTPM for a mirror."""
        values = {}
        for alg, bank in zip(self.algs, self.banks):
            observed = pair.command(ops.PcrRead(selection=((alg, tuple(pcrs)),)))
            values[bank] = dict(zip(pcrs, observed.value.digests))
        return values

    def replay_check(self, pair, entries, quote, start=None) -> None:
        for bank in self.banks:
            want = replay(entries, bank, MODEL, start=start and start[bank])
            if quote[bank] != want:
                begun = " from the copied PCR10" if start else ""
                pair._fail(check_ima_replay,
                           f"[{pair.instance}] PCR10 {bank} is {quote[bank].hex()}, the replay of the "
                           f"{len(entries)} log entries it holds{begun} gives {want.hex()}")

    @invariant()
    def log_explains_pcrs(self):
        self.count_step()
        held = self.log if self.split is None else self.log[:self.split]
        p_quote = self.pcr10(self.ptpm)
        self.replay_check(self.ptpm, held, p_quote)
        if self.split is not None:
            v_quote = self.pcr10(self.vtpm)
            if self.mode is StartMode.REPLAY:
                self.replay_check(self.vtpm, self.log, v_quote)
                holds = "all of them"
            else:
                self.replay_check(self.vtpm, self.log[self.split:], v_quote, self.mirrored)
                holds = f"the first {self.mirrored_entries} (copied) and those after the split"
            verdict = verify_split(self.log, p_quote, v_quote, self.mode, model=MODEL)
            if not verdict.ok:
                self.ptpm._fail(check_handoff_verifiable,
                                f"the honest split history is rejected: {verdict.reason}")
            mirrored = self.mirrored_entries if self.mode is StartMode.MIRROR else None
            if verdict.split != self.split or verdict.trailing or verdict.mirrored != mirrored:
                self.ptpm._fail(check_handoff_noloss,
                                f"the pTPM holds the first {self.split} of the {len(self.log)} entries and "
                                f"the vTPM {holds}, but the verifier finds: {verdict.reason}")
        self.ptpm.check_pcrs()
        if self.vtpm is not None:
            self.vtpm.check_pcrs()

    @precondition(lambda self: self.split is not None and len(self.log) >= 2)
    @rule(kind=st.sampled_from(("drop", "duplicate", "reorder", "move across the split")),
          where=st.integers(0, 2**16))
    def tamper(self, kind, where):
        """An altered copy of the log must not verify against the two TPMs' PCR10."""
        log, n = list(self.log), len(self.log)
        i = where % n
        if kind == "drop":
            del log[i]
        elif kind == "duplicate":
            log.insert(i, log[i])
        elif kind == "reorder":
            j = (i + 1) % n
            log[i], log[j] = log[j], log[i]
        else:
            if not 0 < self.split < n:
                return
            j = i % self.split  # an entry of the pTPM goes after the split, or back
            k = self.split + where % (n - self.split)
            log.insert(k, log.pop(j))
        if log == self.log:
            return  # identical entries: nothing was altered
        if self.mode is StartMode.MIRROR and self.another_mirror_history(log):
            return  # the same PCR10s come from an honest history with this log: no verifier can tell
        p_quote, v_quote = self.pcr10(self.ptpm), self.pcr10(self.vtpm)
        verdict = verify_split(log, p_quote, v_quote, self.mode, model=MODEL)
        if verdict.ok and verdict.trailing == 0:
            self.ptpm._fail(check_handoff_verifiable,
                            f"the log with entry {i} altered ({kind}) verifies: {verdict.reason}")

    def another_mirror_history(self, log) -> bool:
        """Whether ``log`` is the log of another MIRROR history giving the same PCR10s: the pTPM
        held its first ``split`` entries and, from some mirror point, the vTPM the rest.  With
        hash chains that means the same entries in each TPM's chain: e.g. an entry the pTPM held
        just before the mirror, logged again right after the split (measured twice, once into
        each TPM), extends the vTPM as the copy of it did."""
        split = self.split
        if log[:split] != self.log[:split]:
            return False
        v_chain = self.log[:self.mirrored_entries] + self.log[split:]
        return any(log[:point] + log[split:] == v_chain for point in range(split + 1))

    def teardown(self) -> None:
        if self.host is not None:
            self.host.close()
        super().teardown()


test_handoff_machine = machine_test(HandoffMachine)


class OrderedHandoffMachine(HandoffMachine):
    """The same handoff with the manager's commands after dom0's extends, never racing them:
    the pTPM sees exactly the drawn order, so a failure replays and shrinks exactly."""

    RACES = False
