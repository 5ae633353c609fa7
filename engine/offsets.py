"""Offsets: the engine counts Unicode code points (Python str indices); Qt counts UTF-16 code units.

They differ after any character outside the Basic Multilingual Plane (emoji, many CJK extensions), which
takes two UTF-16 units but one code point.
"""

from __future__ import annotations


def utf16_to_index(text: str, utf16_pos: int) -> int:
    """The str index of a UTF-16 position (a position inside a surrogate pair rounds down)."""
    # Encoding in C instead of a Python loop: ~1 ms instead of ~150 ms for a 1 MB document, on the GUI thread.
    utf16_pos = max(utf16_pos, 0)
    if text.isascii():
        return min(utf16_pos, len(text))
    try:
        prefix = text.encode("utf-16-le")[: 2 * utf16_pos]
    except UnicodeEncodeError:  # lone surrogates (never from Qt): count one by one
        return _utf16_to_index_slow(text, utf16_pos)
    if len(prefix) >= 2 and 0xD800 <= int.from_bytes(prefix[-2:], "little") <= 0xDBFF:
        prefix = prefix[:-2]  # cut inside a pair: round down to the character's start
    return len(prefix.decode("utf-16-le"))


def _utf16_to_index_slow(text: str, utf16_pos: int) -> int:
    units = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > utf16_pos:
            return index
        units += width
    return len(text)


def index_to_utf16(text: str, index: int) -> int:
    """The UTF-16 position of a str index."""
    prefix = text[:index]
    return index if prefix.isascii() else index + len(prefix.encode("utf-16-le", "surrogatepass")) // 2 - len(prefix)
