"""Frames shorter than a header through serve-emulator: its swtpm framing (TPM_SEND_COMMAND
with an explicit size) carries them, unlike swtpm 0.7.1 (tests/swtpm/test_short_frames.py),
so each must get a 10-byte error and the server must go on answering."""

from __future__ import annotations

from hypothesis import given, settings

from harness.strategies.malformed import RAW
from harness.targets.factory import parse_target
from harness.wire import encode_command
from models import ops
from tests.test_malformed import DRAWS, STARTUP, assert_refused_in_class
from tests.test_serve_emulator import server  # noqa: F401  (the fixture)

_READ = encode_command(ops.PcrRead(selection=((0x000B, (0,)),)))


def test_short_frames_get_errors_and_the_server_keeps_answering(server):  # noqa: F811
    target = parse_target(f"swtpm+tcp://127.0.0.1:{server.port}?ctrl={server.ctrl_port}&profile=ptp").create()
    try:
        assert target.transmit(STARTUP)[6:] == bytes(4)

        @settings(DRAWS, max_examples=30)
        @given(RAW["zero-length"] | RAW["short-frame"])
        def check(op):
            assert_refused_in_class(op, target.transmit(op.data, op.locality))
            assert target.transmit(_READ)[6:10] == bytes(4)  # still answering, still started

        check()
    finally:
        target.close()


