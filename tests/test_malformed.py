"""The malformed-command strategy: every ROBUST-INPUT class is drawn, and the emulator
refuses each with an error of its class (tests/swtpm/test_malformed_classes.py holds
swtpm, a second implementation, to the same classes)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings

from harness.emulator import Emulator
from harness.strategies.malformed import (EXPECTED, HEADER_KINDS, KINDS, RAW, SHORT_FRAME_KINDS,
                                          error_number, malformed)
from harness.wire import encode_command
from models import ops
from models.tcg import TPM_RC, TPM_SU

DRAWS = settings(max_examples=40, derandomize=True, database=None, deadline=None,
                 suppress_health_check=list(HealthCheck))
STARTUP = encode_command(ops.Startup(int(TPM_SU.TPM_SU_CLEAR)))
_ERROR = struct.Struct(">HII")


def kinds_drawn(strategy, examples: int) -> set[str]:
    seen = set()

    @settings(DRAWS, max_examples=examples)
    @given(strategy)
    def collect(op):
        seen.add(op.kind)

    collect()
    return seen


def test_every_class_is_drawn():
    assert kinds_drawn(malformed(), 400) == set(KINDS)


def test_without_short_frames_every_frame_holds_a_header():
    assert kinds_drawn(malformed(short_frames=False), 400) == set(KINDS) - SHORT_FRAME_KINDS


def assert_refused_in_class(op: ops.Raw, response: bytes, started: bool = True) -> None:
    tag, size, code = _ERROR.unpack(response)
    assert (tag, size) == (0x8001, 10), response.hex()
    allowed = EXPECTED[op.kind]
    if not started and op.kind not in HEADER_KINDS:
        allowed = {int(TPM_RC.TPM_RC_INITIALIZE)}
    assert code != 0 and (allowed is None or error_number(code) in allowed), \
        f"{op.kind} {op.data.hex()} -> {code:#x}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("started", [True, False], ids=["started", "before-startup"])
def test_the_emulator_refuses_each_class_in_its_class(kind, started):
    emulator = Emulator()
    if started:
        emulator.execute(STARTUP)

    @DRAWS
    @given(RAW[kind])
    def check(op):
        assert_refused_in_class(op, emulator.execute(op.data, op.locality), started)

    check()
