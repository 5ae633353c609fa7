"""What the find bar searches with: a query compiled to a Python regex, the matches in a text found a slice at
a time, and the map between str indices and Qt's UTF-16 positions. No widgets here.

Empty matches (a pattern such as `^` or `x*`) are skipped everywhere: they are not counted, shown, visited or
replaced, so "3 of 12" always counts text the user can see.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

# Characters scanned per slice: 128k of prose with a match every 10 characters takes ~6 ms here, so a slice
# never holds the GUI thread near a frame.
SLICE_CHARS = 1 << 17
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Query:
    """What to look for: `text` literally, or as a regular expression (Python's `re` syntax)."""

    text: str
    match_case: bool = False
    whole_word: bool = False
    regex: bool = False

    def compile(self) -> re.Pattern:
        """The pattern; ValueError with a one-line message when the regular expression is not valid."""
        body = self.text if self.regex else re.escape(self.text)
        if self.whole_word:  # lookarounds, not \b: "foo(" as a whole word still needs a boundary before "f"
            body = rf"(?<!\w)(?:{body})(?!\w)"
        flags = re.MULTILINE | (0 if self.match_case else re.IGNORECASE)
        try:
            return re.compile(body, flags)
        except (re.error, OverflowError, RecursionError) as exc:
            raise ValueError(f"Bad pattern: {exc}") from None

    def expand(self, match: re.Match, replacement: str) -> str:
        """The text that replaces `match`: \\1 and \\g<name> are groups in regex mode; ValueError when invalid."""
        if not self.regex:
            return replacement
        try:
            return match.expand(replacement)
        except (re.error, IndexError) as exc:
            raise ValueError(f"Bad replacement: {exc}") from None


def first_match(pattern: re.Pattern, text: str, pos: int) -> re.Match | None:
    """The first non-empty match starting at or after `pos`."""
    for match in pattern.finditer(text, pos):
        if match.end() > match.start():
            return match
    return None


class Matches:
    """Every non-empty match of `pattern` in `text`, as sorted `starts` and `ends`, found by `scan()` a slice at a
    time. A scan resumes where the previous slice stopped (at the first match not taken yet), so the result is
    exactly that of one `finditer` over the whole text."""

    def __init__(self, pattern: re.Pattern, text: str) -> None:
        self.pattern = pattern
        self.text = text
        self.starts: list[int] = []
        self.ends: list[int] = []
        self._next: int | None = 0  # where the scan goes on; None once every match is found

    @property
    def done(self) -> bool:
        return self._next is None

    @property
    def scanned(self) -> int:
        """Matches starting before this index are all found."""
        return len(self.text) + 1 if self._next is None else self._next

    def scan(self, chars: int = SLICE_CHARS) -> bool:
        """Look through about `chars` more characters; True once every match is found."""
        if self._next is None:
            return True
        stop = self._next + chars
        for match in self.pattern.finditer(self.text, self._next):
            start, end = match.span()
            if start >= stop:
                self._next = start
                return False
            if end > start:
                self.starts.append(start)
                self.ends.append(end)
        self._next = None
        return True

    def finish(self) -> Matches:
        while not self.scan(len(self.text) + 1):
            pass
        return self

    def __len__(self) -> int:
        return len(self.starts)

    def index(self, start: int, end: int) -> int | None:
        """The position in the list of the match spanning exactly start..end (None: that is no match)."""
        i = bisect_left(self.starts, start)
        if i < len(self.starts) and self.starts[i] == start and self.ends[i] == end:
            return i
        return None

    def before(self, pos: int) -> int | None:
        """The index of the last match starting before `pos` (call `finish()` first)."""
        i = bisect_left(self.starts, pos) - 1
        return i if i >= 0 else None


class Utf16:
    """Converts str indices of one text to Qt's UTF-16 document positions and back; they differ by one after each
    character outside the Basic Multilingual Plane. Costs a bisect per conversion, none for BMP-only text."""

    def __init__(self, text: str) -> None:
        self._astral = [] if text.isascii() else [m.start() for m in _ASTRAL.finditer(text)]
        self._astral_utf16 = [index + k for k, index in enumerate(self._astral)]  # where each one starts, in UTF-16

    def position(self, index: int) -> int:
        return index + bisect_left(self._astral, index)

    def index(self, position: int) -> int:
        """The str index at a UTF-16 position (inside a surrogate pair: the character's own index)."""
        return position - bisect_left(self._astral_utf16, position)
