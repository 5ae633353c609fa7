"""Scrubbing through a run's drafts (Alt+Left / Alt+Right, the review bar's slider), the long-span status and
settled pieces: the real editor with a real engine and the tiny random-weight DiffusionGemma."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument

from app.rewrite.draft_history import DraftHistory, draft_bytes
from app.rewrite.session import RewriteSession
from engine import Draft, index_to_utf16
from tests.app.rewrite.test_rewrite import SPAN, TEXT, _ctrl_j_enter, _select, window  # noqa: F401 - a fixture

ALT = Qt.KeyboardModifier.AltModifier
START = TEXT.index(SPAN)
AT = index_to_utf16(TEXT, START)  # the span's start as the document counts (UTF-16: emoji before it)


def _splice(span: str) -> str:
    return TEXT[:START] + span + TEXT[START + len(SPAN) :]


def _span(editor) -> str:
    """The span's text in the document now (the text around it is the original's)."""
    text, tail = editor.raw_text(), TEXT[START + len(SPAN) :]
    assert text.startswith(TEXT[:START]) and text.endswith(tail)
    return text[START : len(text) - len(tail)]


def _run(qtbot, window, steps: int) -> list:
    """Start a rewrite of SPAN by Ctrl+J Enter; returns the list the bridge's runs go to once submitted (by
    the flow, on the loop), to count what arrived."""
    editor = window.editor
    runs = []
    submit = window.bridge.submit
    window.bridge.submit = lambda request: runs.append(submit(request)) or runs[-1]
    editor.steps = steps
    _select(editor, TEXT, START, START + len(SPAN))
    _ctrl_j_enter(qtbot, editor)
    return runs


def _status_position(window) -> tuple[int, int]:
    match = re.search(r"step (\d+) of (\d+)", window.run_label.text())
    assert match, window.run_label.text()
    return int(match[1]), int(match[2])


def test_after_the_run_each_step_is_shown_in_place_and_enter_accepts_it_as_one_undo_step(qtbot, window):
    editor = window.editor
    runs = _run(qtbot, window, steps=16)
    session = editor.session
    qtbot.waitUntil(lambda: session.state == "done", timeout=15000)
    (run,) = runs
    history = session.history
    assert len(history) == run.received == 16  # every draft the engine made, not only the ones shown
    assert run.shown <= run.received
    assert len({history[k].text for k in range(len(history))}) >= 3  # the steps really differ
    assert editor.bar.slider.isVisible() and editor.bar.slider.maximum() == 16  # 16 drafts, then the result
    assert editor.bar.slider.value() == 16
    for k in range(15, 4, -1):  # back from the result, one step at a time
        qtbot.keyClick(editor, Qt.Key.Key_Left, ALT)
        assert _span(editor) == history[k].text
        assert _status_position(window) == (k + 1, 16)
        assert editor.bar.slider.value() == k
    assert not editor.bar.buttons["keep"].isEnabled()  # Y/N decide the result's hunks, not this step's
    qtbot.keyClick(editor, Qt.Key.Key_Y)
    assert session.state == "done" and _span(editor) == history[5].text  # nothing typed, nothing decided
    qtbot.keyClick(editor, Qt.Key.Key_Right, ALT)
    assert _span(editor) == history[6].text
    shown = history[6].text
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert session.state == "accepted" and editor.review is None and not editor.bar.isVisible()
    assert editor.toPlainText() == _splice(shown)
    assert not editor.overlay()
    editor.document().undo()  # one undo step back to the original, byte for byte
    assert editor.raw_text() == TEXT and not editor.document().isUndoAvailable()
    editor.document().redo()
    assert editor.toPlainText() == _splice(shown)


def test_the_slider_scrubs_and_its_end_is_the_review_and_esc_leaves_no_draft(qtbot, window):
    editor = window.editor
    _run(qtbot, window, steps=12)
    session = editor.session
    qtbot.waitUntil(lambda: session.state == "done", timeout=15000)
    history, slider = session.history, editor.bar.slider
    slider.setValue(3)  # what a drag does: valueChanged
    assert _span(editor) == history[3].text and _status_position(window) == (4, 12)
    slider.setValue(0)
    assert _span(editor) == history[0].text
    slider.setValue(slider.maximum())  # the end: the result and its review again
    assert _span(editor) == session.final_text
    assert editor.bar.buttons["keep"].isEnabled() and editor.bar.label.text().startswith("hunk 1/")
    slider.setValue(7)
    assert _span(editor) == history[7].text
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert session.state == "cancelled"
    assert editor.raw_text() == TEXT and not editor.document().isUndoAvailable()
    assert not editor.document().isRedoAvailable()


def test_scrubbing_back_while_running_holds_the_new_drafts_until_the_newest_again(qtbot, window):
    editor = window.editor
    _run(qtbot, window, steps=100000)
    session = editor.session
    qtbot.waitUntil(lambda: len(session.history) >= 6, timeout=15000)
    qtbot.keyClick(editor, Qt.Key.Key_Left, ALT)
    qtbot.keyClick(editor, Qt.Key.Key_Left, ALT)
    position, _total = _status_position(window)
    held = session.history[position - 1]
    assert _span(editor) == held.text and not session.following
    qtbot.waitUntil(lambda: len(session.history) >= position + 10, timeout=15000)  # the run goes on...
    assert session.state == "running" and _span(editor) == held.text  # ...unseen
    assert _status_position(window)[1] > position + 1  # the count of steps grows meanwhile
    for _ in range(100000):  # Alt+Right up to the newest: the span follows the run again
        if session.following:
            break
        qtbot.keyClick(editor, Qt.Key.Key_Right, ALT)
    newest = session.draft.step
    qtbot.waitUntil(lambda: session.shown_draft is not None and session.shown_draft.step > newest + 2, timeout=15000)
    assert _span(editor) == session.shown_draft.text
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.raw_text() == TEXT and not editor.document().isUndoAvailable()
    qtbot.waitUntil(editor.task.done, timeout=5000)


def test_the_status_shows_block_and_step_and_settled_pieces_get_no_highlight(qtbot, window):
    editor = window.editor
    session = editor.session = RewriteSession(editor.document(), AT, AT + len(SPAN))
    pieces = ("Warm", " sunny", " day", " out")
    # Block 2 of 3: the first two pieces belong to the committed block 1, all four changed and unsure.
    draft = Draft(7, 16, "".join(pieces), pieces, (0.1,) * 4, (True,) * 4, 1.25, block=2, blocks=3, settled=2)
    session.show_draft(draft)
    editor.draft_shown(session, draft)
    assert _span(editor) == "Warm sunny day out"
    assert re.fullmatch(r"block 2/3 · step 7/16 · \d+ tok/s · 1\.2 s", window.run_label.text())
    settled = len("Warm sunny")
    assert [(h.start - AT, h.end - AT, h.kind) for h in session.highlights()] == [
        (settled, len("Warm sunny day out"), "changed")
    ]
    assert len(editor.overlay()) == 1 and editor.overlay()[0].cursor.selectionStart() == AT + settled
    editor.cancel_rewrite()
    assert editor.raw_text() == TEXT and not editor.document().isUndoAvailable()


def test_the_keys_are_in_the_menu_and_the_help(qtbot, window):
    rows = dict(window.show_shortcuts().rows())
    assert rows["Rewrite: Earlier Step"] == "Alt+Left" and rows["Rewrite: Later Step"] == "Alt+Right"
    assert rows["Rewrite: Previous Alternative"] == "Alt+[" and rows["Rewrite: Next Alternative"] == "Alt+]"
    for label in ("Rewrite: Earlier Step", "Rewrite: Next Alternative"):
        assert window.commands.action(label).shortcuts()  # real shortcuts, in the Rewrite menu


# -- the bounded history -----------------------------------------------------------------------------------


def _draft(step: int, pieces: int = 4) -> Draft:
    tokens = tuple(f" w{step}" for _ in range(pieces))
    return Draft(step, 100000, "".join(tokens), tokens, (1.0,) * pieces, (False,) * pieces)


def test_the_history_keeps_every_draft_within_its_bounds_and_thins_evenly_beyond():
    history = DraftHistory(max_drafts=64)
    for step in range(64):
        history.add(_draft(step))
    assert [history[k].step for k in range(len(history))] == list(range(64))  # all of them, in order
    for step in range(64, 1001):
        history.add(_draft(step))
    steps = [history[k].step for k in range(len(history))]
    assert len(steps) <= 64 and steps[0] == 0 and steps[-1] == 1000  # the first and the newest stay
    gaps = {b - a for a, b in zip(steps[:-1], steps[1:-1], strict=False)}
    assert gaps == {history.stride} and history.stride == 16  # evenly spread (the newest may be off the stride)
    assert history.seen == 1001


def test_the_history_stays_under_its_byte_bound():
    per_draft = draft_bytes(_draft(0, pieces=256))
    history = DraftHistory(max_bytes=50 * per_draft)
    for step in range(500):
        history.add(_draft(step, pieces=256))
        assert history.bytes <= 50 * per_draft + per_draft  # the newest may be over the stride's share
    assert 25 <= len(history) <= 51 and history[len(history) - 1].step == 499


def test_a_session_history_is_empty_until_drafts_arrive():
    document = QTextDocument()
    document.setPlainText("one two")
    session = RewriteSession(document, 0, 3)
    assert len(session.history) == 0
    session.cancel()


def test_typing_elsewhere_while_a_step_is_shown_goes_under_it(qtbot, window):
    editor = window.editor
    _run(qtbot, window, steps=10)
    session = editor.session
    qtbot.waitUntil(lambda: session.state == "done", timeout=15000)
    qtbot.keyClick(editor, Qt.Key.Key_Left, ALT)
    qtbot.keyClick(editor, Qt.Key.Key_Left, ALT)
    step = session.history[8].text  # 10 drafts, then the result: two steps back is the 9th draft
    cursor = editor.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    editor.setTextCursor(cursor)
    assert editor.raw_text() == _splice(step)
    qtbot.keyClicks(editor, "zz")  # after the span: the step stays shown, the typing goes under it
    assert session.state == "done" and editor.raw_text() == _splice(step) + "zz"
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert session.state == "accepted" and editor.raw_text() == _splice(step) + "zz"
    editor.document().undo()  # the step, as one undo step
    assert editor.raw_text() == TEXT + "zz"
    while editor.document().isUndoAvailable():
        editor.document().undo()
    assert editor.raw_text() == TEXT  # the typing, with no draft in between
