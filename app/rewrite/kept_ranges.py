"""The words a user keeps in a draft before re-noising the rest (Ctrl+K, then Alt+R). No Qt here.

A `Kept` is a text (the draft or result shown in the span) and character ranges of it, in code points as the
engine counts them (`EditRequest.warm_start` and `EditRequest.keep`): sorted, non-empty, never touching or
overlapping (touching ranges are one). When the span shows another text (the next draft, the result, a hunk
decision, the re-run's drafts), `moved_to` finds each kept piece again in it, in order, at the occurrence
nearest to where it was relative to the kept piece before it: a diffusion backend keeps kept tokens at their
canvas positions, but the text before them may change length. A piece that is gone is no longer kept. (The
first draft of a re-noise says exactly which of its pieces are kept, `Draft.kept`: see `flagged`.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine import PLACEHOLDER

Range = tuple[int, int]

_WORD = re.compile(r"\w+")


def merge(ranges: Iterable[Range]) -> tuple[Range, ...]:
    """Sorted, with empty ranges dropped and overlapping or touching ones joined."""
    out: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return tuple((start, end) for start, end in out)


def subtract(ranges: Iterable[Range], start: int, end: int) -> tuple[Range, ...]:
    """`ranges` without the characters start..end."""
    out = []
    for a, b in ranges:
        out += [(a, min(b, start)), (max(a, end), b)]
    return merge(out)


def covers(ranges: Iterable[Range], start: int, end: int) -> bool:
    """Whether every character of start..end (non-empty) is kept."""
    return start < end and any(a <= start and end <= b for a, b in merge(ranges))


def complement(ranges: Iterable[Range], length: int) -> tuple[Range, ...]:
    """Every range of 0..length that `ranges` do not cover."""
    out, at = [], 0
    for start, end in merge(ranges):
        out.append((at, min(start, length)))
        at = max(at, end)
    out.append((at, length))
    return merge(out)


def piece_ranges(pieces: Sequence[str]) -> list[Range]:
    """Where each piece lies in ``"".join(pieces)``."""
    out, at = [], 0
    for piece in pieces:
        out.append((at, at + len(piece)))
        at += len(piece)
    return out


def flagged(pieces: Sequence[str], flags: Sequence[bool]) -> tuple[Range, ...]:
    """The ranges of ``"".join(pieces)`` held by the pieces whose flag is true (a Draft's `kept`)."""
    return merge(r for r, flag in zip(piece_ranges(pieces), flags, strict=True) if flag)


def confident(pieces: Sequence[str], confidence: Sequence[float], threshold: float) -> tuple[Range, ...]:
    """The ranges of ``"".join(pieces)`` held by pieces whose confidence is over `threshold` (never a masked
    one): what "re-roll the unsure pieces" keeps."""
    sure = [conf > threshold and PLACEHOLDER not in piece for piece, conf in zip(pieces, confidence, strict=True)]
    return flagged(pieces, sure)


def word_at(text: str, position: int) -> Range | None:
    """The word that holds `position` or ends there (a caret right after a word means that word)."""
    for match in _WORD.finditer(text):
        if match.start() <= position <= match.end():
            return match.span()
    return None


def follow(ranges: Iterable[Range], old: str, new: str) -> tuple[Range, ...]:
    """The kept ranges of `old` found again in `new` (see the module's docstring)."""
    if old == new:
        return merge(ranges)
    out: list[Range] = []
    old_at = new_at = 0  # the end of the previous kept piece, in `old` and in `new`
    for start, end in merge(ranges):
        piece = old[start:end]
        expected = new_at + (start - old_at)
        best, at = None, new.find(piece, new_at)
        while at != -1:
            if best is None or abs(at - expected) < abs(best - expected):
                best = at
            if at > expected:
                break  # later occurrences are only farther away
            at = new.find(piece, at + 1)
        if best is None:
            continue  # gone from the new text: no longer kept
        out.append((best, best + len(piece)))
        old_at, new_at = end, best + len(piece)
    return merge(out)


@dataclass(frozen=True)
class Kept:
    """Ranges of `text` to keep fixed when the rest is re-noised (code points)."""

    text: str = ""
    ranges: tuple[Range, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __iter__(self):
        return iter(self.ranges)

    def toggled(self, start: int, end: int) -> Kept:
        """Ctrl+K on start..end of `text`: a selection all kept is un-kept; any other selection is kept. A
        caret (start == end) in a kept range un-keeps that range; elsewhere it keeps the word it is in."""
        start, end = max(0, min(start, end)), min(len(self.text), max(start, end))
        if start == end:
            for a, b in self.ranges:
                if a <= start <= b:
                    return Kept(self.text, subtract(self.ranges, a, b))
            word = word_at(self.text, start)
            return self if word is None else Kept(self.text, merge([*self.ranges, word]))
        if covers(self.ranges, start, end):
            return Kept(self.text, subtract(self.ranges, start, end))
        return Kept(self.text, merge([*self.ranges, (start, end)]))

    def moved_to(self, text: str) -> Kept:
        """The same kept pieces, in `text` (the span shows another text now)."""
        return Kept(text, follow(self.ranges, self.text, text))

    def unmasked(self) -> Kept:
        """Without the masked pieces (PLACEHOLDER) of `text`: a mask is no text to keep, and kept, it would
        reach the answer as a glyph."""
        ranges = self.ranges
        for at, char in enumerate(self.text):
            if char == PLACEHOLDER:
                ranges = subtract(ranges, at, at + 1)
        return Kept(self.text, ranges)

    def inverted(self) -> Kept:
        """Everything but what is kept now ("re-noise only this": keep all but the selection)."""
        return Kept(self.text, complement(self.ranges, len(self.text)))
