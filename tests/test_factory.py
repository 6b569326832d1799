"""Target specs: good ones give factories, bad ones one-line UsageErrors."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.targets.base import Capability
from harness.targets.factory import parse_target


def test_emulator_spec_gives_fresh_independent_targets():
    factory = parse_target("emulator?banks=sha256,sha1")
    assert factory.banks == ("sha256", "sha1")
    a, b = factory.create(), factory.create()
    try:
        assert a is not b
        assert Capability.POWER_CYCLE in factory.capabilities
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("spec, fragment", [
    ("bogus", "unknown target"),
    ("emulator?banks=md5", "banks must be a subset"),
    ("emulator?colour=red", "unknown option 'colour'"),
    ("emulator?mutant=no-such-bug", "unknown mutant 'no-such-bug'"),
    ("swtpm+tcp://127.0.0.1:2321", "expected swtpm+tcp://HOST:PORT?ctrl=PORT"),
    ("swtpm+tcp://127.0.0.1?ctrl=2322", "expected swtpm+tcp://HOST:PORT?ctrl=PORT"),
    ("plugin:nosuchmodule:Thing", "cannot load"),
    ("plugin:json:JSONDecoder", "lacks transmit"),
    ("device:", "expected device:/dev/tpmrm0"),
])
def test_bad_specs_fail_in_one_line(spec, fragment):
    with pytest.raises(UsageError) as info:
        parse_target(spec)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
