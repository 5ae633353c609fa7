"""Keep and re-noise (issue 16 item 2), on the real window and engine: Ctrl+K keeps words of the draft or result
shown and Alt+R re-denoises the rest around them (the tiny random DiffusionGemma); Alt+U keeps the sure
pieces, Alt+N everything but the selection; an autoregressive model (a tiny random llama GGUF) says these
are not available and nothing changes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCharFormat, QTextCursor

from app.editing.editor import NOT_AVAILABLE
from app.rewrite.kept_ranges import Kept, complement, confident
from app.rewrite.session import LOW_CONFIDENCE
from engine import PLACEHOLDER, index_to_utf16, write_tiny_llama_gguf
from tests.app import shown_with_model

TEXT = "Intro 🦊 line.\nHello brave world, this is the span.\nTail end.\n"
SPAN = "brave world, this is the span."
CTRL, ALT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier
DOTTED = QTextCharFormat.UnderlineStyle.DotLine


@pytest.fixture
def diffusion(qtbot, checkpoint, monkeypatch):
    yield from shown_with_model(qtbot, monkeypatch, checkpoint, TEXT, seed=3)


@pytest.fixture
def llama(qtbot, tmp_path, monkeypatch):
    yield from shown_with_model(qtbot, monkeypatch, write_tiny_llama_gguf(tmp_path / "llama.gguf", context_length=1024), TEXT, seed=3)


def _select(editor, start: int, end: int) -> None:
    """Select document positions start..end (UTF-16)."""
    cursor = editor.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def _select_in_shown(editor, start: int, end: int) -> None:
    """Select code points start..end of the text shown in the span."""
    shown = editor.session.shown_text
    _select(editor, editor.session.start + index_to_utf16(shown, start), editor.session.start + index_to_utf16(shown, end))


def _run(qtbot, editor, steps: int) -> None:
    """Rewrite SPAN and wait for its first draft (steps: many, to find it still running)."""
    editor.steps = steps
    _select(editor, index_to_utf16(TEXT, TEXT.index(SPAN)), index_to_utf16(TEXT, TEXT.index(SPAN) + len(SPAN)))
    assert editor.start_rewrite()
    qtbot.waitUntil(lambda: editor.session.shown_text is not None or not editor.session.active, timeout=20000)
    assert editor.session.active, editor.status


def _pinned(editor) -> list[str]:
    """The texts the editor paints pinned (the kept words' format)."""
    return [sel.cursor.selectedText() for sel in editor.overlay() if sel.format.underlineStyle() == DOTTED]


def _submitted(window, monkeypatch) -> list:
    """Every request the window's bridge hands to the engine from now on (recorded, then submitted as ever)."""
    requests, submit = [], window.bridge.submit

    def record(request):
        requests.append(request)
        return submit(request)

    monkeypatch.setattr(window.bridge, "submit", record)
    return requests


# -- models that cannot keep -----------------------------------------------------------------------------


def test_an_autoregressive_model_says_keeping_is_not_available_and_nothing_changes(qtbot, llama, monkeypatch):
    editor = llama.editor
    requests = _submitted(llama, monkeypatch)
    assert llama.bridge.model_info.can_keep is False
    _run(qtbot, editor, steps=200)
    qtbot.waitUntil(lambda: editor.session.state != "running", timeout=20000)
    session = editor.session
    assert session.state == "done", editor.status
    shown, undo = editor.toPlainText(), editor.document().availableUndoSteps()
    _select_in_shown(editor, 0, 3)
    for key, mods in ((Qt.Key.Key_K, CTRL), (Qt.Key.Key_U, ALT), (Qt.Key.Key_N, ALT)):
        qtbot.keyClick(editor, key, mods)
        assert editor.status == NOT_AVAILABLE
        assert editor.session is session and session.state == "done"  # no re-run
        assert not editor.kept and _pinned(editor) == []
        assert editor.toPlainText() == shown and editor.document().availableUndoSteps() == undo
    # Alt+R stays a plain re-run: no warm start, nothing kept.
    qtbot.keyClick(editor, Qt.Key.Key_R, ALT)
    qtbot.waitUntil(lambda: len(requests) == 2, timeout=10000)
    assert editor.session is not session
    assert requests[1].warm_start is None and requests[1].keep == ()
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.toPlainText() == TEXT
