"""TIS target specs: bad ones fail in one line (UsageError), before anything starts."""

from __future__ import annotations

import re

import pytest

from harness.errors import UsageError
from harness.targets.factory import parse_target


@pytest.mark.parametrize("spec, words", [
    ("tis+qtest?bogus=1", "unknown option 'bogus'"),
    ("tis+mmio:", "expected tis+mmio:/dev/mem"),
])
def test_bad_tis_specs_are_usage_errors(spec, words):
    with pytest.raises(UsageError, match=re.escape(words)):
        parse_target(spec)


def test_a_missing_qemu_binary_is_a_usage_error():
    with pytest.raises(UsageError, match="--qemu-binary"):
        parse_target("tis+qtest", qemu_binary="/nonexistent/qemu")


def test_an_unopenable_mmio_path_is_a_usage_error():
    with pytest.raises(UsageError, match="cannot open /nonexistent/mem"):
        parse_target("tis+mmio:/nonexistent/mem").create()
