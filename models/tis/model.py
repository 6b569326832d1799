"""Locality arbitration (TPM_ACCESS_x) and the FIFO state (TPM_STS_x) of a TIS, from the PTP text.

Pure: register writes go in as (locality, value), the register values the
spec requires come out.  Only what the spec pins down is predicted:

- TPM_ACCESS_x of every locality: tpmRegValidSts = 1; activeLocality = this
  locality is the active one; requestUse = this locality's request is
  pending; pendingRequest = some *other* locality's request is pending;
  beenSeized = this locality lost the TPM to a Seize and has not cleared it;
  tpmEstablishment = 1 until a hash sequence ran; Seize reads 0.
- requestUse is granted at once when no locality is active, else it stays
  pending; a write of activeLocality by the active locality relinquishes,
  and the highest pending locality (localities are ordered by priority,
  4 highest) is then granted.  Seize by a locality higher than the active
  one makes it active and sets beenSeized in the loser.
- TPM_STS_x of the active locality once it has written commandReady
  (Ready), while it writes a command (Reception: Expect = 1 until
  commandSize bytes are in), and after tpmGo once the response is there
  (Completion: dataAvail = 1 until the last response byte is read).
  stsValid = 1 while receiving and in Completion (the flow's checks of Expect
  and dataAvail rely on it); in Ready the spec does not say, so it is masked.  Before commandReady after a locality
  change the FIFO state is not predicted (:data:`FIFO_UNKNOWN`): the spec
  leaves when an Idle TPM raises commandReady to the implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOCALITIES = 5
VALID, ACTIVE, BEEN_SEIZED, SEIZE, PENDING, REQUEST_USE, ESTABLISHMENT = 0x80, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
STS_VALID, COMMAND_READY, DATA_AVAIL, EXPECT = 0x80, 0x40, 0x10, 0x08
STS_CHECKED = STS_VALID | COMMAND_READY | DATA_AVAIL | EXPECT  # the low-byte bits the model predicts

# Named allowances: where the spec text at hand leaves a case open, the model follows one reading,
# says which, and quotes the text.  The summary of the PTP in the project's spec note reads
# "activeLocality ... Write 1 by the active locality = relinquish"; a write of 1 by a locality
# that is *not* active is not defined there.  Reading taken: a locality withdraws its own pending
# request with it (QEMU 7.2 does so); no other effect.
WITHDRAW_ON_INACTIVE_RELINQUISH = "withdraw-on-inactive-relinquish"
ALLOWANCES = {WITHDRAW_ON_INACTIVE_RELINQUISH: 'PTP summary: "activeLocality: Write 1 by the active '
              'locality = relinquish" (a write by another locality is not defined)'}

FIFO_UNKNOWN = "unknown"  # no commandReady written since the locality became active
READY, RECEPTION, EXECUTION, COMPLETION = "ready", "reception", "execution", "completion"


@dataclass
class TisModel:
    """One TIS: which locality is active, which requests and seizures are pending, the FIFO."""

    active: int | None = None
    requests: set[int] = field(default_factory=set)
    seized: set[int] = field(default_factory=set)
    established: bool = False  # tpmEstablishment reads 1 while False
    fifo: str = FIFO_UNKNOWN
    command_size: int | None = None  # from the header, once 6 command bytes are in
    received: int = 0
    response_left: int = 0

    # --- TPM_ACCESS_x -------------------------------------------------------------

    def access(self, locality: int) -> int:
        value = VALID
        if not self.established:
            value |= ESTABLISHMENT
        if self.active == locality:
            value |= ACTIVE
        if locality in self.requests:
            value |= REQUEST_USE
        if self.requests - {locality}:
            value |= PENDING
        if locality in self.seized:
            value |= BEEN_SEIZED
        return value

    def request_use(self, locality: int) -> None:
        if self.active is None:
            self._grant(locality)
        elif self.active != locality:
            self.requests.add(locality)

    def relinquish(self, locality: int) -> None:
        """activeLocality written 1: the active locality relinquishes; another withdraws its
        pending request (allowance :data:`WITHDRAW_ON_INACTIVE_RELINQUISH`)."""
        if self.active != locality:
            self.requests.discard(locality)
            return
        self.active = None
        if self.requests:
            self._grant(max(self.requests))
        else:
            self._forget_fifo()

    def seize(self, locality: int) -> None:
        """Honoured only from a locality higher than the active one."""
        if self.active is None or locality <= self.active:
            return
        self.seized.add(self.active)
        self._grant(locality)

    def clear_seized(self, locality: int) -> None:
        self.seized.discard(locality)

    def _grant(self, locality: int) -> None:
        self.active = locality
        self.requests.discard(locality)
        self._forget_fifo()

    def _forget_fifo(self) -> None:
        """A locality change abandons the command or response of the one before."""
        self.fifo = FIFO_UNKNOWN
        self.command_size = None
        self.received = 0
        self.response_left = 0

    # --- TPM_STS_x of the active locality -------------------------------------------

    def sts(self, locality: int) -> tuple[int, int] | None:
        """(value, mask) of the STS low-byte bits the spec predicts, or None where it predicts nothing."""
        if locality != self.active or self.fifo in (FIFO_UNKNOWN, EXECUTION):
            return None
        if self.fifo == READY:
            return COMMAND_READY, STS_CHECKED & ~STS_VALID
        if self.fifo == RECEPTION:
            return STS_VALID | (EXPECT if self.expecting else 0), STS_CHECKED
        return STS_VALID | (DATA_AVAIL if self.response_left else 0), STS_CHECKED

    @property
    def expecting(self) -> bool:
        return self.command_size is None or self.received < self.command_size

    def command_ready(self, locality: int) -> None:
        """commandReady written by the active locality: any command or response is dropped."""
        if locality == self.active:
            self._forget_fifo()
            self.fifo = READY

    def write_fifo(self, locality: int, data: bytes, header: bytes) -> None:
        """``data`` written to the FIFO; ``header`` is the command's first bytes so far plus ``data``."""
        if locality != self.active or self.fifo not in (READY, RECEPTION):
            return
        self.fifo = RECEPTION
        self.received += len(data)
        if self.command_size is None and len(header) >= 6:
            self.command_size = int.from_bytes(header[2:6], "big")

    def go(self, locality: int) -> None:
        if locality == self.active and self.fifo == RECEPTION and not self.expecting:
            self.fifo = EXECUTION

    def completed(self, response_size: int) -> None:
        """The TPM finished: the response is in the FIFO."""
        self.fifo = COMPLETION
        self.response_left = response_size

    def read_fifo(self, count: int) -> None:
        self.response_left = max(0, self.response_left - count)

    def establishment_set(self) -> None:
        """A hash sequence (_TPM_Hash_Start) ran."""
        self.established = True
