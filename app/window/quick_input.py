"""A one-line input floating at the top of the window, the shared shape of the command palette and Go to Line.

It is a frameless child of the window (not a dialog or a popup window), so it is non-modal, never takes the
application's focus chain away, and the document stays visible under it. Esc, or focus moving anywhere else,
closes it and hands the focus back to the widget that had it. Subclasses act on `submit()` (Enter) and may
handle more keys in `handle_key`.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QLineEdit, QVBoxLayout, QWidget

WIDTH = 480


class QuickInput(QFrame):
    """Attributes: line (the input), message (a one-line note under it, hidden when empty)."""

    def __init__(self, window: QWidget, placeholder: str) -> None:
        super().__init__(window)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.line = QLineEdit()
        self.line.setPlaceholderText(placeholder)
        self.line.installEventFilter(self)
        self.message = QLabel()
        self.message.hide()
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(6, 6, 6, 6)
        self.layout_.addWidget(self.line)
        self.layout_.addWidget(self.message)
        self._return_to: QWidget | None = None
        QApplication.instance().focusChanged.connect(self._on_focus_changed)
        self.hide()

    def open(self, text: str = "") -> None:
        """Show at the top centre of the window, focused, with `text` in the line (selected)."""
        self._return_to = QApplication.focusWidget()
        self.line.setText(text)
        self.line.selectAll()
        self.say("")
        self.show()
        self.place()
        self.raise_()
        self.line.setFocus()

    def place(self) -> None:
        window = self.parentWidget()
        area = window.centralWidget().geometry() if hasattr(window, "centralWidget") else window.rect()
        self.adjustSize()
        width = min(WIDTH, area.width())
        self.setGeometry(area.left() + (area.width() - width) // 2, area.top() + 4, width, self.sizeHint().height())

    def say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        if self.isVisible():
            self.place()

    def close_input(self) -> None:
        if not self.isVisible():
            return
        self.hide()
        if self._return_to is not None and self._return_to.isVisible():
            self._return_to.setFocus()

    def submit(self) -> None:  # Enter
        raise NotImplementedError

    def handle_key(self, event: QKeyEvent) -> bool:
        """More keys for a subclass (True: handled)."""
        return False

    def _on_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        widget = new
        while widget is not None and widget is not self:
            widget = widget.parentWidget()
        if new is not None and widget is None:
            self.hide()  # clicked elsewhere: that widget keeps the focus it just got

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.submit()
                return True
            if event.key() == Qt.Key.Key_Escape:
                self.close_input()
                return True
            if self.handle_key(event):
                return True
        return super().eventFilter(watched, event)
