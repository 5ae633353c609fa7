"""Offsets: the engine counts Unicode code points (Python str indices); Qt counts UTF-16 code units.

They differ after any character outside the Basic Multilingual Plane (emoji, many CJK extensions), which
takes two UTF-16 units but one code point.
"""

from __future__ import annotations


def utf16_to_index(text: str, utf16_pos: int) -> int:
    """The str index of a UTF-16 position (a position inside a surrogate pair rounds down)."""
    units = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > utf16_pos:
            return index
        units += width
    return len(text)


def index_to_utf16(text: str, index: int) -> int:
    """The UTF-16 position of a str index."""
    return index + sum(1 for char in text[:index] if ord(char) > 0xFFFF)
