"""The changes a rewrite made to its span, as hunks that can be kept or dropped one by one. No Qt here.

How the text is cut (difflib's SequenceMatcher, junk heuristics off so repeated words still match):
- `by="word"` (prose, and any span of one or two lines): tokens are runs of word characters, runs of
  whitespace, and single other characters, so punctuation and spacing changes are hunks of their own.
  Changes separated only by spaces or tabs are merged ("a b c" -> "x y z" is one hunk, not three), which is
  how a reader sees a rewritten phrase; a newline always separates hunks.
- `by="line"` (code: a span of several lines): tokens are whole lines, as in a unified diff.

`Hunks.apply(keep)` rebuilds the text from the original with the kept hunks' replacements; keeping every
hunk gives exactly the final text and keeping none gives exactly the original.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_WORD = re.compile(r"\w+|[ \t]+|\r\n|\n|\r|\s|[^\w\s]")


@dataclass(frozen=True)
class Hunk:
    """`original[start:end]` becomes `text`; offsets are str indices (code points) into the original."""

    start: int
    end: int
    old: str
    text: str


@dataclass(frozen=True)
class Hunks:
    """The hunks from `original` to `final`, in order; `apply` picks which to keep."""

    original: str
    final: str
    hunks: tuple[Hunk, ...]

    @classmethod
    def between(cls, original: str, final: str, by: str | None = None) -> Hunks:
        by = by or granularity(original)
        if by not in ("word", "line"):
            raise ValueError(f"by must be 'word' or 'line', not {by!r}")
        a, b = _tokens(original, by), _tokens(final, by)
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        a_at, b_at = _offsets(a), _offsets(b)
        spans: list[list[int]] = []  # [i1, i2, j1, j2] in token indices
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            if spans and by == "word" and _only_blanks(a[spans[-1][1] : i1]):
                spans[-1][1], spans[-1][3] = i2, j2
            else:
                spans.append([i1, i2, j1, j2])
        hunks = tuple(
            Hunk(a_at[i1], a_at[i2], original[a_at[i1] : a_at[i2]], final[b_at[j1] : b_at[j2]])
            for i1, i2, j1, j2 in spans
        )
        return cls(original, final, hunks)

    def __len__(self) -> int:
        return len(self.hunks)

    def apply(self, keep) -> str:
        """The original with the replacement of every hunk whose index is in `keep` (a set or sequence)."""
        kept = set(keep)
        out, at = [], 0
        for index, hunk in enumerate(self.hunks):
            out.append(self.original[at : hunk.start])
            out.append(hunk.text if index in kept else hunk.old)
            at = hunk.end
        out.append(self.original[at:])
        return "".join(out)

    def segments(self, keep) -> list[tuple[str, int | None]]:
        """The text `apply(keep)` gives, cut into (text, hunk index or None for unchanged text)."""
        kept = set(keep)
        out: list[tuple[str, int | None]] = []
        at = 0
        for index, hunk in enumerate(self.hunks):
            if hunk.start > at:
                out.append((self.original[at : hunk.start], None))
            out.append((hunk.text if index in kept else hunk.old, index))
            at = hunk.end
        if at < len(self.original):
            out.append((self.original[at:], None))
        return out


def granularity(original: str) -> str:
    """Lines for a span of three lines or more (code, lists), words otherwise."""
    return "line" if len(original.splitlines()) >= 3 else "word"


def _tokens(text: str, by: str) -> list[str]:
    if by == "line":
        return text.splitlines(keepends=True)
    return _WORD.findall(text)


def _offsets(tokens: list[str]) -> list[int]:
    out = [0]
    for token in tokens:
        out.append(out[-1] + len(token))
    return out


def _only_blanks(tokens: list[str]) -> bool:
    return all(token.strip(" \t") == "" and "\n" not in token and "\r" not in token for token in tokens)


class Review:
    """Deciding hunk by hunk: each is undecided, kept or dropped; `current` is the first undecided one.

    `text()` is what the span shows meanwhile: kept and undecided hunks in their new form, dropped ones back
    to the original, so "keep the rest" after any decisions is simply `text()`.
    """

    def __init__(self, hunks: Hunks) -> None:
        self.hunks = hunks
        self.decisions: list[bool | None] = [None] * len(hunks)

    @property
    def current(self) -> int | None:
        return next((i for i, d in enumerate(self.decisions) if d is None), None)

    @property
    def finished(self) -> bool:
        return self.current is None

    def decide(self, keep: bool) -> None:
        index = self.current
        if index is not None:
            self.decisions[index] = keep

    def keep_rest(self) -> None:
        self.decisions = [True if d is None else d for d in self.decisions]

    def kept(self) -> list[int]:
        return [i for i, d in enumerate(self.decisions) if d is not False]

    def text(self) -> str:
        return self.hunks.apply(self.kept())

    def segments(self) -> list[tuple[str, str]]:
        """(text, kind) of `text()`: kind "" (unchanged), "current", "hunk" (undecided), "kept", "dropped"."""
        current = self.current
        out = []
        for text, index in self.hunks.segments(self.kept()):
            if index is None:
                kind = ""
            elif index == current:
                kind = "current"
            else:
                kind = {None: "hunk", True: "kept", False: "dropped"}[self.decisions[index]]
            out.append((text, kind))
        return out
