"""Fill and typing: a key typed at the span before the first draft (or at a fill's edge) ends the run and is
never glued to the model's text; fill means rewrite with a selection; a fill at the start of a paragraph keeps
the paragraph break. The real window and engine, the tiny random DiffusionGemma."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import QApplication

from app.rewrite.session import fill_break
from tests.app import shown_with_model

TEXT = "Dear Sam,\n\nthank you for the letter.\n"
SPAN = "thank you for the letter."
HEADING = "Intro paragraph.\n\n# History\n\nIt began in 1901.\n"


@pytest.fixture
def window(qtbot, checkpoint, monkeypatch):
    yield from shown_with_model(qtbot, monkeypatch, checkpoint, TEXT, seed=5, steps=8)


def _caret(editor, position: int, anchor: int | None = None) -> None:
    cursor = editor.textCursor()
    cursor.setPosition(position if anchor is None else anchor)
    cursor.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def _ctrl_j_enter(qtbot, editor) -> None:
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(editor.box.line, Qt.Key.Key_Return)
    assert editor.session is not None and editor.session.state == "running"


def _type(editor, text: str) -> None:
    QApplication.sendEvent(editor, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Q, Qt.KeyboardModifier.NoModifier, text))


def _keep_the_engine_busy(qtbot, window):
    """Another tab's endless run holds the engine's one worker: this tab's request waits behind it, so its first
    draft cannot come while the test types. Returns that tab's editor (its run is cancelled by the caller)."""
    first = window.tabs.currentIndex()
    qtbot.keyClick(window.editor, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    other = window.editor
    other.setPlainText("Keep it busy.\n")
    other.steps = 100000
    other.selectAll()
    assert other.start_rewrite()
    qtbot.waitUntil(lambda: other.session.draft is not None, timeout=10000)
    window.tabs.setCurrentIndex(first)
    return other


@pytest.mark.parametrize("when", ["before it is submitted", "once submitted"])
@pytest.mark.parametrize("mode", ["fill", "rewrite"])
def test_a_key_typed_while_the_first_draft_is_awaited_ends_the_run_and_stays_alone(qtbot, window, mode, when):
    busy = _keep_the_engine_busy(qtbot, window) if when == "once submitted" else None
    editor = window.editor
    start = TEXT.index(SPAN)
    runs = []
    submit = window.bridge.submit
    window.bridge.submit = lambda request: runs.append(submit(request)) or runs[-1]
    drafts = []
    editor.draftShown.connect(drafts.append)
    if mode == "fill":
        _caret(editor, start)
    else:
        _caret(editor, start + len(SPAN), start)  # selected left to right: the caret ends at the span's end
    _ctrl_j_enter(qtbot, editor)
    session = editor.session
    if busy is not None:
        qtbot.waitUntil(lambda: session.cancel_job is not None, timeout=10000)  # submitted, queued
        assert len(runs) == 1
    assert session.draft is None
    _type(editor, "Q")  # the caret sits where the run writes (a fill's point, the span's end)
    at = start if mode == "fill" else start + len(SPAN)
    assert not session.active
    assert editor.raw_text() == TEXT[:at] + "Q" + TEXT[at:]
    if busy is not None:
        busy.cancel_rewrite()  # the engine's worker moves on to this tab's job, cancelled: it ends at once
    qtbot.waitUntil(editor.task.done, timeout=10000)
    assert editor.raw_text() == TEXT[:at] + "Q" + TEXT[at:]  # nothing came after: the typed key stands alone
    assert not drafts and session.draft is None
    assert all(run.done for run in runs) and len(runs) == (busy is not None)  # stopped, or never asked for
    assert window.run_label.text() == "Rewrite stopped: you edited the span"
    editor.document().undo()
    assert editor.raw_text() == TEXT and not editor.document().isUndoAvailable()


def test_a_key_typed_at_a_fills_edge_during_its_drafts_ends_it(qtbot, window):
    editor = window.editor
    editor.steps = 100000  # still running while the test types
    start = TEXT.index(SPAN)
    _caret(editor, start)
    _ctrl_j_enter(qtbot, editor)
    session = editor.session
    qtbot.waitUntil(lambda: session.draft is not None and editor.raw_text() != TEXT, timeout=10000)
    for position in (session.start, session.end):  # before or after the model's text
        _caret(editor, position)
        _type(editor, "Q")
        assert not session.active
        assert editor.raw_text() == TEXT[:start] + "Q" + TEXT[start:]
        editor.document().undo()
        assert editor.raw_text() == TEXT
        qtbot.waitUntil(editor.task.done, timeout=10000)
        _caret(editor, start)
        _ctrl_j_enter(qtbot, editor)
        session = editor.session
        qtbot.waitUntil(lambda: session.draft is not None and editor.raw_text() != TEXT, timeout=10000)
    editor.cancel_rewrite()


def test_with_a_selection_the_box_offers_no_fill(qtbot, window):
    editor = window.editor
    start = TEXT.index(SPAN)
    _caret(editor, start + len(SPAN), start)
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    box = editor.box
    enabled = {box.mode.itemText(i): box.mode.model().item(i).isEnabled() for i in range(box.mode.count())}
    assert enabled == {"rewrite": True, "refine": True, "fill": False}
    seen = set()
    for _ in range(box.mode.count() + 1):
        seen.add(box.mode.currentText())
        qtbot.keyClick(box.line, Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)
    assert seen == {"rewrite", "refine"}
    qtbot.keyClick(box.line, Qt.Key.Key_Escape)
    assert editor.raw_text() == TEXT


def test_fill_asked_with_a_selection_rewrites_the_selection(qtbot, window):
    editor = window.editor
    start = TEXT.index(SPAN)
    _caret(editor, start + len(SPAN), start)
    assert editor.start_rewrite("fill")
    session = editor.session
    assert session.mode == "rewrite" and session.original == SPAN
    qtbot.waitUntil(lambda: session.state == "done", timeout=10000)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.raw_text() == TEXT[:start] + session.final_text + TEXT[start + len(SPAN) :]  # in place, not before


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_fill_before_a_heading_keeps_the_blank_line(qtbot, window, seed):
    editor = window.editor
    editor.setPlainText(HEADING)
    editor.seed = seed
    at = HEADING.index("# History")
    _caret(editor, at)
    _ctrl_j_enter(qtbot, editor)
    qtbot.waitUntil(lambda: editor.session.state != "running", timeout=10000)
    final = editor.session.result.text.replace("\r\n", "\n").replace("\r", "\n")  # as the document holds it
    assert final.strip()  # the model wrote something
    shown = editor.raw_text()
    assert shown == HEADING[:at] + final.rstrip("\n") + "\n\n" + HEADING[at:]  # the drafts' last view too
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.raw_text() == shown
    assert "\n\n# History\n" in editor.raw_text()  # still a heading of its own


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("e.\n\n", "# H", "\n\n"),  # a paragraph's start: a blank line
        ("a\n", "b", "\n"),  # a line's start: a newline
        ("", "Text", "\n\n"),  # the document's start
        ("ab", "cd", ""),  # mid-line
        ("ab", "\n", ""),  # a line's end
        ("a\n", "\n", ""),  # an empty line
        ("a\n", "", ""),  # the document's end
    ],
)
def test_the_break_a_fill_ends_with(before, after, expected):
    assert fill_break(before, after) == expected
