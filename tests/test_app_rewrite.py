"""The rewrite flow end to end: a real engine with the tiny random-weight DiffusionGemma, driven by keys."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from app.engine_bridge import EngineBridge
from app.main import create_main_window
from engine import MODEL_ENV, Draft, EditResult
from engine.offsets import index_to_utf16

TEXT = "Intro 🦊🦊 line.\nHello brave world, this is the span.\nTail 🙂 end.\n"
SPAN = "brave world"


@pytest.fixture
def window(qtbot, checkpoint, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    win = create_main_window()
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=20000)
    editor = win.editor
    editor.setPlainText(TEXT)
    editor.seed = 7
    yield win
    win.close()


def _select(editor, text: str, start_index: int, end_index: int) -> None:
    cursor = editor.textCursor()
    cursor.setPosition(index_to_utf16(text, start_index))
    cursor.setPosition(index_to_utf16(text, end_index), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def _start(qtbot, editor, steps: int | None = None) -> None:
    editor.steps = steps
    start = TEXT.index(SPAN)
    _select(editor, TEXT, start, start + len(SPAN))
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert editor.session is not None and editor.session.state == "running"


def _wait_draft(qtbot, editor) -> None:
    qtbot.waitUntil(lambda: editor.session.draft is not None and editor.toPlainText() != TEXT, timeout=10000)


def test_drafts_appear_and_enter_accepts_the_final_splice(qtbot, window):
    editor = window.editor
    _start(qtbot, editor, steps=60)  # the span sits after two emoji: UTF-16 positions != code points
    _wait_draft(qtbot, editor)
    assert editor.toPlainText().startswith("Intro 🦊🦊 line.\nHello ")
    assert editor.overlay()  # the draft's pieces are formatted
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=10000)
    final = editor.session.result.text
    start = TEXT.index(SPAN)
    expected = TEXT[:start] + final + TEXT[start + len(SPAN) :]
    assert editor.toPlainText() == expected
    assert "step" in window.run_label.text() or "done" in window.run_label.text()
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.session.state == "accepted"
    assert editor.toPlainText() == expected  # Enter accepted, it did not type a newline
    assert not editor.overlay()
    # Exactly one undo step: back to the original; redo re-applies the final text.
    editor.document().undo()
    assert editor.toPlainText() == TEXT
    assert not editor.document().isUndoAvailable()
    editor.document().redo()
    assert editor.toPlainText() == expected


def test_escape_restores_byte_identical_and_keeps_history(qtbot, window):
    editor = window.editor
    cursor = editor.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.insertText("typed")  # one entry of user history
    text = TEXT + "typed"
    assert editor.document().availableUndoSteps() == 1
    editor.steps = 300
    start = text.index(SPAN)
    _select(editor, text, start, start + len(SPAN))
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: editor.session.draft is not None and editor.session.draft.step >= 3, timeout=10000)
    assert editor.toPlainText() != text
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.session.state == "cancelled"
    assert editor.toPlainText() == text
    assert editor.document().availableUndoSteps() == 1
    assert not editor.document().isRedoAvailable()
    editor.document().undo()  # undoes the user's own edit, not a draft
    assert editor.toPlainText() == TEXT
    qtbot.waitUntil(lambda: not window.bridge.is_active(editor.job_id), timeout=5000)  # engine stopped


def test_typing_inside_the_span_cancels_and_keeps_the_typing(qtbot, window):
    editor = window.editor
    _start(qtbot, editor, steps=300)
    _wait_draft(qtbot, editor)
    session = editor.session
    cursor = editor.textCursor()
    cursor.setPosition(session.start + 3)
    editor.setTextCursor(cursor)
    qtbot.keyClicks(editor, "XY")
    assert session.state == "cancelled"
    start = TEXT.index(SPAN)
    assert editor.toPlainText() == TEXT[: start + 3] + "XY" + TEXT[start + 3 :]
    qtbot.waitUntil(lambda: not window.bridge.is_active(editor.job_id), timeout=5000)
    editor.document().undo()
    assert editor.toPlainText() == TEXT  # the typing is the only entry in the history


def test_backspace_at_the_span_end_interrupts_on_the_original(qtbot, window):
    editor = window.editor
    _start(qtbot, editor, steps=300)
    _wait_draft(qtbot, editor)
    cursor = editor.textCursor()
    cursor.setPosition(editor.session.end)
    editor.setTextCursor(cursor)
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    assert editor.session.state == "interrupted"
    assert editor.toPlainText() == TEXT.replace(SPAN, SPAN[:-1])


def test_typing_elsewhere_shifts_the_span_and_the_result_lands_there(qtbot, window):
    editor = window.editor
    _start(qtbot, editor, steps=120)
    _wait_draft(qtbot, editor)
    cursor = editor.textCursor()
    cursor.setPosition(0)
    editor.setTextCursor(cursor)
    qtbot.keyClicks(editor, "Ab ")  # before the span: shifts it
    cursor.movePosition(QTextCursor.MoveOperation.End)
    editor.setTextCursor(cursor)
    qtbot.keyClicks(editor, "zz")  # after it
    assert editor.session.active
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=15000)
    final = editor.session.result.text
    start = TEXT.index(SPAN)
    expected = "Ab " + TEXT[:start] + final + TEXT[start + len(SPAN) :] + "zz"
    assert editor.toPlainText() == expected
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.session.state == "accepted"
    editor.document().undo()  # the rewrite
    assert editor.toPlainText() == "Ab " + TEXT + "zz"
    while editor.document().isUndoAvailable():
        editor.document().undo()
    assert editor.toPlainText() == TEXT  # the user's typing, with no draft in between


def test_ctrl_j_without_selection_fills_at_the_cursor(qtbot, window):
    editor = window.editor
    editor.steps = 8
    position = TEXT.index("Tail")
    cursor = editor.textCursor()
    cursor.setPosition(index_to_utf16(TEXT, position))
    editor.setTextCursor(cursor)
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert editor.session.mode == "fill"
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=10000)
    final = editor.session.result.text
    qtbot.keyClick(editor, Qt.Key.Key_Enter)
    assert editor.toPlainText() == TEXT[:position] + final + TEXT[position:]


class _BurstEngine:
    """Stands in for the engine: each job fires `count` drafts from another thread as fast as it can."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.threads: list[threading.Thread] = []

    def submit(self, request, on_draft, on_result):
        from engine.engine import Job

        job = Job(request, on_draft, on_result, id=len(self.threads) + 1)

        def run():
            for step in range(1, self.count + 1):
                on_draft(Draft(step=step, max_steps=self.count, text=f"d{step}", pieces=(f"d{step}",)))
            on_result(EditResult("final", self.count, 1, 0.0, 0.01, 100.0, "burst", "converged"))

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()
        return job

    def close(self, timeout=None):
        for thread in self.threads:
            thread.join(timeout)


def test_a_burst_of_drafts_is_coalesced_to_frames(qtbot):
    from engine import EditRequest

    bridge = EngineBridge(engine=_BurstEngine(200))
    seen: list[Draft] = []
    bridge.draftReady.connect(lambda _job, draft: seen.append(draft))
    with qtbot.waitSignal(bridge.resultReady, timeout=5000) as blocker:
        job_id = bridge.submit(EditRequest("abc", 0, 1))
    assert blocker.args[0] == job_id and blocker.args[1].text == "final"
    assert bridge.drafts_received == 200
    assert bridge.drafts_emitted == len(seen) < 20
    assert all(a.step < b.step for a, b in zip(seen, seen[1:], strict=False))  # always the newest
    assert not bridge._frame.isActive()  # the frame timer runs only while a job is active
    bridge.shutdown()


def test_real_engine_drafts_are_coalesced(qtbot, window):
    editor = window.editor
    bridge = window.bridge
    _start(qtbot, editor, steps=300)
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=15000)
    assert bridge.drafts_received == 300
    assert 0 < bridge.drafts_emitted < bridge.drafts_received
