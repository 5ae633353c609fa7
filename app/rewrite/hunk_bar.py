"""The floating bar of a hunk review: which hunk, what it changes, and buttons for the review keys.

The decisions live in `app.rewrite.hunks.Review` and the keys in the editor (Y keep, N drop, Enter/Tab keep the
rest, Esc cancel the whole rewrite); this bar only shows where the review stands and offers the same four
actions to the mouse. Like the instruction box it is a child of the editor's viewport and takes no focus,
so the keys keep going to the editor.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.rewrite.hunks import Review

PREVIEW_CHARS = 40


def _short(text: str) -> str:
    text = " ".join(text.split()) if text.strip() else repr(text)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def describe(review: Review) -> str:
    """"hunk 2/5: “old” → “new”" for the current hunk."""
    index = review.current
    total = len(review.hunks)
    if index is None:
        return f"{total} hunks decided"
    hunk = review.hunks.hunks[index]
    if not hunk.text:
        change = f"delete “{_short(hunk.old)}”"
    elif not hunk.old:
        change = f"insert “{_short(hunk.text)}”"
    else:
        change = f"“{_short(hunk.old)}” → “{_short(hunk.text)}”"
    return f"hunk {index + 1}/{total}: {change}"


class HunkBar(QFrame):
    """Signals: keep(), drop(), keepRest(), cancel() — the buttons, same as Y, N, Enter, Esc."""

    keep = Signal()
    drop = Signal()
    keepRest = Signal()
    cancel = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.label = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 2, 2)
        layout.addWidget(self.label, 1)
        self.buttons: dict[str, QPushButton] = {}
        for name, title, signal in (
            ("keep", "Y keep", self.keep),
            ("drop", "N drop", self.drop),
            ("rest", "Enter keep rest", self.keepRest),
            ("cancel", "Esc cancel", self.cancel),
        ):
            button = QPushButton(title)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(signal.emit)
            layout.addWidget(button)
            self.buttons[name] = button
        self.hide()

    def show_review(self, review: Review, anchor: QRect) -> None:
        """Show the current hunk's description just below `anchor` (viewport coordinates)."""
        self.label.setText(describe(review))
        self.adjustSize()
        area = self.parentWidget().rect()
        width = min(self.sizeHint().width(), area.width())
        height = self.sizeHint().height()
        y = anchor.bottom() + 4
        if y + height > area.bottom():
            y = max(anchor.top() - height - 4, 0)
        x = min(max(anchor.left(), 0), max(area.width() - width, 0))
        self.setGeometry(x, y, width, height)
        self.show()
        self.raise_()
