"""The editor widget of a tab, and its rewrite keys.

Keys while a rewrite is active:
- Ctrl+J: start one (a selection: rewrite it; none: fill at the cursor). A new Ctrl+J cancels the old run.
- Enter/Tab: accept. Once the run has finished, the final text; while it runs, the draft shown now (the
  engine is stopped) but only when it has no masked (placeholder) piece, otherwise the key is swallowed and
  the status bar says why. Either way the accepted edit is one undo step.
- Esc: cancel; the document is byte-identical to before and its undo history unchanged.
- Typing, deleting or pasting inside the span: the run stops, the original comes back and the edit is applied
  to it. Outside the span: allowed; the draft stays and the result lands at the span's current position.
- Ctrl+Z / Ctrl+Shift+Z: cancel the run first, then undo/redo the user's own history.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QKeySequence, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextEdit

from app.code_editor import CodeEditor
from app.engine_bridge import EngineBridge
from app.rewrite_session import RewriteSession, utf16_len
from engine import Draft, EditResult

_FORMATS: dict[str, QTextCharFormat] = {}


def _format(kind: str) -> QTextCharFormat:
    if not _FORMATS:
        changed = QTextCharFormat()
        changed.setBackground(QColor("#fff1a6"))
        faded = QTextCharFormat()
        faded.setForeground(QColor("#9a9a9a"))
        placeholder = QTextCharFormat()
        placeholder.setForeground(QColor("#c4c4c4"))
        done = QTextCharFormat()
        done.setBackground(QColor("#dff3dc"))
        _FORMATS.update(changed=changed, faded=faded, placeholder=placeholder, done=done)
    return _FORMATS[kind]


_EDIT_KEYS = (Qt.Key.Key_Backspace, Qt.Key.Key_Delete)
_EDIT_SEQUENCES = (
    QKeySequence.StandardKey.Paste,
    QKeySequence.StandardKey.Cut,
    QKeySequence.StandardKey.DeleteEndOfWord,
    QKeySequence.StandardKey.DeleteStartOfWord,
    QKeySequence.StandardKey.DeleteEndOfLine,
    QKeySequence.StandardKey.DeleteCompleteLine,
)


def _is_edit(event: QKeyEvent) -> bool:
    if event.key() in _EDIT_KEYS or any(event.matches(seq) for seq in _EDIT_SEQUENCES):
        return True
    text = event.text()
    return bool(text) and (text.isprintable() or text in "\r\n\t")


class Editor(CodeEditor):
    """A plain-text editor that can rewrite a span in place through the engine bridge.

    Attributes:
        session: the current (or last) RewriteSession, or None.
        steps, seed, instruction: request options for the next Ctrl+J (None: the model's defaults).

    Signals:
        statusChanged(str): the run's status line (step n/max, tokens/s, elapsed, hints).
    """

    statusChanged = Signal(str)

    def __init__(self, bridge: EngineBridge, document_id: str, parent=None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.document_id = document_id
        self.session: RewriteSession | None = None
        self.job_id: int | None = None
        self.steps: int | None = None
        self.seed: int | None = None
        self.instruction = ""
        self._in_edit = False
        bridge.draftReady.connect(self._on_draft)
        bridge.resultReady.connect(self._on_result)

    # -- rewrite commands --------------------------------------------------------------------------------

    def start_rewrite(self, mode: str | None = None, instruction: str | None = None) -> bool:
        if self.session is not None and self.session.active:
            self.session.cancel()
        cursor = self.textCursor()
        start, end = cursor.selectionStart(), cursor.selectionEnd()
        mode = mode or ("rewrite" if start != end else "fill")
        session = RewriteSession(self.document(), start, end, mode, instruction or self.instruction)
        try:
            request = session.request(steps=self.steps, seed=self.seed, document_id=self.document_id)
            job_id = self.bridge.submit(request)
        except Exception as exc:  # noqa: BLE001 - a bad request or a closed engine is a status message
            session.cancel()
            self.statusChanged.emit(f"Cannot rewrite: {exc}")
            return False
        session.cancel_job = lambda: self.bridge.cancel(job_id)
        self.session, self.job_id = session, job_id
        cursor.clearSelection()
        self.setTextCursor(cursor)
        self.statusChanged.emit(f"{mode}: waiting for the model…")
        return True

    def accept_rewrite(self) -> bool:
        session = self.session
        if session is None or not session.active:
            return False
        if not session.accept():
            self.statusChanged.emit("Still refining: masked pieces remain (Esc cancels)")
            return False
        self._refresh()
        self.statusChanged.emit("Accepted (Ctrl+Z restores the original)")
        return True

    def cancel_rewrite(self) -> bool:
        session = self.session
        if session is None or not session.active:
            return False
        session.cancel()
        self._refresh()
        self.statusChanged.emit("Cancelled")
        return True

    # -- bridge ------------------------------------------------------------------------------------------

    def _on_draft(self, job_id: int, draft: Draft) -> None:
        if job_id != self.job_id or self.session is None:
            return
        self.session.show_draft(draft)
        self._refresh()
        rate = len(draft.pieces) / draft.elapsed_s if draft.elapsed_s > 0 else 0.0
        self.statusChanged.emit(
            f"step {draft.step}/{draft.max_steps} · {rate:.0f} tok/s · {draft.elapsed_s:.1f} s"
        )

    def _on_result(self, job_id: int, result: EditResult) -> None:
        if job_id != self.job_id or self.session is None:
            return
        session = self.session
        session.finish(result)
        self._refresh()
        if session.state == "done":
            self.statusChanged.emit(
                f"done · {result.steps} steps · {result.tokens_per_s:.0f} tok/s · {result.elapsed_s:.1f} s"
                " — Enter accepts, Esc cancels"
            )
        elif session.state == "failed":
            self.statusChanged.emit(f"Rewrite failed: {session.error}")

    def _refresh(self) -> None:
        selections = []
        session = self.session
        if session is not None and session.active:
            for h in session.highlights():
                sel = QTextEdit.ExtraSelection()
                cursor = QTextCursor(self.document())
                cursor.setPosition(h.start)
                cursor.setPosition(h.end, QTextCursor.MoveMode.KeepAnchor)
                sel.cursor = cursor
                sel.format = _format(h.kind)
                selections.append(sel)
        self.set_overlay(selections)

    # -- keys --------------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key == Qt.Key.Key_J and mods == Qt.KeyboardModifier.ControlModifier:
            self.start_rewrite()
            return
        session = self.session
        if session is None or not session.active:
            super().keyPressEvent(event)
            return
        plain = mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        if key == Qt.Key.Key_Escape:
            self.cancel_rewrite()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab) and plain:
            self.accept_rewrite()
        elif event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo):
            self.cancel_rewrite()
            super().keyPressEvent(event)
        elif _is_edit(event):
            self._guarded(lambda: super(Editor, self).keyPressEvent(event))
        else:
            super().keyPressEvent(event)

    def insertFromMimeData(self, source) -> None:  # noqa: N802 - Qt's name
        if self._in_edit or self.session is None or not self.session.active:
            super().insertFromMimeData(source)
        else:
            self._guarded(lambda: super(Editor, self).insertFromMimeData(source))

    def _guarded(self, edit) -> None:
        """Apply a user edit under the rewrite: inside the span it ends the run, elsewhere it goes below it."""
        session = self.session
        cursor = self.textCursor()
        lo, hi = cursor.selectionStart(), cursor.selectionEnd()
        start, end = session.start, session.end
        inside = (lo < end and start < hi) if lo != hi else start < lo < end
        if inside:
            # Cancel (the original comes back), keep the caret at the same offset, then type there.
            offsets = (cursor.anchor() - start, cursor.position() - start)
            session.cancel()
            limit = utf16_len(session.original)
            new = QTextCursor(self.document())
            new.setPosition(session.start + min(max(offsets[0], 0), limit))
            new.setPosition(session.start + min(max(offsets[1], 0), limit), QTextCursor.MoveMode.KeepAnchor)
            self.setTextCursor(new)
            self._refresh()
            self.statusChanged.emit("Rewrite stopped: you edited the span")
            edit()
            return
        self._in_edit = True
        try:
            session.suspend()
            edit()
            session.resume()
        finally:
            self._in_edit = False
        if session.state == "interrupted":
            self.statusChanged.emit("Rewrite stopped: you edited the span")
        self._refresh()
