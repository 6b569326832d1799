"""The one error a malformed measurement list raises.

A parser that lets ``IndexError`` or ``struct.error`` escape turns a bad log
into a harness crash; every malformation becomes this instead, naming where it
is so a user can look at the bytes.
"""

from __future__ import annotations


class ImaLogError(ValueError):
    """The bytes are not a measurement list a kernel could have written.

    ``entry_index`` counts entries from 0 (in an ASCII list: lines);
    ``offset`` is the byte offset in the input where the problem was seen.
    """

    def __init__(self, entry_index: int, offset: int, message: str):
        super().__init__(f"entry {entry_index} at byte {offset}: {message}")
        self.entry_index = entry_index
        self.offset = offset
        self.message = message

    def __reduce__(self):
        return (type(self), (self.entry_index, self.offset, self.message))
