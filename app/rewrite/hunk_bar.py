"""The floating bar of a hunk review: which hunk, what it changes, and buttons for the review keys.

The decisions live in `app.rewrite.hunks.Review` and the keys in the editor (Y keep, N drop, Enter/Tab keep the
rest, Esc cancel the whole rewrite); this bar only shows where the review stands and offers the same four
actions to the mouse. It takes no focus, so the keys keep going to the editor. The editor places it in a strip
it reserves below its text while a review is open, so the bar never covers a line. The label gets a line of
its own above the buttons when the two do not fit side by side, and is elided only when the strip is narrower
than the label alone, with the whole description as its tooltip.

A small slider before the buttons scrubs through the run's steps (as Alt+Left / Alt+Right do): its last
position is the result under review, the ones before it the run's kept drafts; the editor shows the step it
lands on. While a step is shown the keep and drop buttons are off (they decide the result's hunks).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from app.rewrite.hunks import Review

PREVIEW_CHARS = 40
SLIDER_WIDTH = 120


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


class FittedLabel(QLabel):
    """A one-line label that asks for its whole text's width and, given less, shows it elided in the middle
    with the whole text as its tooltip."""

    def __init__(self) -> None:
        super().__init__()
        self.full_text = ""

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self.updateGeometry()
        self._fit()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        margins = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self.full_text) + margins.left() + margins.right() + 2
        return QSize(width, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(self.fontMetrics().horizontalAdvance("hunk 1/1: …"), super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        room = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideMiddle, room)
        self.setText(shown)
        self.setToolTip("" if shown == self.full_text else self.full_text)


class HunkBar(QFrame):
    """Signals: keep(), drop(), keepRest(), cancel() — the buttons, same as Y, N, Enter, Esc;
    scrubbed(int) — the slider moved by the user to a position (0 the first step, the last the result)."""

    scrubbed = Signal(int)
    keep = Signal()
    drop = Signal()
    keepRest = Signal()
    cancel = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.label = FittedLabel()
        self._row = QWidget()  # the buttons: beside the label when both fit, else on a line below it
        row = QHBoxLayout(self._row)
        row.setContentsMargins(0, 0, 0, 0)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(6, 2, 2, 2)
        self._grid.setColumnStretch(0, 1)
        self._grid.addWidget(self.label, 0, 0)
        self._grid.addWidget(self._row, 0, 1)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setFixedWidth(SLIDER_WIDTH)
        self.slider.setToolTip("Scrub through the run's steps (Alt+Left, Alt+Right)")
        self.slider.valueChanged.connect(self.scrubbed.emit)  # set_state moves it with signals blocked
        row.addWidget(self.slider)
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
            row.addWidget(button)
            self.buttons[name] = button
        self.hide()

    def set_state(self, text: str, position: int = 0, count: int = 0, deciding: bool = True) -> None:
        """Say `text`; the slider at `position` of `count` positions (hidden under two); the keep and drop
        buttons on only while `deciding` (the result's hunks are shown, not an earlier step)."""
        self.label.set_full_text(text)
        self.slider.setVisible(count >= 2)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(count - 1, 0))
        self.slider.setValue(position)
        self.slider.blockSignals(False)
        self.buttons["keep"].setEnabled(deciding)
        self.buttons["drop"].setEnabled(deciding)
        self.buttons["rest"].setText("Enter keep rest" if deciding else "Enter accept step")  # what Enter does now

    def height_for(self, width: int) -> int:
        """The height the bar needs at `width`: one line when the label and the buttons fit side by side,
        else the label on a line of its own above the buttons."""
        margins = self._grid.contentsMargins()
        needed = (
            self.label.sizeHint().width() + self._grid.horizontalSpacing() + self._row.sizeHint().width()
            + margins.left() + margins.right() + 2 * self.frameWidth()
        )
        self._grid.removeWidget(self._row)
        if needed <= width:
            self._grid.addWidget(self._row, 0, 1)
        else:
            self._grid.addWidget(self._row, 1, 0, Qt.AlignmentFlag.AlignRight)
        return self._grid.sizeHint().height() + 2 * self.frameWidth()

    def show_in(self, strip: QRect) -> None:
        """Fill `strip` (the parent's coordinates: the room the editor reserved below its text)."""
        self.setGeometry(strip)
        self.show()
        self.raise_()
