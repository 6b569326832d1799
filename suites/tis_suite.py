"""The TIS register interface itself: locality arbitration and the FIFO, step by step.

Localities 0-3 request, seize, relinquish, write partial commands, abort,
read partial responses and cancel in drawn interleavings; after every step
every locality's TPM_ACCESS and the active locality's TPM_STS are compared
with :mod:`models.tis` (LOC-CONTENTION).  Whole commands run through the
same FIFO at the drawn locality and are checked against models/tpm, so the
locality-gated PCR resets and extends are checked at the register level, and
a command sent after another locality's abandoned command or response proves
isolation: it must run as sent (RESP-WELLFORMED, PCR-*).
"""

from __future__ import annotations

import dataclasses
import functools

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from harness.errors import TargetError
from harness.invariants import Violation
from harness.machine import HarnessMachine, machine_test
from harness.strategies import tpm as draw
from harness.targets.base import Capability
from harness.targets.tis import regs as r
from harness.wire import encode_command
from models import ops
from models.tcg import TPM_SU
from models.tis import TisModel
from models.tis.model import ACTIVE, BEEN_SEIZED

LOCALITIES = (0, 1, 2, 3)  # QEMU ignores writes to the locality-4 window (hardware only)
_locality = st.sampled_from(LOCALITIES)
_read_only = st.sampled_from([ops.GetRandom(16), ops.PcrRead(selection=((0x000B, (0, 16, 23)),))])
_CANCELED = 0x909  # TPM_RC_CANCELED


def _reported(method):
    """Every failure of a step leaves through TisMachine._violation with the register trace: one
    origin for Hypothesis, so a run reports its first finding rather than a group of variants.
    A transport error inside the FIFO flow (Expect or dataAvail out of step) is LOC-CONTENTION."""

    @functools.wraps(method)
    def step(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Violation as exc:
            failure = (exc.requirement, exc.summary)
        except TargetError as exc:
            failure = ("LOC-CONTENTION", f"{type(exc).__name__}: {exc}")
        self._violation(*failure)  # outside the except block: no chained context
    return step


class _HeldFifo:
    """The target as the TPM model's pair sees it: a command at the locality the machine
    holds runs without request/relinquish; at any other it is the whole FIFO flow."""

    def __init__(self, target, machine: "TisMachine") -> None:
        self.target, self.machine = target, machine
        self.name = target.name

    def transmit(self, command: bytes, locality: int = 0) -> bytes:
        return self.machine.run_command(command, locality)

    def close(self) -> None:
        self.target.close()


class TisMachine(HarnessMachine):
    """Locality arbitration and FIFO states of a TIS against models/tis, commands against models/tpm."""

    REQUIREMENTS = ("LOC-CONTENTION", "RESP-WELLFORMED", "PCR-LOCALITY", "PCR-AGREE")
    NEEDS = frozenset({Capability.TIS_REGISTERS})

    def __init__(self) -> None:
        super().__init__()
        self.tpm = self.new_pair()
        self.fifo = self.tpm.target.fifo
        self.tpm.target = _HeldFifo(self.tpm.target, self)
        self.tis = TisModel()
        self.trace: list[str] = []  # the register operations of this example

    # --- register operations, each traced and applied to the model -----------------

    def _write_access(self, locality: int, bit: int, name: str, apply) -> None:
        self.trace.append(f"ACCESS_{locality} <- {bit:#04x} ({name})")
        self.fifo.write_access(locality, bit)
        apply(locality)

    def run_command(self, command: bytes, locality: int) -> bytes:
        held = self.tis.active == locality
        if not held:
            self.trace.append(f"locality {locality}: requestUse")
            self.fifo.request(locality)
            self.tis.request_use(locality)
        self.trace.append(f"locality {locality}: commandReady, {len(command)} command bytes "
                          f"({command[:10].hex()}...), tpmGo, dataAvail, read response")
        self.fifo.command_ready(locality)
        self.tis.command_ready(locality)
        self.fifo.write_command(locality, command)
        self.fifo.go(locality)
        self.fifo.wait_data(locality)
        response = self.fifo.read_response(locality)
        self.fifo.write_sts(locality, r.STS_COMMAND_READY)
        self.tis.command_ready(locality)
        if not held:
            self.trace.append(f"ACCESS_{locality} <- 0x20 (relinquish)")
            self.fifo.relinquish(locality)
            self.tis.relinquish(locality)
        return response

    # --- rules ----------------------------------------------------------------------

    @initialize()
    @_reported
    def power_on(self):
        self.tpm.command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))

    @rule(locality=_locality)
    @_reported
    def request(self, locality):
        self._write_access(locality, r.ACCESS_REQUEST_USE, "requestUse", self.tis.request_use)

    @rule(locality=_locality)
    @_reported
    def relinquish(self, locality):
        self._write_access(locality, r.ACCESS_ACTIVE_LOCALITY, "relinquish", self.tis.relinquish)

    @precondition(lambda self: self.tis.active is not None)
    @rule()
    @_reported
    def relinquish_active(self):
        """The active locality gives the TPM up, whatever its FIFO holds."""
        self.relinquish(self.tis.active)

    @precondition(lambda self: self.tis.active is not None)
    @rule(locality=_locality)
    @_reported
    def seize(self, locality):
        self._write_access(locality, r.ACCESS_SEIZE, "Seize", self.tis.seize)

    @rule(locality=_locality)
    @_reported
    def clear_seized(self, locality):
        self._write_access(locality, r.ACCESS_BEEN_SEIZED, "clear beenSeized", self.tis.clear_seized)

    @rule(burst=st.lists(draw.tpm_command, min_size=1, max_size=4), hold=st.booleans())
    @_reported
    def commands(self, burst, hold):
        """Whole commands, at the held locality if one is active (else each at its own)."""
        for op in burst:
            if self.tis.active is not None and not hold:
                break
            locality = self.tis.active if self.tis.active is not None else min(op.locality, 3)
            self.tpm.command(dataclasses.replace(op, locality=locality))

    @precondition(lambda self: self.tis.active is not None)
    @rule(op=draw.tpm_command, cut=st.floats(0, 1, exclude_max=True))
    @_reported
    def partial_command(self, op, cut):
        """commandReady, then only part of a command: left for an abort, a relinquish or a Seize."""
        locality = self.tis.active
        command = encode_command(op)
        count = int(cut * (len(command) - 1)) + 1
        self.trace.append(f"STS_{locality} <- commandReady; {count} of {len(command)} command bytes")
        self.fifo.command_ready(locality)
        self.tis.command_ready(locality)
        self.fifo.write_bytes(locality, command[:count])
        self.tis.write_fifo(locality, command[:count], command[:count])

    @precondition(lambda self: self.tis.active is not None)
    @rule(op=_read_only, keep=st.integers(0, 12), cancel=st.booleans())
    @_reported
    def partial_response(self, op, keep, cancel):
        """A read-only command runs (maybe cancelled after tpmGo); only ``keep`` response bytes are read."""
        locality = self.tis.active
        command = encode_command(op)
        self.trace.append(f"locality {locality}: commandReady, {len(command)} command bytes, tpmGo"
                          + (", commandCancel" if cancel else "") + f", dataAvail, read {keep} bytes")
        self.fifo.command_ready(locality)
        self.tis.command_ready(locality)
        self.fifo.write_command(locality, command)
        self.tis.write_fifo(locality, command, command)
        self.fifo.go(locality)
        self.tis.go(locality)
        if cancel:
            self.fifo.cancel(locality)
        self.fifo.wait_data(locality)
        head = self.fifo.read_bytes(locality, min(keep, 10))
        size = int.from_bytes(head[2:6], "big") if len(head) >= 6 else None
        self.tis.completed(size if size is not None else keep + 1)
        self.tis.read_fifo(len(head))
        if len(head) == 10:
            rc = int.from_bytes(head[6:10], "big")
            if rc not in (0, _CANCELED) or not cancel and rc:
                self._violation("RESP-WELLFORMED", f"{op!r} at locality {locality} answered rc {rc:#x}")
        if size is None and keep:
            self.tis.fifo = "unknown"  # the response size is not known to the model: predict nothing

    @precondition(lambda self: self.tis.active is not None)
    @rule()
    @_reported
    def abort(self):
        """commandReady from the active locality drops a partial command or an unread response."""
        locality = self.tis.active
        self.trace.append(f"STS_{locality} <- commandReady (abort)")
        self.fifo.command_ready(locality)
        self.tis.command_ready(locality)

    # --- the check after every step -------------------------------------------------

    @invariant()
    @_reported
    def registers_agree(self):
        self.count_step()
        for locality in LOCALITIES:
            observed = self.fifo.access(locality)
            expected = self.tis.access(locality)
            if observed != expected:
                self._violation("LOC-CONTENTION", f"TPM_ACCESS_{locality} reads {observed:#04x}, the spec "
                                f"requires {expected:#04x} ({_access_bits(observed ^ expected)} differ)")
        active = self.tis.active
        if active is not None:
            predicted = self.tis.sts(active)
            if predicted is not None:
                expected, mask = predicted
                observed = self.fifo.sts(active) & mask
                if observed != expected:
                    self._violation("LOC-CONTENTION", f"TPM_STS_{active} & {mask:#04x} reads {observed:#04x}, "
                                    f"the spec requires {expected:#04x} (FIFO state {self.tis.fifo})")

    def _violation(self, requirement: str, summary: str):
        raise Violation(requirement, summary, list(self.trace[-40:]))

    def teardown(self):
        try:
            if self.tis.active is not None:  # leave nothing half done for teardown's QMP quit
                self.fifo.relinquish(self.tis.active)
        except TargetError:
            pass
        super().teardown()


def _access_bits(mask: int) -> str:
    names = {0x80: "tpmRegValidSts", ACTIVE: "activeLocality", BEEN_SEIZED: "beenSeized", 0x08: "Seize",
             0x04: "pendingRequest", 0x02: "requestUse", 0x01: "tpmEstablishment"}
    return ", ".join(name for bit, name in names.items() if mask & bit) or "none"


test_tis_machine = machine_test(TisMachine)
