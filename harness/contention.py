"""Real client threads at their own localities sharing one target, interleaved as drawn.

Each client is a thread that sends commands through the target's
``transmit(command, locality)`` at the client's locality, as the vTPM
manager (locality 2) and dom0 (locality 0) share one pTPM.  A thread only
moves when the scheduler releases it, so the interleaving is the one
Hypothesis drew and a failure replays: a step releases one client, or
several at once through a barrier so that they really race inside the
target (its locality arbitration must keep each command at its issuer's
locality).  Every released command must come back with exactly one answer
to the client that sent it, within the timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from harness.errors import TargetError, TargetTimeout

ANSWER_TIMEOUT = 30.0  # seconds; far beyond a target's own I/O timeout


class _Client(threading.Thread):
    """One client: waits for its release, sends its command, hands back the answer."""

    def __init__(self, target, locality: int, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.target = target
        self.locality = locality
        self._go = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._command: bytes | None = None
        self._barrier: threading.Barrier | None = None
        self._answers: list = []

    def release(self, command: bytes | None, barrier: threading.Barrier | None) -> None:
        self._command, self._barrier = command, barrier
        self._go.release()

    def answer(self, timeout: float):
        """The one answer to the released command: response bytes or the TargetError."""
        if not self._done.acquire(timeout=timeout):
            raise TargetTimeout(f"{self.name}: no answer within {timeout} s")
        answers, self._answers = self._answers, []
        if len(answers) != 1:
            raise TargetError(f"{self.name}: {len(answers)} answers to one command")
        return answers[0]

    def run(self) -> None:
        while True:
            self._go.acquire()
            command, barrier = self._command, self._barrier
            if command is None:
                return
            if barrier is not None:
                barrier.wait()
            try:
                # Looked up per call: a target may rebind transmit when it restarts.
                self._answers.append(self.target.transmit(command, self.locality))
            except TargetError as exc:
                self._answers.append(exc)
            self._done.release()


class Scheduler:
    """Client threads, one per locality in ``localities``, released step by step."""

    def __init__(self, target, localities: Sequence[int], timeout: float = ANSWER_TIMEOUT) -> None:
        self.timeout = timeout
        self.clients = [_Client(target, loc, f"client {n} at locality {loc}")
                        for n, loc in enumerate(localities)]
        for client in self.clients:
            client.start()

    def step(self, sends: Sequence[tuple[int, bytes]]) -> list:
        """Release the clients of ``sends`` (index, command) together; their answers in order.

        One send runs alone; several wait at a common barrier and then race.
        """
        barrier = threading.Barrier(len(sends)) if len(sends) > 1 else None
        for index, command in sends:
            self.clients[index].release(command, barrier)
        return [self.clients[index].answer(self.timeout) for index, _ in sends]

    def restart(self, index: int) -> None:
        """The client's thread ends (a crashed client) and a new one takes its locality."""
        old = self.clients[index]
        old.release(None, None)
        old.join(self.timeout)
        self.clients[index] = new = _Client(old.target, old.locality, old.name)
        new.start()

    def close(self) -> None:
        for client in self.clients:
            client.release(None, None)
        for client in self.clients:
            client.join(self.timeout)
