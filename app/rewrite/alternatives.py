"""The answers one span got: each Alt+R run's result, and the extra answers of a run that asked for several
(`EditResult.alternatives`). No Qt here.

The editor keeps one `Alternatives` while the same span is rerun (Alt+R) and forgets it when the rewrite ends
(accepted, cancelled, interrupted). Alt+[ / Alt+] move `index` through the answers, wrapping around; the one
shown is the one Enter accepts. An answer the list already holds is not added twice (the index moves to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.rewrite.draft_history import DraftHistory


@dataclass(frozen=True)
class Answer:
    """`text` as the document holds it; `history`: the drafts of the run that made it (None for the extra
    answers of a run asked for several: the engine reports no drafts of those)."""

    text: str
    history: DraftHistory | None = None


class Alternatives:
    """Attributes: answers (oldest first), index (the one shown; -1 while there is none)."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.index = -1

    def add(self, answer: Answer, show: bool = True) -> None:
        """Append `answer` (unless its text is there already); `show`: make it the one shown."""
        at = next((i for i, known in enumerate(self.answers) if known.text == answer.text), None)
        if at is None:
            self.answers.append(answer)
            at = len(self.answers) - 1
        if show or self.index < 0:
            self.index = at

    def cycle(self, delta: int) -> Answer | None:
        """Move by `delta` (wrapping) and return the answer there; None when there is nothing to cycle."""
        if len(self.answers) < 2:
            return None
        self.index = (self.index + delta) % len(self.answers)
        return self.answers[self.index]

    @property
    def current(self) -> Answer | None:
        return self.answers[self.index] if self.answers else None

    def __len__(self) -> int:
        return len(self.answers)

    def label(self) -> str:
        """"alternative 2 of 3" ("" while there is only one answer or none)."""
        return f"alternative {self.index + 1} of {len(self)}" if len(self) > 1 else ""
