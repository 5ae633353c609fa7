"""A Redraft window driven like a user, run as a subprocess by tests/app/storage/test_journal.py and then killed
with SIGKILL.

`python -m tests.journal_child FILE SETTINGS_INI`: opens FILE, types at its end, selects SPAN, presses Ctrl+J,
types more below the span while drafts are shown, and once the journal has been written while a draft is
shown, prints one JSON line (the user's text, the
document as shown, the session state) and keeps running until it is killed.

`python -m tests.journal_child --restore SETTINGS_INI`: opens a window, answers "Restore" to the recovery
question, prints one JSON line (the restored texts) and stops there, running no event loop until it is
killed: the kill lands right after the restore, before any timer could fire or a key be typed.
"""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from app.window.main_window import create_main_window

SPAN = "brave world"
BEFORE = " typed by hand, then pasted: — ünï 🦊"  # before Ctrl+J
DURING = " and typed mid-run"  # below the span while drafts are shown: it brings a journal write then
TYPED = BEFORE + DURING


def _wait(app: QApplication, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            print(json.dumps({"error": "timeout"}), flush=True)
            sys.exit(3)
        app.processEvents()
        time.sleep(0.005)


def _click_restore() -> None:
    box = QApplication.activeModalWidget()
    if isinstance(box, QMessageBox):
        box.button(QMessageBox.StandardButton.Yes).click()
    else:
        QTimer.singleShot(20, _click_restore)


def restore_then_stall(settings: str) -> None:
    app = QApplication([sys.argv[0]])  # noqa: F841 - alive until killed
    window = create_main_window([], QSettings(settings, QSettings.Format.IniFormat))
    QTimer.singleShot(0, _click_restore)  # the question's own event loop runs it
    window.offer_recovery()
    texts = [window.tabs.widget(i).editor.raw_text() for i in range(window.tabs.count())]
    print(json.dumps({"restored": texts}), flush=True)
    while True:  # no event loop any more: nothing is written after this point
        time.sleep(1)


def main() -> None:
    if sys.argv[1] == "--restore":
        restore_then_stall(sys.argv[2])
        return
    app = QApplication([sys.argv[0]])
    window = create_main_window([sys.argv[1]], QSettings(sys.argv[2], QSettings.Format.IniFormat))
    window.show()
    _wait(app, lambda: window.bridge.model_info is not None, 60)
    editor = window.editor
    editor.steps = 1000  # long enough to be mid-run when killed
    editor.moveCursor(QTextCursor.MoveOperation.End)
    QTest.keyClicks(editor, BEFORE[:14])
    editor.insertPlainText(BEFORE[14:])  # QTest.keyClicks aborts the process on any non-ASCII character
    before = editor.raw_text()
    start = before.index(SPAN)
    cursor = editor.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(start + len(SPAN), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    if not editor.start_rewrite():
        sys.exit(4)
    _wait(app, lambda: editor.session.draft is not None and editor.raw_text() != before, 30)
    writes = window.journal.writes  # the write we wait for comes while a draft is shown
    editor.moveCursor(QTextCursor.MoveOperation.End)
    QTest.keyClicks(editor, DURING)
    typed = before + DURING
    _wait(app, lambda: window.journal.writes > writes and editor.raw_text() != typed, 30)
    print(json.dumps({"typed": typed, "shown": editor.raw_text(), "state": editor.session.state}), flush=True)
    while True:  # keep refining until the parent kills us
        app.processEvents()
        time.sleep(0.005)


if __name__ == "__main__":
    main()
