"""A Redraft window driven like a user, run as a subprocess by tests/test_journal.py and then killed with SIGKILL.

`python -m tests.journal_child FILE SETTINGS_INI`: opens FILE, types at its end, selects SPAN, presses Ctrl+J,
and once the journal has been written while a draft is shown, prints one JSON line (the user's text, the
document as shown, the session state) and keeps running until it is killed.
"""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import QSettings
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.window.main_window import create_main_window

SPAN = "brave world"
TYPED = " typed by hand, then pasted: — ünï 🦊"


def _wait(app: QApplication, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            print(json.dumps({"error": "timeout"}), flush=True)
            sys.exit(3)
        app.processEvents()
        time.sleep(0.005)


def main() -> None:
    app = QApplication([sys.argv[0]])
    window = create_main_window([sys.argv[1]], QSettings(sys.argv[2], QSettings.Format.IniFormat))
    window.show()
    _wait(app, lambda: window.bridge.model_info is not None, 60)
    editor = window.editor
    editor.steps = 1000  # long enough to be mid-run when killed
    editor.moveCursor(QTextCursor.MoveOperation.End)
    QTest.keyClicks(editor, TYPED[:14])
    editor.insertPlainText(TYPED[14:])  # QTest.keyClicks aborts the process on any non-ASCII character
    typed = editor.raw_text()
    start = typed.index(SPAN)
    cursor = editor.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(start + len(SPAN), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    if not editor.start_rewrite():
        sys.exit(4)
    _wait(app, lambda: editor.session.draft is not None and editor.raw_text() != typed, 30)
    writes = window.journal.writes  # the write we wait for comes while a draft is shown
    _wait(app, lambda: window.journal.writes > writes and editor.raw_text() != typed, 30)
    print(json.dumps({"typed": typed, "shown": editor.raw_text(), "state": editor.session.state}), flush=True)
    while True:  # keep refining until the parent kills us
        app.processEvents()
        time.sleep(0.005)


if __name__ == "__main__":
    main()
