"""swtpm refuses every malformed-command class (but frames shorter than a header, see
test_short_frames.py) with a 10-byte error of the class Part 3 gives it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from harness.strategies.malformed import KINDS, RAW, SHORT_FRAME_KINDS
from harness.targets.swtpm import SwtpmTarget
from tests.swtpm.tpm import SWTPM
from tests.test_malformed import STARTUP, DRAWS, assert_refused_in_class

pytestmark = SWTPM


@pytest.mark.parametrize("kind", sorted(set(KINDS) - SHORT_FRAME_KINDS))
@pytest.mark.parametrize("started", [True, False], ids=["started", "before-startup"])
def test_swtpm_refuses_each_class_in_its_class(kind, started):
    with SwtpmTarget(timeout=5.0) as swtpm:
        if started:
            swtpm.transmit(STARTUP)

        @settings(DRAWS, max_examples=15)
        @given(RAW[kind])
        def check(op):
            assert_refused_in_class(op, swtpm.transmit(op.data, op.locality), started)

        check()
