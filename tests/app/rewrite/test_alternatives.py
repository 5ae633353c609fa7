"""Alternatives: Alt+R keeps the span's earlier results, Alt+[ / Alt+] cycle them in place, Enter accepts the one
shown as one undo step, Esc gives the original back. The real editor, a real engine, the tiny DiffusionGemma."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.rewrite.alternatives import Alternatives, Answer
from app.rewrite.session import RewriteSession
from engine import EditResult, index_to_utf16
from tests.app.rewrite.test_rewrite import SPAN, TEXT, _ctrl_j_enter, _select, window  # noqa: F401 - a fixture

ALT = Qt.KeyboardModifier.AltModifier
START = TEXT.index(SPAN)
AT = index_to_utf16(TEXT, START)  # the span's start as the document counts (UTF-16: emoji before it)


def _splice(span: str) -> str:
    return TEXT[:START] + span + TEXT[START + len(SPAN) :]


def _three_results(qtbot, editor) -> list[str]:
    """Ctrl+J Enter, then Alt+R until the span has three different results; returns them, oldest first."""
    editor.steps = 8
    _select(editor, TEXT, START, START + len(SPAN))
    _ctrl_j_enter(qtbot, editor)
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=15000)
    results = [editor.session.final_text]
    for _ in range(10):
        if len(editor.alternatives) == 3:
            break
        qtbot.keyClick(editor, Qt.Key.Key_R, ALT)
        qtbot.waitUntil(lambda: editor.session.state == "done", timeout=15000)
        if editor.session.final_text not in results:
            results.append(editor.session.final_text)
    assert [answer.text for answer in editor.alternatives.answers] == results and len(results) == 3
    return results


def test_alt_r_keeps_the_results_and_the_brackets_cycle_them_in_place_then_enter_accepts_one(qtbot, window):
    editor = window.editor
    results = _three_results(qtbot, editor)
    assert editor.toPlainText() == _splice(results[2])  # the newest is shown
    assert "alternative 3 of 3" in window.run_label.text()
    qtbot.keyClick(editor, Qt.Key.Key_BracketLeft, ALT)
    assert editor.toPlainText() == _splice(results[1])
    assert window.run_label.text().startswith("alternative 2 of 3 · hunk 1/")
    assert editor.bar.label.full_text.startswith("alternative 2 of 3 · hunk 1/")
    qtbot.keyClick(editor, Qt.Key.Key_BracketLeft, ALT)
    assert editor.toPlainText() == _splice(results[0])
    qtbot.keyClick(editor, Qt.Key.Key_BracketLeft, ALT)  # wraps around to the newest
    assert editor.toPlainText() == _splice(results[2])
    qtbot.keyClick(editor, Qt.Key.Key_BracketRight, ALT)  # and forward again past the end
    assert editor.toPlainText() == _splice(results[0]) and "alternative 1 of 3" in window.run_label.text()
    # Each alternative scrubs through its own run's drafts.
    history = editor.alternatives.current.history
    qtbot.keyClick(editor, Qt.Key.Key_Left, ALT)
    assert editor.toPlainText() == _splice(history[len(history) - 1].text)
    qtbot.keyClick(editor, Qt.Key.Key_Right, ALT)
    assert editor.toPlainText() == _splice(results[0])
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # accept the one shown
    assert editor.session.state == "accepted" and editor.toPlainText() == _splice(results[0])
    editor.document().undo()  # one undo step, back to the original byte for byte
    assert editor.raw_text() == TEXT and not editor.document().isUndoAvailable()


def test_esc_while_an_alternative_is_shown_restores_the_original(qtbot, window):
    editor = window.editor
    _three_results(qtbot, editor)
    qtbot.keyClick(editor, Qt.Key.Key_BracketLeft, ALT)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.session.state == "cancelled"
    assert editor.raw_text() == TEXT and not editor.document().isUndoAvailable()
    assert not editor.document().isRedoAvailable()


def test_brackets_while_running_or_alone_say_why_and_change_nothing(qtbot, window):
    editor = window.editor
    editor.steps = 100000
    _select(editor, TEXT, START, START + len(SPAN))
    _ctrl_j_enter(qtbot, editor)
    qtbot.waitUntil(lambda: editor.session.draft is not None, timeout=15000)
    qtbot.keyClick(editor, Qt.Key.Key_BracketRight, ALT)
    assert editor.session.state == "running" and "once this run is done" in window.run_label.text()
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    editor.steps = 8
    _select(editor, TEXT, START, START + len(SPAN))
    _ctrl_j_enter(qtbot, editor)
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=15000)
    shown = editor.toPlainText()
    qtbot.keyClick(editor, Qt.Key.Key_BracketLeft, ALT)
    assert editor.toPlainText() == shown and "No other alternative yet" in window.run_label.text()


def test_a_result_carrying_alternatives_adds_them_to_the_list(qtbot, window):
    editor = window.editor
    session = editor.session = RewriteSession(editor.document(), AT, AT + len(SPAN))
    result = EditResult("bold new world", 8, 3, 0.1, 0.5, 6.0, "tiny", "eos", alternatives=("odd old world", "x"))
    session.finish(result)
    editor.run_finished(session, result)
    assert [a.text for a in editor.alternatives.answers] == ["bold new world", "odd old world", "x"]
    assert editor.toPlainText() == _splice("bold new world") and "alternative 1 of 3" in window.run_label.text()
    qtbot.keyClick(editor, Qt.Key.Key_BracketRight, ALT)
    assert editor.toPlainText() == _splice("odd old world")
    qtbot.keyClick(editor, Qt.Key.Key_Left, ALT)  # no drafts of the extra answers: nothing to scrub
    assert editor.toPlainText() == _splice("odd old world") and "No earlier steps" in window.run_label.text()
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == _splice("odd old world")
    editor.document().undo()
    assert editor.raw_text() == TEXT and not editor.document().isUndoAvailable()


@pytest.mark.parametrize("texts, expected", [(("a", "b", "a"), ["a", "b"]), (("a",), ["a"])])
def test_the_list_holds_each_text_once(texts, expected):
    alternatives = Alternatives()
    for text in texts:
        alternatives.add(Answer(text))
    assert [a.text for a in alternatives.answers] == expected
    assert alternatives.current.text == texts[-1]  # a text already there becomes the one shown
    assert alternatives.label() == ("" if len(expected) == 1 else f"alternative 1 of {len(expected)}")
