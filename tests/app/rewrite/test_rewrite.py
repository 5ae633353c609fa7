"""The rewrite flow end to end: a real engine with the tiny random-weight DiffusionGemma, driven by keys."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QMessageBox

from app.editing.colors import colors_for
from app.window.main_window import create_main_window
from engine import MODEL_ENV, Draft, index_to_utf16

TEXT = "Intro 🦊🦊 line.\nHello brave world, this is the span.\nTail 🙂 end.\n"
SPAN = "brave world"


@pytest.fixture
def window(qtbot, checkpoint, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    win = create_main_window()
    win.show()  # shown, so the floating box and bar are really visible and focus moves as for a user
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=20000)
    editor = win.editor
    editor.setPlainText(TEXT)
    editor.seed = 7
    yield win
    win.hide()  # a hidden window closes without asking about unsaved text (the journal keeps it)
    win.close()
    qtbot.waitUntil(win.closed.done, timeout=10000)  # the engine stopped


def _select(editor, text: str, start_index: int, end_index: int) -> None:
    cursor = editor.textCursor()
    cursor.setPosition(index_to_utf16(text, start_index))
    cursor.setPosition(index_to_utf16(text, end_index), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def _ctrl_j_enter(qtbot, editor, instruction: str = "") -> None:
    """Ctrl+J opens the instruction box; type the instruction (if any) and press Enter there."""
    before = editor.session
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert editor.box.isVisible() and editor.session is before  # nothing runs until Enter
    if instruction:
        qtbot.keyClicks(editor.box.line, instruction)
    qtbot.keyClick(editor.box.line, Qt.Key.Key_Return)
    assert not editor.box.isVisible()


def _start(qtbot, editor, steps: int | None = None) -> None:
    editor.steps = steps
    start = TEXT.index(SPAN)
    _select(editor, TEXT, start, start + len(SPAN))
    _ctrl_j_enter(qtbot, editor)
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
    _ctrl_j_enter(qtbot, editor)
    qtbot.waitUntil(lambda: editor.session.draft is not None and editor.session.draft.step >= 3, timeout=10000)
    assert editor.toPlainText() != text
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.session.state == "cancelled"
    assert editor.toPlainText() == text
    assert editor.document().availableUndoSteps() == 1
    assert not editor.document().isRedoAvailable()
    editor.document().undo()  # undoes the user's own edit, not a draft
    assert editor.toPlainText() == TEXT
    qtbot.waitUntil(editor.task.done, timeout=5000)  # engine stopped


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
    qtbot.waitUntil(editor.task.done, timeout=5000)
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
    _ctrl_j_enter(qtbot, editor)
    assert editor.session.mode == "fill"
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=10000)
    final = editor.session.result.text
    qtbot.keyClick(editor, Qt.Key.Key_Enter)
    # At the start of a line: the fill ends with a newline, so "Tail" stays a line of its own.
    assert editor.toPlainText() == TEXT[:position] + final.rstrip("\n") + "\n" + TEXT[position:]


def test_real_engine_drafts_are_coalesced(qtbot, window, monkeypatch):
    editor = window.editor
    runs = []
    submit = window.bridge.submit
    monkeypatch.setattr(window.bridge, "submit", lambda request: runs.append(submit(request)) or runs[-1])
    seen: list[Draft] = []
    editor.draftShown.connect(seen.append)
    _start(qtbot, editor, steps=300)
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=15000)
    (run,) = runs
    assert run.received == 300  # every step reached the loop...
    assert 0 < run.shown == len(seen) < run.received  # ...and at most one per frame reached the screen
    assert all(a.step < b.step for a, b in zip(seen, seen[1:], strict=False))  # always the newest
    assert run.done and editor.task.done() and run not in window.bridge.runs


# -- the instruction box, rerun, hunk review, bad input, quitting ------------------------------------------


def test_instruction_box_esc_touches_nothing_and_enter_remembers_the_instruction(qtbot, window):
    editor = window.editor
    editor.steps = 300
    start = TEXT.index(SPAN)
    _select(editor, TEXT, start, start + len(SPAN))
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    box = editor.box
    assert box.isVisible() and box.line.hasFocus()
    assert box.mode.currentText() == "rewrite"
    # Anchored at the selection: the box's top is just below the selection's last line, inside the viewport.
    cursor = editor.textCursor()
    cursor.setPosition(cursor.selectionEnd())
    assert 0 <= box.y() - editor.cursorRect(cursor).bottom() <= 8
    assert editor.viewport().rect().contains(box.geometry())
    qtbot.keyClicks(box.line, "shorter")
    qtbot.keyClick(box.line, Qt.Key.Key_Escape)
    assert not box.isVisible() and editor.session is None
    assert editor.toPlainText() == TEXT and not editor.document().isUndoAvailable()
    assert editor.textCursor().selectedText() == SPAN  # the selection is still there to try again
    # Ctrl+J, an instruction, Alt+M to refine, Enter: the run carries both.
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(box.line, "more formal")
    qtbot.keyClick(box.line, Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(box.line, Qt.Key.Key_Return)
    session = editor.session
    assert (session.mode, session.instruction) == ("refine", "more formal")
    assert session.request().instruction == "more formal"
    _wait_draft(qtbot, editor)
    # Ctrl+J during the run: it stops, the original span is selected again and the box offers the same.
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert session.state == "cancelled" and editor.toPlainText() == TEXT
    assert editor.textCursor().selectedText() == SPAN
    assert box.line.text() == "more formal" and box.line.selectedText() == "more formal"
    assert box.mode.currentText() == "refine"
    qtbot.keyClick(box.line, Qt.Key.Key_Escape)
    assert not editor.document().isUndoAvailable()


def test_without_a_selection_the_box_offers_fill_only(qtbot, window):
    editor = window.editor
    cursor = editor.textCursor()
    cursor.setPosition(3)
    editor.setTextCursor(cursor)
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    box = editor.box
    assert box.mode.currentText() == "fill"
    enabled = [box.mode.model().item(i).isEnabled() for i in range(box.mode.count())]
    assert enabled == [box.mode.itemText(i) == "fill" for i in range(box.mode.count())]
    qtbot.keyClick(box.line, Qt.Key.Key_M, Qt.KeyboardModifier.AltModifier)
    assert box.mode.currentText() == "fill"  # nothing else to cycle to
    qtbot.keyClick(box.line, Qt.Key.Key_Escape)
    assert editor.toPlainText() == TEXT


def test_status_bar_shows_model_step_rate_and_time(qtbot, window, checkpoint):
    editor = window.editor
    lines: list[str] = []
    editor.statusChanged.connect(lines.append)
    _start(qtbot, editor, steps=40)
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=10000)
    assert checkpoint.name in window.model_label.text()
    steps = [line for line in lines if re.fullmatch(r"step \d+/40 · \d+ tok/s · \d+\.\d s", line)]
    assert steps, lines
    assert re.match(r"done · 40 steps · \d+ tok/s · \d+\.\d s — \d+ changes? to review$", window.run_label.text())


def test_alt_r_reruns_the_span_with_a_new_seed(qtbot, window):
    editor = window.editor
    _start(qtbot, editor, steps=300)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    _ctrl_j_enter(qtbot, editor, "be bold")
    first = editor.session
    _wait_draft(qtbot, editor)
    first_task = editor.task
    qtbot.keyClick(editor, Qt.Key.Key_R, Qt.KeyboardModifier.AltModifier)
    second = editor.session
    assert second is not first and first.state == "cancelled"
    assert (second.mode, second.instruction, second.original) == ("rewrite", "be bold", SPAN)
    assert second.seed != first.seed and editor.task is not first_task
    assert editor.toPlainText() == TEXT  # the old draft is gone before the new one arrives
    qtbot.waitUntil(first_task.done, timeout=5000)
    qtbot.waitUntil(lambda: second.state == "done", timeout=15000)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    start = TEXT.index(SPAN)
    assert editor.toPlainText() == TEXT[:start] + second.final_text + TEXT[start + len(SPAN) :]
    editor.document().undo()
    assert editor.toPlainText() == TEXT and not editor.document().isUndoAvailable()


HUNK_SPAN = "brave world, this is the span."


def _run_until_hunks(qtbot, editor, at_least: int) -> None:
    """Run on HUNK_SPAN with seeds 0, 1, ... until the review has `at_least` hunks (the random model's text
    often shares a comma or a full stop with the original, which splits the change)."""
    editor.steps = 8
    start = TEXT.index(HUNK_SPAN)
    for seed in range(30):
        editor.seed = seed
        _select(editor, TEXT, start, start + len(HUNK_SPAN))
        _ctrl_j_enter(qtbot, editor)
        qtbot.waitUntil(lambda: editor.session.state == "done", timeout=10000)
        if len(editor.review.hunks) >= at_least:
            return
        qtbot.keyClick(editor, Qt.Key.Key_Escape)
        assert editor.toPlainText() == TEXT
    pytest.fail(f"no seed gave {at_least} hunks")


def test_hunks_are_kept_or_dropped_one_by_one_into_one_undo_step(qtbot, window):
    editor = window.editor
    _run_until_hunks(qtbot, editor, 2)
    review, session = editor.review, editor.session
    hunks = review.hunks
    start = TEXT.index(HUNK_SPAN)
    splice = lambda span: TEXT[:start] + span + TEXT[start + len(HUNK_SPAN) :]  # noqa: E731
    assert editor.toPlainText() == splice(session.final_text)
    assert editor.bar.isVisible() and editor.bar.label.text().startswith(f"hunk 1/{len(hunks)}: ")
    kinds = [sel.format.background().color().name() for sel in editor.overlay()]
    assert colors_for(editor.palette()).current_hunk.name() in kinds  # the current hunk is marked
    qtbot.keyClick(editor, Qt.Key.Key_N)  # drop the first: its original text is back in place
    assert editor.toPlainText() == splice(hunks.apply(range(1, len(hunks))))
    assert editor.bar.label.text().startswith(f"hunk 2/{len(hunks)}: ")
    qtbot.mouseClick(editor.bar.buttons["keep"], Qt.MouseButton.LeftButton)  # keep the second, by mouse
    kept = [1]
    if len(hunks) > 2:
        qtbot.keyClick(editor, Qt.Key.Key_Return)  # keep the rest
        kept += list(range(2, len(hunks)))
    assert session.state == "accepted" and editor.review is None and not editor.bar.isVisible()
    expected = splice(hunks.apply(kept))
    assert editor.toPlainText() == expected and not editor.overlay()
    editor.document().undo()  # one step back to the original
    assert editor.toPlainText() == TEXT and not editor.document().isUndoAvailable()
    editor.document().redo()
    assert editor.toPlainText() == expected


def test_dropping_every_hunk_changes_nothing(qtbot, window):
    editor = window.editor
    _run_until_hunks(qtbot, editor, 1)
    for _ in range(len(editor.review.hunks)):
        qtbot.keyClick(editor, Qt.Key.Key_N)
    assert editor.session.state == "cancelled"
    assert editor.toPlainText() == TEXT and not editor.document().isUndoAvailable()
    assert "original stays" in window.run_label.text()


def test_the_whole_document_selected(qtbot, window):
    editor = window.editor
    editor.steps = 8
    # Far over the tiny model's canvas (32 tokens): rewritten block by block, one undo step.
    editor.steps = 2
    editor.selectAll()
    _ctrl_j_enter(qtbot, editor)
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=60000)
    assert editor.session.result.blocks > 1
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    editor.document().undo()
    assert editor.toPlainText() == TEXT and not editor.document().isUndoAvailable()
    # A short document as a whole: no context around it, rewritten and accepted like any span.
    editor.setPlainText("Short note.")
    editor.selectAll()
    _ctrl_j_enter(qtbot, editor)
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=10000)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.toPlainText() == editor.session.final_text
    editor.document().undo()
    assert editor.toPlainText() == "Short note."


class _Stream(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that streams two tokens, then waits for `cut` and drops the connection."""

    cut: threading.Event

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._send_json({"object": "list", "data": [{"id": "cut-short", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for content in ("Hello", " there"):
            delta = {"choices": [{"index": 0, "delta": {"content": content}}]}
            self.wfile.write(f"data: {json.dumps(delta)}\n\n".encode())
            self.wfile.flush()
        self.cut.wait(10)
        self.close_connection = True

    def _send_json(self, payload):
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_an_engine_error_mid_run_restores_the_original(qtbot, monkeypatch):
    cut = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Cut", (_Stream,), {"cut": cut}))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv(MODEL_ENV, f"http://127.0.0.1:{server.server_address[1]}/v1")
    win = create_main_window()
    try:
        win.show()
        qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=10000)
        editor = win.editor
        editor.setPlainText(TEXT)
        _start(qtbot, editor)
        start = TEXT.index(SPAN)
        drafted = TEXT[:start] + "Hello there" + TEXT[start + len(SPAN) :]
        qtbot.waitUntil(lambda: editor.toPlainText() == drafted, timeout=10000)  # drafts are shown...
        cut.set()  # ...then the server goes away mid-answer
        qtbot.waitUntil(lambda: editor.session.state == "failed", timeout=10000)
        assert editor.toPlainText() == TEXT and not editor.document().isUndoAvailable()
        assert win.run_label.text().startswith("Rewrite failed: the server closed the stream after 2 tokens")
        assert not editor.overlay()
    finally:
        cut.set()
        win.hide()
        win.close()
        qtbot.waitUntil(win.closed.done, timeout=10000)
        server.shutdown()
        server.server_close()


def test_closing_the_window_during_a_run_stops_the_engine_cleanly(qtbot, window, qtlog):
    editor = window.editor
    _start(qtbot, editor, steps=100000)
    qtbot.waitUntil(lambda: editor.session.draft is not None and editor.session.draft.step >= 3, timeout=10000)
    thread = window.bridge._engine._thread
    assert thread.is_alive()

    def discard():  # the drafts make the tab look modified: answer the question the way a user would
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(20, discard)
            return
        box.button(QMessageBox.StandardButton.Discard).click()

    QTimer.singleShot(0, discard)
    assert window.close()
    qtbot.waitUntil(window.closed.done, timeout=5000)  # awaited on the loop: the GUI kept running meanwhile
    assert not thread.is_alive()  # stopped (one step at most), not abandoned
    assert editor.session.state == "cancelled" and editor.toPlainText() == TEXT
    warnings = [r.message for r in qtlog.records if "thread" in r.message.lower()]
    assert not warnings


def test_typing_during_the_review(qtbot, window):
    editor = window.editor
    _run_until_hunks(qtbot, editor, 1)
    final = editor.session.final_text
    cursor = editor.textCursor()
    cursor.setPosition(0)
    editor.setTextCursor(cursor)
    qtbot.keyClicks(editor, "Ab ")  # outside the span: the review goes on, the bar follows the span
    assert editor.review is not None and editor.bar.isVisible()
    start = TEXT.index(HUNK_SPAN)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "Ab " + TEXT[:start] + final + TEXT[start + len(HUNK_SPAN) :]
    editor.document().undo()
    assert editor.toPlainText() == "Ab " + TEXT
    while editor.document().isUndoAvailable():
        editor.document().undo()
    assert editor.toPlainText() == TEXT
    # Inside the span: the review ends, the original is back with the typing in it.
    _run_until_hunks(qtbot, editor, 1)
    session = editor.session
    cursor.setPosition(session.start + 2)
    editor.setTextCursor(cursor)
    qtbot.keyClicks(editor, "Q")
    assert session.state == "cancelled" and editor.review is None and not editor.bar.isVisible()
    assert editor.toPlainText() == TEXT[: start + 2] + "Q" + TEXT[start + 2 :]


def test_clicking_back_into_the_text_closes_the_box(qtbot, window):
    editor = window.editor
    editor.selectAll()
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert editor.box.isVisible()
    qtbot.mouseClick(editor.viewport(), Qt.MouseButton.LeftButton)
    assert not editor.box.isVisible() and editor.session is None and editor.toPlainText() == TEXT


def test_the_original_span_is_kept_exactly_as_stored(qtbot):
    from PySide6.QtGui import QTextDocument

    from app.rewrite.session import RewriteSession

    text = "x 🦊 a\u00a0b\u2028c\nd e"  # a no-break space and a line separator, which toPlainText() would change
    document = QTextDocument()
    document.setPlainText(text)
    start, end = index_to_utf16(text, 4), index_to_utf16(text, len(text) - 2)
    session = RewriteSession(document, start, end)
    assert session.original == "a\u00a0b\u2028c\nd"
    session.cancel()
