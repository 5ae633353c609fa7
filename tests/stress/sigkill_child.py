"""A Redraft window driven like a user until it is killed (SIGKILL) by tests/stress/sigkill.py.

`python -m tests.stress.sigkill_child KIND FILE SETTINGS_INI SEED`, KIND one of:
- typing: keys at the start and the end of the document, with pauses;
- rewrite: a span rewritten (1000 steps) while keys are typed below it, then Esc or accept, again and again;
- save: a key at the end, then Ctrl+S's save, again and again (a large file, so a save takes a while).

It keeps its own copy of the user's text (what it typed, and what it accepted), independent of the editor,
and prints one JSON line per event: {"state": sha} when that text changes, {"journaled": sha} after each
journal write (of the text written), {"saving": sha} / {"saved": sha} around each save, {"ready": kind} once.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time

from PySide6.QtCore import QEvent, QSettings, Qt
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import QApplication

from app.window.main_window import create_main_window

SPAN = "brave world"
KEYS = "abcdefghij klmnopqrstuvwxyz.,ü🦊é"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def emit(**event) -> None:
    print(json.dumps(event), flush=True)


def pump(app: QApplication, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.002)


def key(app: QApplication, widget, char: str) -> None:
    code = ord(char.upper()) if char.isascii() and char.isalpha() else Qt.Key.Key_unknown
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        app.sendEvent(widget, QKeyEvent(kind, code, Qt.KeyboardModifier.NoModifier, char))


def main() -> None:
    kind, path, ini, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rng = random.Random(seed)
    app = QApplication([sys.argv[0]])
    window = create_main_window([path], QSettings(ini, QSettings.Format.IniFormat))
    window.show()
    editor = window.editor
    with open(path, encoding="utf-8", newline="") as f:
        user = f.read()  # the user's text, as this script knows it
    assert editor.raw_text() == user, "the file did not open as written"
    write = window.journal.write

    def journaled(key_, entry) -> None:
        write(key_, entry)
        emit(journaled=sha(entry.text))

    window.journal.write = journaled
    emit(state=sha(user))

    def type_at(where: str, char: str) -> None:
        nonlocal user
        editor.moveCursor(QTextCursor.MoveOperation.End if where == "end" else QTextCursor.MoveOperation.Start)
        key(app, editor, char)
        user = user + char if where == "end" else char + user
        emit(state=sha(user))

    if kind == "rewrite":
        deadline = time.monotonic() + 60
        while window.bridge.model_info is None and time.monotonic() < deadline:
            pump(app, 0.01)
        editor.steps = 1000
    emit(ready=kind)
    while True:
        if kind == "typing":
            type_at(rng.choice(["end", "end", "start"]), rng.choice(KEYS))
            pump(app, 1.2 if rng.random() < 0.08 else rng.uniform(0.0, 0.15))  # a pause lets the journal write
        elif kind == "save":
            type_at("end", rng.choice(KEYS))
            emit(saving=sha(user))
            window.save()
            emit(saved=sha(user))
            pump(app, rng.uniform(0.0, 0.05))
        else:
            at = editor.raw_text().find(SPAN)
            cursor = editor.textCursor()
            cursor.setPosition(len(editor.raw_text()[:at].encode("utf-16-le")) // 2)
            cursor.setPosition(cursor.position() + len(SPAN), QTextCursor.MoveMode.KeepAnchor)
            editor.setTextCursor(cursor)
            editor.start_rewrite()
            until = time.monotonic() + rng.uniform(0.5, 3.0)
            while time.monotonic() < until:
                if editor.session.draft is not None:
                    type_at("end", rng.choice("abcdefghij klmnop"))
                pump(app, rng.uniform(0.02, 0.3))
            if rng.random() < 0.3 and editor.session.can_accept():
                editor.accept_rewrite()
                user = editor.raw_text()  # an accepted draft is the user's text
                emit(state=sha(user))
                # Keep a span to rewrite next time.
                type_at("end", " ")
                for char in " " + SPAN:
                    type_at("end", char)
            else:
                editor.cancel_rewrite()
            pump(app, 0.05)


if __name__ == "__main__":
    main()
