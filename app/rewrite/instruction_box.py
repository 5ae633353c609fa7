"""The small box Ctrl+J opens at the selection: an optional instruction and the mode, nothing else.

It is a frameless child of the editor's viewport (not a popup window), so it never steals the application's
focus chain and it dies with the editor. Enter submits (an empty instruction is a plain rewrite), Esc closes
it without touching the document, Alt+M cycles the modes that fit (fill without a selection; rewrite and
refine with one). The last instruction is offered again, selected, so Enter repeats it and typing replaces it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QComboBox, QFrame, QHBoxLayout, QLineEdit, QWidget

from engine import MODES


class InstructionBox(QFrame):
    """Signals:
    submitted(str, str): the mode and the instruction (stripped; may be empty).
    closed(): the box was closed without submitting.
    """

    submitted = Signal(str, str)
    closed = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.line = QLineEdit()
        self.line.setPlaceholderText("Instruction (optional) — Enter runs, Esc closes, Alt+M mode")
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.line, 1)
        layout.addWidget(self.mode)
        self.setMinimumWidth(360)
        self.last_instruction = ""
        for widget in (self.line, self.mode):
            widget.installEventFilter(self)
        QApplication.instance().focusChanged.connect(self._on_focus_changed)
        self.hide()

    def open_at(self, anchor: QRect, has_selection: bool, mode: str | None = None) -> None:
        """Show below `anchor` (viewport coordinates; above it when there is no room), focused."""
        items = self.mode.model()
        for index, name in enumerate(MODES):
            # Fill inserts at a cursor, rewrite and refine change a selection: a selection offers only those.
            items.item(index).setEnabled((name == "fill") != has_selection)
        if mode is None or (mode == "fill") == has_selection:
            mode = "rewrite" if has_selection else "fill"
        self.mode.setCurrentText(mode)
        self.line.setText(self.last_instruction)
        self.line.selectAll()
        self.place(anchor)
        self.show()
        self.raise_()
        self.line.setFocus()

    def place(self, anchor: QRect) -> None:
        """Below `anchor`, or above it when there is no room, always inside the viewport."""
        area = self.parentWidget().rect()
        width = min(max(self.sizeHint().width(), 420), area.width())
        height = self.sizeHint().height()
        y = anchor.bottom() + 4
        if y + height > area.bottom() and anchor.top() - height - 4 >= 0:
            y = anchor.top() - height - 4
        y = min(max(y, 0), max(area.height() - height, 0))
        x = min(max(anchor.left(), 0), max(area.width() - width, 0))
        self.setGeometry(x, y, width, height)

    def cycle_mode(self) -> None:
        count = self.mode.count()
        index = self.mode.currentIndex()
        for step in range(1, count + 1):
            candidate = (index + step) % count
            if self.mode.model().item(candidate).isEnabled():
                self.mode.setCurrentIndex(candidate)
                return

    def close_box(self) -> None:
        if self.isVisible():
            self.hide()
            self.closed.emit()

    def submit(self) -> None:
        instruction = self.line.text().strip()
        self.last_instruction = instruction
        self.hide()
        self.submitted.emit(self.mode.currentText(), instruction)

    def _on_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        # Clicking elsewhere closes the box; the mode list's popup is a window of its own, so walk parents.
        widget = new
        while widget is not None and widget is not self:
            widget = widget.parentWidget()
        if new is not None and widget is None:
            self.close_box()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key, mods = event.key(), event.modifiers()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.submit()
                return True
            if key == Qt.Key.Key_Escape:
                self.close_box()
                return True
            if key == Qt.Key.Key_M and mods == Qt.KeyboardModifier.AltModifier:
                self.cycle_mode()
                return True
        return super().eventFilter(watched, event)
