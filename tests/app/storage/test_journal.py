"""The recovery journal and the close question, with real windows, files, dialogs and processes.

Decision tested here: after a crash mid-rewrite, the restored text is what the user had typed, never the
model's unaccepted draft (a draft is not the user's text until accepted).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QMessageBox

from app.storage.journal import Journal, JournalEntry, user_text
from app.window.main_window import create_main_window
from engine import MODEL_ENV
from tests.journal_child import SPAN, TYPED
from tests import ROOT
from tests.app import close_window



def _answer_box(qtbot, button: QMessageBox.StandardButton, seen: list[str]) -> None:
    """Click `button` on the next modal message box (a real one, opened by the code under test)."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        box.button(button).click()

    QTimer.singleShot(0, click)


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _window(qtbot, tmp_path, settings, paths=(), journal=None):
    win = create_main_window(list(paths), settings, str(journal or tmp_path / "journal"))
    qtbot.addWidget(win)
    return win


def test_entries_are_written_atomically_and_read_back(tmp_path):
    journal = Journal(tmp_path / "j")
    entry = JournalEntry("/x/y.txt", "utf-16-le", "\r\n", "línea 🦊\nsecond\u2028 nbsp\u00a0.", 1.0)
    journal.write("doc-1", entry)
    journal.write("doc-1", entry)
    assert journal.entries() == [entry]
    assert [p.name for p in journal.folder.iterdir() if p.suffix == ".json"] == ["doc-1.json"]  # no temp left
    journal.remove("doc-1")
    assert journal.entries() == []
    journal.close()
    assert not journal.folder.exists()


def test_typing_is_journaled_after_a_pause_and_saving_removes_it(qtbot, tmp_path, settings, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    path = tmp_path / "notes.txt"
    path.write_bytes(b"one\r\ntwo\r\n")
    win = _window(qtbot, tmp_path, settings, [str(path)])
    editor = win.editor
    editor.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(editor, "three")
    assert win.journal.entries() == []  # throttled: nothing yet
    qtbot.waitUntil(lambda: win.journal.entries() != [], timeout=3000)
    (entry,) = win.journal.entries()
    assert entry == JournalEntry(str(path), "utf-8", "\r\n", "one\ntwo\nthree", entry.saved_at)
    assert win.save()
    assert win.journal.entries() == []
    assert path.read_bytes() == b"one\r\ntwo\r\nthree"
    close_window(qtbot, win)


def test_the_journal_holds_the_users_text_not_the_running_draft(qtbot, tmp_path, settings, monkeypatch, checkpoint):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    win = _window(qtbot, tmp_path, settings)
    qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=20000)
    editor = win.editor
    text = "Intro 🦊 line.\nHello brave world, the span.\n"
    editor.insertPlainText(text)
    assert editor.raw_text() == text
    start = text.index(SPAN)
    cursor = editor.textCursor()
    cursor.setPosition(start + 1)  # +1: the fox is two UTF-16 units
    cursor.setPosition(start + 1 + len(SPAN), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    editor.steps = 200
    assert editor.start_rewrite()
    qtbot.waitUntil(lambda: editor.session.draft is not None and editor.raw_text() != text, timeout=10000)
    assert user_text(editor) == text
    win.keeper.flush()
    assert [e.text for e in win.journal.entries()] == [text]
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    close_window(qtbot, win)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_rewrite_then_restore_gives_back_exactly_the_typed_text(qtbot, tmp_path, settings, checkpoint):
    original = "Hello brave world.\n\tTabs, ünïcödé and a long line " + "x" * 200
    path = tmp_path / "draft.txt"
    path.write_text(original, encoding="utf-8")
    journal = tmp_path / "journal"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", REDRAFT_JOURNAL_DIR=str(journal), HF_HUB_OFFLINE="1")
    env[MODEL_ENV] = str(checkpoint)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.journal_child", str(path), str(tmp_path / "child.ini")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        report = json.loads(child.stdout.readline())
        time.sleep(0.3)  # let it refine a little more: the kill lands mid-run
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        child.kill()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    typed = original + TYPED
    assert report["typed"] == typed and report["state"] in ("running", "done")
    assert report["shown"] != typed  # a draft was on screen when the journal was written

    win = _window(qtbot, tmp_path, settings, journal=journal)
    seen: list[str] = []
    _answer_box(qtbot, QMessageBox.StandardButton.Yes, seen)  # "Restore"
    assert win.offer_recovery() == 1
    assert "Restore 1 unsaved buffer" in seen[0]
    assert win.tabs.count() == 1  # the empty Untitled tab gave way
    tab = win.tab
    assert tab.editor.raw_text() == typed
    assert tab.modified and tab.buffer.path == path and tab.title() == "draft.txt •"
    assert path.read_text(encoding="utf-8") == original  # restoring never writes the file
    assert [p.name for p in journal.iterdir()] == [win.journal.folder.name]  # the dead session is gone
    win.keeper.flush()
    assert [e.text for e in win.journal.entries()] == [typed]  # and journaled again by the new one
    close_window(qtbot, win)


def test_a_live_sessions_entries_are_not_offered(qtbot, tmp_path, settings, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    other = Journal(tmp_path / "journal")  # another window of this (live) process
    other.write("doc-1", JournalEntry(None, "utf-8", "\n", "still open elsewhere"))
    win = _window(qtbot, tmp_path, settings)
    assert win.journal.orphans() == []
    assert other.entries()[0].text == "still open elsewhere"
    close_window(qtbot, win)


def test_closing_with_unsaved_changes_asks(qtbot, tmp_path, settings, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    path = tmp_path / "a.txt"
    path.write_text("a\n")
    win = _window(qtbot, tmp_path, settings, [str(path)])
    win.show()
    qtbot.keyClicks(win.editor, "edited ")
    win.keeper.flush()
    seen: list[str] = []
    _answer_box(qtbot, QMessageBox.StandardButton.Cancel, seen)
    assert not win.close()
    assert win.isVisible() and seen == ["Save the changes to a.txt?"]
    assert win.journal.entries()  # cancel keeps everything, the journal included
    _answer_box(qtbot, QMessageBox.StandardButton.Save, seen)
    assert win.close()
    assert path.read_text() == "edited a\n"
    assert not win.journal.folder.exists()  # a clean close leaves nothing to recover


def test_closing_and_discarding_leaves_the_file_and_no_journal(qtbot, tmp_path, settings, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    path = tmp_path / "b.txt"
    path.write_text("b\n")
    win = _window(qtbot, tmp_path, settings, [str(path)])
    win.show()
    qtbot.keyClicks(win.editor, "x")
    win.keeper.flush()
    _answer_box(qtbot, QMessageBox.StandardButton.Discard, [])
    assert win.close()
    assert path.read_text() == "b\n" and not win.journal.folder.exists()
