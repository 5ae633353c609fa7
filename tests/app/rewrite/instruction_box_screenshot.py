"""`python -m tests.app.rewrite.instruction_box_screenshot OUT.png`: the instruction box open on a selection,
its preset list shown and its estimate of the run's time.

The estimate is real: the active model ($REDRAFT_MODEL, else the bundled one) first rewrites the same sentence
once ("fix the spelling and grammar", which the history then holds), and the box is opened again over it. The
preset list is a popup window of its own, so the picture is the window's grab with the popup's painted where
it is on the screen. Settings and the journal live in a temporary folder; nothing is saved.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from app.startup.screenshot import SAMPLE, close_scripted

SPAN = "We agreed to follow the ridge line instead,\nchecking the compass every hundred metres and marking cairns for the way back."
TIMEOUT_S = 120


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.app.rewrite.instruction_box_screenshot OUT.png", file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="redraft-box-shot-"))

    from PySide6.QtCore import QPoint, QSettings, Qt
    from PySide6.QtGui import QPainter, QTextCursor
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.window.main_window import create_main_window

    app = QApplication.instance() or QApplication([sys.argv[0]])
    path = scratch / "notes.md"
    path.write_text(SAMPLE, encoding="utf-8")
    settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
    window = create_main_window([str(path)], settings, str(scratch / "journal"))
    window.resize(1000, 520)
    window.show()
    window.activateWindow()
    QTest.qWaitForWindowActive(window)
    editor = window.editor

    def wait(condition) -> bool:
        deadline = time.monotonic() + TIMEOUT_S
        while not condition() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        return condition()

    def select() -> None:
        start = editor.raw_text().index(SPAN)
        cursor = editor.textCursor()
        cursor.setPosition(start)
        cursor.setPosition(start + len(SPAN), QTextCursor.MoveMode.KeepAnchor)
        editor.setTextCursor(cursor)

    try:
        if not wait(lambda: window.bridge.model_info is not None):
            print("the model did not load", file=sys.stderr)
            return 1
        # 1. One measured run of the model on this sentence.
        select()
        QTest.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
        editor.box.line.setText("fix the spelling and grammar")
        editor.box.completer.popup().hide()
        QTest.keyClick(editor.box.line, Qt.Key.Key_Return)
        if not wait(lambda: editor.session is not None and editor.session.state != "running"):
            print("the run did not finish", file=sys.stderr)
            return 1
        QTest.keyClick(editor, Qt.Key.Key_Escape)  # its review dropped: the text is as it was
        # 2. The box again over the same sentence, its preset list open.
        select()
        QTest.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
        editor.box.line.clear()
        QTest.keyClick(editor.box.line, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)
        popup = editor.box.completer.popup()
        wait(popup.isVisible)
        QTest.keyClick(popup, Qt.Key.Key_Down)
        for _ in range(20):
            app.processEvents()
        picture = window.grab().toImage()
        painter = QPainter(picture)
        painter.drawPixmap(window.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0))), popup.grab())
        painter.end()
        if not picture.save(args[0]):
            print(f"could not write {args[0]}", file=sys.stderr)
            return 1
        print(f"box with {popup.model().rowCount()} presets, estimate {editor.box.estimate.text()!r}, "
              f"model {window.bridge.model_info.id}")  # fmt: skip
        return 0
    finally:
        close_scripted(window, scratch)


if __name__ == "__main__":
    sys.exit(main())
