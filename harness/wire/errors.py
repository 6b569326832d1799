"""The one error type of TPM 2.0 decoding.

Bytes that do not parse are a finding about whoever produced them (for a
response: the target, invariant RESP-WELLFORMED), so ``WireError`` is a
``TargetError``.  It names the field and the absolute offset at which parsing
stopped, so a finding says exactly which byte was wrong.
"""

from __future__ import annotations

from harness.errors import TargetError


class WireError(TargetError):
    """``str()``: ``TPML_PCR_SELECTION.count at offset 14: 17 exceeds 16``."""

    def __init__(self, field: str, offset: int, message: str) -> None:
        super().__init__(field, offset, message)
        self.field = field
        self.offset = offset
        self.message = message

    def __str__(self) -> str:
        return f"{self.field} at offset {self.offset}: {self.message}"
