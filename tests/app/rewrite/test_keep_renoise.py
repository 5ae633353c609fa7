"""Keep and re-noise (issue 16 item 2), on the real window and engine: Ctrl+K keeps words of the draft or result
shown and Alt+R re-denoises the rest around them (the tiny random DiffusionGemma); Alt+U keeps the sure
pieces, Alt+N everything but the selection; an autoregressive model (a tiny random llama GGUF) says these
are not available and nothing changes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCharFormat, QTextCursor

from app.editing.colors import colors_for
from app.editing.editor import NOT_AVAILABLE
from app.rewrite.kept_ranges import complement, confident
from app.rewrite.session import LOW_CONFIDENCE, RewriteSession, utf16_len
from engine import PLACEHOLDER, Draft, index_to_utf16, write_tiny_llama_gguf
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
    model = write_tiny_llama_gguf(tmp_path / "llama.gguf", context_length=1024)  # room for the prompt
    yield from shown_with_model(qtbot, monkeypatch, model, TEXT, seed=3)


def _select(editor, start: int, end: int) -> None:
    """Select document positions start..end (UTF-16)."""
    cursor = editor.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def _select_in_shown(editor, start: int, end: int) -> None:
    """Select code points start..end of the text shown in the span."""
    shown = editor.session.shown_text
    at = editor.session.start
    _select(editor, at + index_to_utf16(shown, start), at + index_to_utf16(shown, end))


def _run(qtbot, editor, steps: int) -> None:
    """Rewrite SPAN and wait for its first draft (steps: many, to find it still running)."""
    editor.steps = steps
    _select(editor, index_to_utf16(TEXT, TEXT.index(SPAN)), index_to_utf16(TEXT, TEXT.index(SPAN) + len(SPAN)))
    assert editor.start_rewrite()
    qtbot.waitUntil(lambda: editor.session.shown_text is not None or not editor.session.active, timeout=20000)
    assert editor.session.active, editor.status


def _pinned(editor) -> list[str]:
    """The texts the editor paints pinned (the kept words' format)."""
    return [text for _, text in _pins(editor)]


def _pins(editor) -> list[tuple[int, str]]:
    """What the editor paints pinned: (UTF-16 offset in the span, text)."""
    return [
        (sel.cursor.selectionStart() - editor.session.start, sel.cursor.selectedText())
        for sel in editor.overlay()
        if sel.format.underlineStyle() == DOTTED
    ]


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


# -- a diffusion model ---------------------------------------------------------------------------------------


def _qt(text: str) -> str:
    return text.replace("\n", "\u2029")  # how a QTextCursor's selectedText spells a line break


def _reviewing(qtbot, editor) -> str:
    """Rewrite SPAN to the end (the hunk review shows the result); the text shown."""
    _run(qtbot, editor, steps=8)
    qtbot.waitUntil(lambda: editor.session.state != "running", timeout=20000)
    assert editor.session.state == "done" and editor.review is not None, editor.status
    assert len(editor.session.shown_text) >= 10
    return editor.session.shown_text


def _kept_pieces(draft) -> str:
    return "".join(piece for piece, kept in zip(draft.pieces, draft.kept, strict=True) if kept)


def _kept_at(draft) -> int:
    """Where the draft's first kept piece starts in the span as shown (UTF-16, line breaks as the session
    normalizes them)."""
    before = "".join(draft.pieces[: draft.kept.index(True)])
    return utf16_len(before.replace("\r\n", "\n").replace("\r", "\n"))


def test_kept_words_go_with_the_text_shown_and_stay_in_place_in_every_draft(qtbot, diffusion, monkeypatch):
    editor = diffusion.editor
    assert diffusion.bridge.model_info.can_keep
    requests = _submitted(diffusion, monkeypatch)
    undo = editor.document().availableUndoSteps()
    shown = _reviewing(qtbot, editor)
    word = shown[3:8]
    _select_in_shown(editor, 3, 8)
    qtbot.keyClick(editor, Qt.Key.Key_K, CTRL)
    assert editor.kept.ranges == ((3, 8),) and _pinned(editor) == [_qt(word)]
    assert editor.status.startswith("1 piece kept")
    pinned = [sel.format for sel in editor.overlay() if sel.format.underlineStyle() == DOTTED]
    assert pinned[0].background().color() == colors_for(editor.palette()).pinned
    # Alt+R: the text shown is the warm start, the kept range goes with it, exactly.
    seen = []
    editor.draftShown.connect(lambda draft: seen.append((draft, _pins(editor))))
    qtbot.keyClick(editor, Qt.Key.Key_R, ALT)
    qtbot.waitUntil(lambda: len(requests) == 2, timeout=10000)
    assert requests[1].warm_start == shown and requests[1].keep == ((3, 8),)
    qtbot.waitUntil(lambda: editor.session.state != "running", timeout=20000)
    assert editor.session.state == "done" and seen
    # Every draft of the re-run has the kept word in it, kept (the backend holds its tokens at their canvas
    # positions; the answer is longer than one canvas, so later blocks come and go around it), and the editor
    # pins it exactly where the draft says it is.
    for draft, pins in seen:
        assert _kept_pieces(draft) == word
        assert pins == [(_kept_at(draft), _qt(word))]
    # The result: still pinned, and the next Alt+R keeps it at its offsets in the new text.
    new = editor.session.shown_text
    assert _pinned(editor) == [_qt(word)]
    qtbot.keyClick(editor, Qt.Key.Key_R, ALT)
    qtbot.waitUntil(lambda: len(requests) == 3, timeout=10000)
    ((a, b),) = requests[2].keep
    assert requests[2].warm_start == new and new[a:b] == word
    # Esc during the re-noise: the document is as before, its history too; nothing is pinned.
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.raw_text() == TEXT and editor.document().availableUndoSteps() == undo
    assert _pinned(editor) == []


def test_ctrl_k_again_un_keeps(qtbot, diffusion, monkeypatch):
    editor = diffusion.editor
    requests = _submitted(diffusion, monkeypatch)
    shown = _reviewing(qtbot, editor)
    _select_in_shown(editor, 2, 9)
    qtbot.keyClick(editor, Qt.Key.Key_K, CTRL)
    _select_in_shown(editor, 4, 6)  # part of the kept range: only that part is un-kept
    qtbot.keyClick(editor, Qt.Key.Key_K, CTRL)
    assert editor.kept.ranges == ((2, 4), (6, 9))
    assert _pinned(editor) == [_qt(shown[2:4]), _qt(shown[6:9])]
    _select_in_shown(editor, 2, 9)
    qtbot.keyClick(editor, Qt.Key.Key_K, CTRL)  # not all kept: all kept again
    qtbot.keyClick(editor, Qt.Key.Key_K, CTRL)  # all kept: all un-kept
    assert not editor.kept and _pinned(editor) == [] and editor.status == "Nothing kept"
    qtbot.keyClick(editor, Qt.Key.Key_R, ALT)  # a plain re-run again
    qtbot.waitUntil(lambda: len(requests) == 2, timeout=10000)
    assert requests[1].warm_start is None and requests[1].keep == ()
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.raw_text() == TEXT


def test_renoise_only_this_keeps_everything_but_the_selection(qtbot, diffusion, monkeypatch):
    editor = diffusion.editor
    requests = _submitted(diffusion, monkeypatch)
    undo = editor.document().availableUndoSteps()
    shown = _reviewing(qtbot, editor)
    seen = []
    editor.draftShown.connect(seen.append)
    _select_in_shown(editor, 4, 9)
    qtbot.keyClick(editor, Qt.Key.Key_N, ALT)
    qtbot.waitUntil(lambda: len(requests) == 2, timeout=10000)
    assert requests[1].warm_start == shown
    assert requests[1].keep == complement([(4, 9)], len(shown)) == ((0, 4), (9, len(shown)))
    qtbot.waitUntil(lambda: editor.session.state != "running", timeout=20000)
    assert seen and editor.session.state == "done"
    rest = shown[:4] + shown[9:]
    for draft in seen:  # the rest of the text is kept as it was, block by block as the answer grows
        assert draft.text.startswith(shown[:4]) and rest.startswith(_kept_pieces(draft))
    assert _kept_pieces(seen[-1]) == rest
    new = editor.session.shown_text
    assert new.startswith(shown[:4]) and shown[9:] in new[4:]
    assert _pinned(editor) == [_qt(shown[:4]), _qt(shown[9:])]  # pinned for the next Alt+R
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.raw_text() == TEXT and editor.document().availableUndoSteps() == undo


def _show(editor, pieces, confidence) -> RewriteSession:
    """A running rewrite of SPAN showing a draft of `pieces` with these confidences, as the flow shows one."""
    start = index_to_utf16(TEXT, TEXT.index(SPAN))
    session = editor.session = RewriteSession(editor.document(), start, start + len(SPAN))
    draft = Draft(3, 8, "".join(pieces), tuple(pieces), tuple(confidence), (False,) * len(pieces))
    session.show_draft(draft)
    editor.draft_shown(session, draft)
    return session


def test_reroll_keeps_the_pieces_the_draft_was_sure_of(qtbot, diffusion, monkeypatch):
    editor = diffusion.editor
    requests = _submitted(diffusion, monkeypatch)
    pieces, confidence = ("Hello", " brave", " nw", " world", PLACEHOLDER, "."), (0.9, 0.7, 0.2, 0.5, 0.9, 0.95)
    session = _show(editor, pieces, confidence)
    text = "".join(pieces)
    expected = confident(pieces, confidence, LOW_CONFIDENCE)
    assert expected == ((0, 11), (len(text) - 1, len(text)))  # "Hello brave" and ".": 0.5 is not sure
    qtbot.keyClick(editor, Qt.Key.Key_U, ALT)
    qtbot.waitUntil(lambda: len(requests) == 1, timeout=10000)
    assert requests[0].warm_start == text and requests[0].keep == expected
    assert session.state == "cancelled" and editor.session is not session
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.raw_text() == TEXT


def test_renoise_only_this_never_keeps_a_masked_piece(qtbot, diffusion, monkeypatch):
    editor = diffusion.editor
    requests = _submitted(diffusion, monkeypatch)
    pieces = ("Hello", PLACEHOLDER, " brave", " world", PLACEHOLDER, ".")
    _show(editor, pieces, (0.9,) * len(pieces))
    text = "".join(pieces)
    _select_in_shown(editor, text.index(" brave"), text.index(" world"))
    qtbot.keyClick(editor, Qt.Key.Key_N, ALT)
    qtbot.waitUntil(lambda: len(requests) == 1, timeout=10000)
    (request,) = requests
    kept = "".join(request.warm_start[a:b] for a, b in request.keep)
    assert kept == "Hello world." and PLACEHOLDER not in kept  # the masks are re-noised, like the selection
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.raw_text() == TEXT


def test_scrubbing_to_a_step_without_a_kept_word_does_not_forget_it(qtbot, diffusion):
    editor = diffusion.editor
    shown = _reviewing(qtbot, editor)
    _select_in_shown(editor, 3, 8)
    qtbot.keyClick(editor, Qt.Key.Key_K, CTRL)
    editor.scrub_to(0)  # the first step: a draft the kept word may not be in
    editor.scrub_to(len(editor.session.history))  # back to the result
    assert editor.kept.ranges == ((3, 8),) and _pinned(editor) == [_qt(shown[3:8])]


def test_reroll_with_every_piece_sure_changes_nothing(qtbot, diffusion, monkeypatch):
    editor = diffusion.editor
    requests = _submitted(diffusion, monkeypatch)
    session = _show(editor, ("Hello", " world."), (0.9, 0.8))
    qtbot.keyClick(editor, Qt.Key.Key_U, ALT)
    assert editor.session is session and session.state == "running" and requests == []
    assert "nothing to re-roll" in editor.status
    session.cancel()
    assert editor.raw_text() == TEXT


PARAGRAPH = (
    "The survey team left the valley before dawn, carrying three days of water and a map that nobody fully "
    "trusted. By noon the trail had vanished under fresh scree, and we agreed to follow the ridge line instead, "
    "checking the compass every hundred metres and marking cairns for the way back."
)
ESSAY = f"Field notes.\n\n{PARAGRAPH}\n\nTomorrow we cross the saddle.\n"


@pytest.fixture
def llada(qtbot, tmp_path, monkeypatch):
    from tests.llada_gguf import write_llada_gguf

    # A few words, repeated over and over, committed over several steps.
    model = write_llada_gguf(tmp_path / "llada.gguf", words_only=True, sharpness=0.3, context_length=1024)
    yield from shown_with_model(qtbot, monkeypatch, model, ESSAY, seed=3)


def test_a_kept_word_that_repeats_is_pinned_once_where_the_draft_keeps_it(qtbot, llada):
    import re

    editor = llada.editor
    _select(editor, ESSAY.index(PARAGRAPH), ESSAY.index(PARAGRAPH) + len(PARAGRAPH))  # ASCII: UTF-16 = code points
    assert editor.start_rewrite()
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=20000)
    shown = editor.session.shown_text
    words = list(re.finditer(r"\S+", shown))
    repeated = [m for m in words if sum(w.group() == m.group() for w in words) > 3]
    for word in (repeated[len(repeated) // 3], repeated[2 * len(repeated) // 3]):  # two, well inside the text
        _select_in_shown(editor, word.start(), word.end())
        qtbot.keyClick(editor, Qt.Key.Key_K, CTRL)
    assert len(_pinned(editor)) == 2
    seen = []
    editor.draftShown.connect(lambda draft: seen.append((draft, _pins(editor))))
    qtbot.keyClick(editor, Qt.Key.Key_R, ALT)
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=20000)
    assert seen, editor.status
    for draft, pins in seen:  # two pins, on the pieces the draft keeps (the tokens holding the words)
        kept = [i for i, k in enumerate(draft.kept) if k]
        assert len(pins) == len(kept) == 2
        assert [at for at, _ in pins] == [utf16_len("".join(draft.pieces[:i])) for i in kept]
    assert len(_pinned(editor)) == 2
    # Scrubbed back to an earlier step of the re-noise: the pins are where that step's draft keeps them.
    for _ in range(max(len(seen) // 2, 1)):
        qtbot.keyClick(editor, Qt.Key.Key_Left, ALT)
    draft = editor.session.shown_draft
    assert draft is not None and draft.kept
    kept = [i for i, k in enumerate(draft.kept) if k]
    assert [at for at, _ in _pins(editor)] == [utf16_len("".join(draft.pieces[:i])) for i in kept]
