"""0 drafts in the user's text: a real window (offscreen) rewrites a span with the tiny random DiffusionGemma
while every kind of edit reaches the document, above, right after, below and inside the span.

For each case: the document is set to TEXT, the span selected, a long rewrite started (400 steps); once a
draft is shown the edit is sent the way Qt would deliver it (key events, input-method events, paste, drop,
undo/redo, another cursor, another view of the same document); the run goes on for 0.2 s, then Esc. The
document must then equal the user's edit applied to the original text, computed here independently: any
draft text left in it is a failure. Every case also runs once with no rewrite (the control): a control that
fails means the harness, not the product, is wrong.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.stress import common

TEXT = "Intro 🦊 line, before the span.\nHello brave world, this is the span.\nTail line after it.\n"
SPAN = "brave world"
S0, S1 = TEXT.index(SPAN), TEXT.index(SPAN) + len(SPAN)  # code points

# kind -> (the characters it inserts, or a deletion); the senders are below.
CHARS = {
    "key 'x'": "x",
    "key NBSP U+00A0": "\u00a0",
    "key U+202F": "\u202f",
    "key U+2009": "\u2009",
    "key U+3000": "\u3000",
    "key soft hyphen U+00AD": "\u00ad",
    "input method commit (CJK)": "日本語",
    "input method preedit then commit": "漢字",
    "paste (Ctrl+V)": "pasted text",
    "insertFromMimeData": "mime text",
    "drop": "dropped",
    "another QTextCursor": "Z",
    "another view (key press)": "v",
}
DELETES = {"key Backspace": -1, "key Delete": +1}
WHERE = ("above", "right after", "below", "inside")


def run(quick: bool) -> dict:
    started = time.monotonic()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QPlainTextEdit

    from tests.tiny_models import save_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="stress-drafts-"))
    checkpoint = save_checkpoint(tmp / "tiny-diffusion-gemma")
    import os

    os.environ["REDRAFT_MODEL"] = str(checkpoint)
    os.environ["REDRAFT_JOURNAL_DIR"] = str(tmp / "journal")
    app = QApplication.instance() or QApplication(["stress"])
    from app.event_loop import run_until_done
    from app.window.main_window import create_main_window

    window = create_main_window([], QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat), str(tmp / "journal"))
    window.show()
    _wait(app, lambda: window.bridge.model_info is not None, 60)
    editor = window.editor
    other_view = QPlainTextEdit()  # a second view of the editor's document (as a split view would be)
    other_view.setDocument(editor.document())

    where = ("below", "inside") if quick else WHERE
    cases = [(kind, w) for kind in [*CHARS, *DELETES] for w in where]
    cases += [("key Ctrl+Z (undo)", "-"), ("key Ctrl+Z then Ctrl+Shift+Z (redo)", "-"), ("QPlainTextEdit.undo()", "-")]
    rounds = 1 if quick else 2
    failures, control_failures, states = [], [], {}
    n = 0
    for round_ in range(rounds):
        for kind, w in cases:
            for control in (True, False):
                if control and round_:
                    continue
                ok, detail, state = _case(app, editor, other_view, kind, w, control, seed=round_ * 1000 + n)
                n += 0 if control else 1
                if not control:
                    states[state] = states.get(state, 0) + 1
                if not ok:
                    (control_failures if control else failures).append(f"{kind} / {w}: {detail}")
    run_until_done(window.aclose())
    total = n
    figures = {
        "cases (edit kind x place, with a draft shown)": total,
        "edit kinds": len(CHARS) + len(DELETES) + 3,
        "places": ", ".join(where),
        "cases whose text after Esc is not the user's edit on the original": len(failures),
        "of which a draft (or mixed text) was left in the document": sum("draft" in f for f in failures),
        "of which the user's edit was lost": sum("edit was lost" in f for f in failures),
        "controls (same edits, no rewrite) that failed": len(control_failures),
        "session states right after the edit": ", ".join(f"{k} {v}" for k, v in sorted(states.items())),
    }
    checks = [
        common.check("drafts in the user's text (cases with a draft left in)", sum("draft" in f for f in failures), "0",
                     not any("draft" in f for f in failures)),
        common.check("cases whose text after Esc is not the user's edit on the original", len(failures), "0", not failures),
        common.check("harness controls failing", len(control_failures), "0", not control_failures),
    ]
    return common.result(
        "0 drafts in the user's text",
        __doc__.split("\n\n")[1].replace("\n", " "),
        figures,
        checks,
        failures + [f"CONTROL {c}" for c in control_failures],
        started,
    )


def _case(app, editor, other_view, kind: str, where: str, control: bool, seed: int) -> tuple[bool, str, str]:
    from PySide6.QtCore import Qt

    original = TEXT
    editor.setPlainText(TEXT)  # also clears the undo history
    if kind.startswith(("key Ctrl+Z", "QPlainTextEdit.undo")):
        cursor = editor.textCursor()
        cursor.setPosition(0)
        cursor.insertText("U")  # the user's own history to undo
        original = "U" + TEXT
    s0, s1 = original.index(SPAN), original.index(SPAN) + len(SPAN)
    editor.seed = seed
    editor.steps = 400
    if not control:
        _select(editor, original, s0, s1)
        editor.start_rewrite()
        shown = lambda: (  # noqa: E731
            editor.session.draft is not None and editor.raw_text() != original and editor.session.end - editor.session.start >= 2
        )
        if not _wait(app, shown, 30, fail=False):
            _escape(app, editor)
            return False, "no draft was shown within 30 s", "none"
    expected = _send(app, editor, other_view, kind, where, original, s0, s1, control)
    _pump(app, 0.2)  # more drafts arrive meanwhile
    session = editor.session
    state = session.state if session is not None and not control else "-"
    _escape(app, editor)
    if not control:
        _wait(app, lambda: editor.task is None or editor.task.done(), 15, fail=False)
    text = editor.raw_text()
    if text == expected:
        return True, "", state
    what = "the edit was lost" if text == original else "a draft (or mixed text) left in the document"
    return False, f"{what}; session {state} after the edit; {_diff(expected, text)}", state


def _send(app, editor, other_view, kind, where, original, s0, s1, control) -> str:
    """Send the edit; return the expected text (the edit applied to `original`)."""
    from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt
    from PySide6.QtGui import (
        QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication, QInputMethodEvent, QKeyEvent, QTextCursor,
    )  # fmt: skip

    from engine import index_to_utf16

    if kind == "key Ctrl+Z (undo)":
        _key(app, editor, Qt.Key.Key_Z, "\x1a", Qt.KeyboardModifier.ControlModifier)
        return original[1:]
    if kind.startswith("key Ctrl+Z then"):
        _key(app, editor, Qt.Key.Key_Z, "\x1a", Qt.KeyboardModifier.ControlModifier)
        shift_ctrl = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        _key(app, editor, Qt.Key.Key_Z, "\x1a", shift_ctrl)
        return original
    if kind == "QPlainTextEdit.undo()":
        editor.undo()
        return original[1:]

    # The place, in the document (UTF-16, the draft shown) and in the original (code points).
    session = None if control else editor.session
    doc_len = editor.document().characterCount() - 1
    if where == "above":
        pos, at = 0, 0
    elif where == "right after":
        pos, at = (session.end if session else index_to_utf16(original, s1)), s1
    elif where == "below":
        pos, at = doc_len, len(original)
    else:  # inside: one character into the span
        pos, at = (session.start + 1 if session else index_to_utf16(original, s0 + 1)), s0 + 1
    cursor = QTextCursor(editor.document())
    cursor.setPosition(pos)
    editor.setTextCursor(cursor)

    if kind in DELETES:
        step = DELETES[kind]
        if kind == "key Backspace":
            _key(app, editor, Qt.Key.Key_Backspace, "\x08")
            return original[: at - 1] + original[at:] if at > 0 else original
        _key(app, editor, Qt.Key.Key_Delete, "\x7f")
        return original[:at] + original[at + step :] if at < len(original) else original

    chars = CHARS[kind]
    expected = original[:at] + chars + original[at:]
    if kind.startswith("key "):
        keys = {"x": Qt.Key.Key_X, "\u00a0": Qt.Key.Key_nobreakspace, "\u00ad": Qt.Key.Key_hyphen}
        _key(app, editor, keys.get(chars, Qt.Key.Key_unknown), chars)
    elif kind == "input method commit (CJK)":
        event = QInputMethodEvent()
        event.setCommitString(chars)
        app.sendEvent(editor, event)
    elif kind == "input method preedit then commit":
        app.sendEvent(editor, QInputMethodEvent("かんじ", []))
        _pump(app, 0.02)
        event = QInputMethodEvent()
        event.setCommitString(chars)
        app.sendEvent(editor, event)
    elif kind == "paste (Ctrl+V)":
        QGuiApplication.clipboard().setText(chars)
        _key(app, editor, Qt.Key.Key_V, "\x16", Qt.KeyboardModifier.ControlModifier)
    elif kind == "insertFromMimeData":
        mime = QMimeData()
        mime.setText(chars)
        editor.insertFromMimeData(mime)
    elif kind == "drop":
        mime = QMimeData()
        mime.setText(chars)
        point = editor.cursorRect(cursor).center()
        copy, left, none = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        viewport = editor.viewport()
        app.sendEvent(viewport, QDragEnterEvent(point, copy, mime, left, none))
        app.sendEvent(viewport, QDragMoveEvent(point, copy, mime, left, none))
        app.sendEvent(viewport, QDropEvent(QPointF(point), copy, mime, left, none))
    elif kind == "another QTextCursor":
        other = QTextCursor(editor.document())
        other.setPosition(pos)
        other.insertText(chars)
    elif kind == "another view (key press)":
        view_cursor = QTextCursor(editor.document())
        view_cursor.setPosition(pos)
        other_view.setTextCursor(view_cursor)
        _key(app, other_view, Qt.Key.Key_V, chars)
    return expected


def _key(app, widget, key, text: str, mods=None) -> None:
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent

    mods = mods if mods is not None else Qt.KeyboardModifier.NoModifier
    app.sendEvent(widget, QKeyEvent(QEvent.Type.KeyPress, key, mods, text))
    app.sendEvent(widget, QKeyEvent(QEvent.Type.KeyRelease, key, mods, text))


def _escape(app, editor) -> None:
    from PySide6.QtCore import Qt

    _key(app, editor, Qt.Key.Key_Escape, "\x1b")


def _select(editor, text: str, start: int, end: int) -> None:
    from PySide6.QtGui import QTextCursor

    from engine import index_to_utf16

    cursor = editor.textCursor()
    cursor.setPosition(index_to_utf16(text, start))
    cursor.setPosition(index_to_utf16(text, end), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def _diff(expected: str, got: str) -> str:
    i = 0
    while i < min(len(expected), len(got)) and expected[i] == got[i]:
        i += 1
    j = 0
    while j < min(len(expected), len(got)) - i and expected[-1 - j] == got[-1 - j]:
        j += 1
    return f"at {i}: expected {expected[i:len(expected) - j][:60]!r}, found {got[i:len(got) - j][:60]!r}"


def _pump(app, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.003)


def _wait(app, condition, timeout: float, fail: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            if fail:
                raise TimeoutError(f"not within {timeout:g} s")
            return False
        app.processEvents()
        time.sleep(0.003)
    return True


if __name__ == "__main__":
    common.main(run)
