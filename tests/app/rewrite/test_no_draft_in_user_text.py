"""The document holds a model's text only while its session shows it: every way text reaches the document
during a rewrite takes the draft back first (issue: NBSP, input methods and other views left it behind)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt
from PySide6.QtGui import QInputMethodEvent, QKeyEvent, QTextCursor, QDropEvent
from PySide6.QtWidgets import QApplication

from tests.app import shown_with_model

TEXT = "Intro line.\nHello brave world, this is the span.\nTail end.\n"
SPAN = "brave world"


@pytest.fixture
def window(qtbot, checkpoint, monkeypatch):
    yield from shown_with_model(qtbot, monkeypatch, checkpoint, TEXT, seed=3)


def _running(qtbot, editor) -> None:
    editor.steps = 100000  # still running while the test types
    cursor = editor.textCursor()
    cursor.setPosition(TEXT.index(SPAN))
    cursor.setPosition(TEXT.index(SPAN) + len(SPAN), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    assert editor.start_rewrite()
    qtbot.waitUntil(lambda: editor.session.draft is not None and editor.raw_text() != TEXT, timeout=10000)


def _caret_at_end(editor) -> None:
    cursor = editor.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    editor.setTextCursor(cursor)


def _key(editor, text: str) -> None:
    QApplication.sendEvent(editor, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_unknown, Qt.KeyboardModifier.NoModifier, text))


def _input_method(editor, text: str) -> None:
    event = QInputMethodEvent("", [])
    event.setCommitString(text)
    QApplication.sendEvent(editor, event)


def _paste(editor, text: str) -> None:
    mime = QMimeData()
    mime.setText(text)
    editor.insertFromMimeData(mime)


def _drop(editor, text: str) -> None:
    mime = QMimeData()
    mime.setText(text)
    cursor = QTextCursor(editor.document())
    cursor.movePosition(QTextCursor.MoveOperation.End)
    where = QPointF(editor.cursorRect(cursor).center())
    for kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
        from PySide6.QtGui import QDragMoveEvent, QDragEnterEvent

        cls = QDragEnterEvent if kind == QEvent.Type.DragEnter else QDragMoveEvent
        QApplication.sendEvent(editor.viewport(), cls(where.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QApplication.sendEvent(editor.viewport(), QDropEvent(where, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))


def _other_view(editor, text: str) -> None:
    cursor = QTextCursor(editor.document())  # an edit that never passes the editor's keys
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.insertText(text)


TYPED = {
    "no-break space": (_key, "\u00a0"),
    "narrow no-break space": (_key, "\u202f"),
    "thin space": (_key, "\u2009"),
    "ideographic space": (_key, "\u3000"),
    "soft hyphen": (_key, "\u00ad"),
    "a letter": (_key, "é"),
    "input method commit": (_input_method, "漢字"),
    "paste": (_paste, "pasted"),
    "drop": (_drop, "dropped"),
    "another view": (_other_view, "elsewhere"),
}


@pytest.mark.parametrize("kind", list(TYPED))
def test_text_typed_below_a_running_draft_never_keeps_the_draft(qtbot, window, kind):
    editor = window.editor
    send, text = TYPED[kind]
    _running(qtbot, editor)
    _caret_at_end(editor)
    send(editor, text)
    qtbot.wait(20)  # the net under unguarded edits repairs on the next turn of the loop
    expected = TEXT + text
    if editor.session.active:  # the draft is still shown, legitimately: Esc must give exactly the user's text
        qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.raw_text() == expected
    qtbot.waitUntil(editor.task.done, timeout=10000)


def test_text_typed_into_the_draft_from_another_view_lands_in_the_original(qtbot, window):
    editor = window.editor
    _running(qtbot, editor)
    cursor = QTextCursor(editor.document())  # another view's cursor, one character into the span
    cursor.setPosition(editor.session.start + 1)
    cursor.insertText("Z")
    qtbot.waitUntil(lambda: not editor.session.active and editor.raw_text() != editor.session.original, timeout=5000)
    qtbot.wait(20)
    start = TEXT.index(SPAN)
    assert editor.raw_text() == TEXT[: start + 1] + "Z" + TEXT[start + 1 :]


def test_a_drop_right_after_the_draft_lands_right_after_the_original(qtbot, window):
    editor = window.editor
    _running(qtbot, editor)
    after = QTextCursor(editor.document())
    after.setPosition(editor.session.end)  # right after the draft, as the user sees it
    mime = QMimeData()
    mime.setText("dropped")
    where = QPointF(editor.cursorRect(after).left() + 1, editor.cursorRect(after).center().y())
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent

    for cls in (QDragEnterEvent, QDragMoveEvent):
        QApplication.sendEvent(editor.viewport(), cls(where.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QApplication.sendEvent(editor.viewport(), QDropEvent(where, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    if editor.session.active:
        qtbot.keyClick(editor, Qt.Key.Key_Escape)
    end = TEXT.index(SPAN) + len(SPAN)
    assert editor.raw_text() == TEXT[:end] + "dropped" + TEXT[end:]


def test_a_composition_inside_the_span_commits_where_it_began(qtbot, window):
    """A preedit typed inside the span, then its commit (CJK through ibus/fcitx): the run stops on the
    original and the committed text lands at the caret, not where the draft's text had moved it."""
    editor = window.editor
    _running(qtbot, editor)
    at = editor.session.start + 1  # inside the span, after its first character
    cursor = editor.textCursor()
    cursor.setPosition(at)
    editor.setTextCursor(cursor)
    QApplication.sendEvent(editor, QInputMethodEvent("かんじ", []))
    _input_method(editor, "漢字")
    start = TEXT.index(SPAN)
    assert editor.raw_text() == TEXT[: start + 1] + "漢字" + TEXT[start + 1 :]
    assert not editor.session.active


def test_undo_during_a_run_takes_the_draft_back_then_undoes_the_users_edit(qtbot, window):
    editor = window.editor
    _caret_at_end(editor)
    editor.textCursor().insertText("mine")
    _running(qtbot, editor)
    editor.undo()  # as the Edit menu calls it
    assert editor.raw_text() == TEXT and not editor.session.active
