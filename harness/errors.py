"""The harness's exception types, kept apart by whose fault they are.

``TargetError`` and its children are findings about the implementation under
test (it died, hung, or answered bytes that do not parse).  ``UsageError`` is
bad input from the user (exit code 2, one line).  Anything else raised inside
the harness is a harness bug.
"""

from __future__ import annotations


class TargetError(Exception):
    """The target misbehaved at the transport level: a finding, not a harness bug."""


class TargetTimeout(TargetError):
    """The target did not answer within its timeout (a hang)."""


class TargetDied(TargetError):
    """The target's process exited or its connection closed mid-command."""


class UsageError(Exception):
    """Bad input from the user or the environment: reported in one line, exit 2."""
