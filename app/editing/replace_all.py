"""Replace all as one undo step without holding the GUI thread: the find bar's bulk edit.

Every non-empty match of a query is replaced in chunks: consecutive matches whose range (first match start to
last match end) spans at most CHUNK_CHARS of text become ONE insertion over that range. The first chunk is
applied at once, inside beginEditBlock/endEditBlock; each next one comes on a later event-loop turn inside
joinPreviousEditBlock/endEditBlock, so the undo stack holds one step (one undo() restores the whole text)
made of a few commands per chunk. A document whose matches fit in one chunk is replaced in the call, as before.

Qt's cost of an insertion (the blocks it splits, relays out and hands the syntax highlighter) follows the
length of the range it replaces, so a chunk costs about the same however many matches it holds. While
chunks remain the editor is read-only: typing, pasting and dropping are refused, so no keystroke lands inside
the step. Any other change to the document meanwhile (a menu undo, a rewrite) ends the run where it is: what
was replaced so far stays one undo step, and `finished` says it stopped.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

from app.editing.find_search import Query, Utf16

# Text per chunk. Measured on 1 MB of highlighted Markdown with 637 matches: the whole range in one insertion
# stalled 146-227 ms; a chunk of 16k / 32k / 64k chars took ~2 / 3 / 6 ms on average (plus the highlighter's
# own burst of at most 12 ms when one starts in it), 59 / 31 / 16 turns in all; joining a chunk costs the same
# at the last as at the first.
CHUNK_CHARS = 1 << 15
STOPPED = "Replace all stopped: the document changed"


def utf16_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


class ReplaceAll(QObject):
    """One replace-all run over `editor`'s document, whose text was `text` (`offsets` its UTF-16 map).

    Attributes:
        count: replacements made so far; first: the str index of the first match (None: none yet).
        running: chunks remain (the editor is read-only until they land).

    Signals:
        progress(int): after each chunk but the last, the replacements made so far.
        finished(int, str): the run is over: the replacements made and what went wrong ("" when nothing).
    """

    progress = Signal(int)
    finished = Signal(int, str)

    def __init__(
        self,
        editor: QPlainTextEdit,
        query: Query,
        pattern: re.Pattern,
        replacement: str,
        text: str,
        offsets: Utf16,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.editor = editor
        self.count = 0
        self.first: int | None = None
        self.running = False
        self._query, self._replacement, self._text, self._offsets = query, replacement, text, offsets
        self._matches = (m for m in pattern.finditer(text) if m.end() > m.start())  # consumed chunk by chunk
        self._next = next(self._matches, None)
        self._shift = 0  # UTF-16 units the chunks applied so far added before the next one
        self._own = False  # the change being made is a chunk's
        self._was_read_only = editor.isReadOnly()
        self._timer = QTimer(self, singleShot=True, interval=0, timeout=self._step)
        editor.document().contentsChange.connect(self._on_contents_change)

    def start(self) -> None:
        """Apply the first chunk now (ValueError, with nothing changed, when the replacement is invalid);
        the rest follow on later event-loop turns."""
        if self._next is None:
            self._finish("")
            return
        try:
            chunk = self._chunk()
        except ValueError:
            self._disconnect()
            raise
        self._apply(chunk, QTextCursor.beginEditBlock)

    def _chunk(self) -> tuple[int, int, str]:
        """The next chunk: the str range it replaces and its new text (the matches in it expanded)."""
        text, first = self._text, self._next
        start = pos = first.start()
        parts: list[str] = []
        match = first
        while match is not None and (match is first or match.end() - start <= CHUNK_CHARS):
            parts.append(text[pos : match.start()])
            parts.append(self._query.expand(match, self._replacement))
            pos = match.end()
            self.count += 1
            match = next(self._matches, None)
        self._next = match
        return start, pos, "".join(parts)

    def _apply(self, chunk: tuple[int, int, str], open_block) -> None:
        start, end, new = chunk
        a, b = self._offsets.position(start), self._offsets.position(end)
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(a + self._shift)
        cursor.setPosition(b + self._shift, QTextCursor.MoveMode.KeepAnchor)
        self._own = True
        try:
            open_block(cursor)
            cursor.insertText(new)
            cursor.endEditBlock()
        finally:
            self._own = False
        self._shift += utf16_length(new) - (b - a)
        if self.first is None:
            self.first = start
        if self._next is None:
            self._finish("")
            return
        if not self.running:
            self.running = True
            self.editor.setReadOnly(True)  # no keystroke, paste or drop lands inside the undo step
        self.progress.emit(self.count)
        self._timer.start()

    def _step(self) -> None:
        try:
            chunk = self._chunk()
        except ValueError as exc:  # not seen in practice: every match has the same groups as the first
            self._finish(str(exc))
            return
        self._apply(chunk, QTextCursor.joinPreviousEditBlock)

    def _on_contents_change(self, _position: int, removed: int, added: int) -> None:
        if not self._own and (removed or added) and self.running:
            self._finish(STOPPED)

    def _finish(self, error: str) -> None:
        self._timer.stop()
        self._next = None
        self._disconnect()
        if self.running:
            self.running = False
            self.editor.setReadOnly(self._was_read_only)
        self.finished.emit(self.count, error)

    def _disconnect(self) -> None:
        try:
            self.editor.document().contentsChange.disconnect(self._on_contents_change)
        except (RuntimeError, TypeError):  # already disconnected, or the document is gone with its tab
            pass
