"""The status bar's caret position: `Ln 12, Col 5`, and with a selection `(23 chars)` or `(3 lines, 80 chars)`.

Lines and columns are 1-based and count characters (code points), so an emoji is one column, as the user
sees it (Qt counts UTF-16 units). The label follows the current tab's editor only.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QPlainTextEdit

from shiboken6 import isValid

from engine import utf16_to_index


def describe_position(editor: QPlainTextEdit) -> str:
    cursor = editor.textCursor()
    block = cursor.block()
    text = f"Ln {block.blockNumber() + 1}, Col {utf16_to_index(block.text(), cursor.positionInBlock()) + 1}"
    if not cursor.hasSelection():
        return text
    chars = len(cursor.selectedText())  # one U+2029 per line break: a break counts as one character
    document = editor.document()
    first = document.findBlock(cursor.selectionStart()).blockNumber()
    last = document.findBlock(cursor.selectionEnd()).blockNumber()
    if first == last:
        return f"{text} ({chars} chars)"
    return f"{text} ({last - first + 1} lines, {chars} chars)"


class CursorPosition(QLabel):
    """A label showing `describe_position` of the editor it follows, updated as the caret moves."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._editor: QPlainTextEdit | None = None

    def follow(self, editor: QPlainTextEdit | None) -> None:
        if self._editor is not None and isValid(self._editor):  # a closed tab's editor may be gone
            self._editor.cursorPositionChanged.disconnect(self._update)
            self._editor.selectionChanged.disconnect(self._update)
        self._editor = editor
        if editor is not None:
            editor.cursorPositionChanged.connect(self._update)
            editor.selectionChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        alive = self._editor is not None and isValid(self._editor)
        self.setText(describe_position(self._editor) if alive else "")
