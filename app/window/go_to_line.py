"""Go to Line (Ctrl+G): `LINE` or `LINE:COL`, both 1-based; the caret moves there and the view centres on it.

Columns count characters (code points), as the status bar does, not Qt's UTF-16 units. Values past the
document's end, or a line's, are clamped to the last line or the line's end; anything that is not a
number or a number pair gets a message and the input stays open.
"""

from __future__ import annotations

import re

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from app.window.quick_input import QuickInput
from engine import index_to_utf16

_TARGET = re.compile(r"\s*(\d+)\s*(?:[:,]\s*(\d+)\s*)?")
HELP = "Type a line number, or line:column (for example 12 or 12:5)"


def parse_target(text: str) -> tuple[int, int] | None:
    """(line, column), 1-based, column 1 when absent; None for anything else."""
    match = _TARGET.fullmatch(text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 1)


def go_to(editor: QPlainTextEdit, line: int, column: int = 1) -> tuple[int, int]:
    """Put the caret at `line`:`column` (clamped), centre it in the view; returns where it went."""
    document = editor.document()
    line = min(max(line, 1), document.blockCount())
    block = document.findBlockByNumber(line - 1)
    text = block.text()
    column = min(max(column, 1), len(text) + 1)
    cursor = QTextCursor(block)
    cursor.setPosition(block.position() + index_to_utf16(text, column - 1))
    editor.setTextCursor(cursor)
    editor.centerCursor()
    return line, column


class GoToLine(QuickInput):
    """The input; `editor` is a callable giving the current tab's editor."""

    def __init__(self, window: QWidget, editor) -> None:
        super().__init__(window, "Go to line[:column]")
        self._editor = editor

    def open(self, text: str = "") -> None:
        editor = self._editor()
        super().open(text)
        self.line.setPlaceholderText(f"Go to line[:column] — 1 to {editor.document().blockCount()}")

    def submit(self) -> None:
        target = parse_target(self.line.text())
        if target is None:
            self.say(HELP)
            return
        editor = self._editor()
        self.hide()
        go_to(editor, *target)
        editor.setFocus()
