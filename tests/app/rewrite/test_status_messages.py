"""Every status message goes when it stops being true: the run's line when the run ends, a note about what
happened ("Accepted 2 of 2 changes", "Cancelled") at the next edit or undo, the "rewrite in progress" notice
when the rewrite ends. The real window and engine, the tiny random DiffusionGemma."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from app.window.main_window import create_main_window
from engine import MODEL_ENV
from tests.app import close_window

TEXT = "Intro line.\nHello brave world, this is the span.\nTail end.\n"
SPAN = "brave world, this is the span."


@pytest.fixture
def window(qtbot, checkpoint, monkeypatch, tmp_path):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    (path := tmp_path / "notes.txt").write_text(TEXT)
    win = create_main_window([str(path)])
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=20000)
    assert win.editor.raw_text() == TEXT
    yield win
    win.hide()
    close_window(qtbot, win)


def _select_span(editor) -> None:
    cursor = editor.textCursor()
    cursor.setPosition(TEXT.index(SPAN))
    cursor.setPosition(TEXT.index(SPAN) + len(SPAN), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def _running(qtbot, editor) -> None:
    editor.steps = 100000  # still running while the test acts
    editor.seed = 1
    _select_span(editor)
    assert editor.start_rewrite()
    qtbot.waitUntil(lambda: editor.session.draft is not None, timeout=10000)


def _reviewing(qtbot, editor) -> None:
    editor.steps = 8
    for seed in range(20):
        editor.seed = seed
        _select_span(editor)
        assert editor.start_rewrite()
        qtbot.waitUntil(lambda: editor.session.state != "running", timeout=10000)
        if editor.review is not None and editor.review.hunks.hunks:
            return
        qtbot.keyClick(editor, Qt.Key.Key_Escape)
    pytest.fail("no seed changed the span")


def _type(qtbot, editor, text: str) -> None:
    cursor = editor.textCursor()
    cursor.setPosition(0)
    editor.setTextCursor(cursor)
    qtbot.keyClicks(editor, text)


def test_accepted_is_cleared_by_the_undo_that_takes_it_back(qtbot, window):
    editor = window.editor
    _reviewing(qtbot, editor)
    total = len(editor.review.hunks)
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # keep them all
    assert window.run_label.text() == f"Accepted {total} of {total} change{'s' * (total != 1)} (Ctrl+Z restores the original)"
    qtbot.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.raw_text() == TEXT
    assert window.run_label.text() == ""


@pytest.mark.parametrize("ending", ["accept", "cancel"])
def test_a_note_is_cleared_by_the_next_edit(qtbot, window, ending):
    editor = window.editor
    _running(qtbot, editor)
    qtbot.keyClick(editor, Qt.Key.Key_Return if ending == "accept" else Qt.Key.Key_Escape)
    note = "Accepted (Ctrl+Z restores the original)" if ending == "accept" else "Cancelled"
    assert window.run_label.text() == note
    qtbot.waitUntil(editor.task.done, timeout=10000)
    assert window.run_label.text() == note  # the run's own end adds nothing
    _type(qtbot, editor, "x")
    assert window.run_label.text() == ""


def test_cancelled_by_an_undo_stays_said_after_that_undo(qtbot, window):
    editor = window.editor
    _type(qtbot, editor, "a")  # one user edit for the undo to take back
    _running(qtbot, editor)
    qtbot.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.session.state == "cancelled" and editor.raw_text() == TEXT
    assert window.run_label.text() == "Cancelled"


def test_the_run_line_goes_when_an_edit_from_elsewhere_stops_the_run(qtbot, window):
    editor = window.editor
    _running(qtbot, editor)
    assert re.match(r"(block \d+/\d+ · )?step ", window.run_label.text())
    cursor = QTextCursor(editor.document())  # an edit that never passes the editor's keys
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.insertText("elsewhere")
    qtbot.waitUntil(editor.task.done, timeout=10000)
    assert editor.session.state == "interrupted"
    assert window.run_label.text() == "Rewrite stopped: the text changed"


@pytest.mark.parametrize("ending", ["Escape", "Return"])
def test_the_rewrite_in_progress_notice_goes_when_the_rewrite_ends(qtbot, window, ending):
    editor, notice = window.editor, window.tab.notice
    _reviewing(qtbot, editor)
    assert not window.save()
    assert notice.isVisible() and notice.label.text().startswith("A rewrite is in progress")
    qtbot.keyClick(editor, getattr(Qt.Key, f"Key_{ending}"))
    assert not editor.session.active
    assert not notice.isVisible()
    assert "in progress" not in window.statusBar().currentMessage()
    assert window.save()


def test_a_run_in_another_tab_does_not_speak_in_this_tabs_status(qtbot, window):
    editor = window.editor
    _running(qtbot, editor)
    first = window.tabs.currentIndex()
    qtbot.keyClick(editor, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # a new tab, now in view
    assert window.editor is not editor
    window.run_label.setText("")
    qtbot.waitUntil(lambda: editor.session.draft.step >= 3, timeout=10000)  # drafts keep coming over there
    assert window.run_label.text() == ""
    window.tabs.setCurrentIndex(first)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert window.run_label.text() == "Cancelled"
