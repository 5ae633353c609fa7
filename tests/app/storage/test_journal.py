"""The recovery journal and the close question, with real windows, files, dialogs and processes.

Decision tested here: after a crash mid-rewrite, the restored text is what the user had typed, never the
model's unaccepted draft (a draft is not the user's text until accepted).
"""

from __future__ import annotations

import dataclasses
import errno
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

from app.storage import journal as journal_module
from app.storage.journal import UNREADABLE, Journal, JournalEntry, user_text
from app.window.main_window import create_main_window
from engine import MODEL_ENV
from tests.journal_child import SPAN, TYPED
from tests import ROOT
from tests.app import close_window


def _answer_box(qtbot, button: QMessageBox.StandardButton, seen: list[str]):
    """Click `button` on the next modal message box (a real one, opened by the code under test); returns a
    function that stops waiting for one."""
    waiting = [True]

    def click() -> None:
        if not waiting[0]:
            return
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        box.button(button).click()

    QTimer.singleShot(0, click)
    return lambda: waiting.__setitem__(0, False)


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _killed_after_report(args: list[str], journal: Path, model: Path, settle_s: float = 0.0) -> dict:
    """Run tests/journal_child.py in its own process, its journal in `journal`; SIGKILL it `settle_s` after it
    prints its one JSON report line, check it died of that kill, and return the report."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", REDRAFT_JOURNAL_DIR=str(journal), HF_HUB_OFFLINE="1")
    env[MODEL_ENV] = str(model)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.journal_child", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        report = json.loads(child.stdout.readline())
        time.sleep(settle_s)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        child.kill()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return report


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
    # 0.3 s after its report: it refines a little more, so the kill lands mid-run.
    report = _killed_after_report([str(path), str(tmp_path / "child.ini")], journal, checkpoint, settle_s=0.3)
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


def _crashed_session(root: Path, files: dict[str, bytes]) -> Path:
    """A session folder as a killed process leaves it: entries written, no lock held."""
    folder = root / "session-crashed0001"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _entry_bytes(entry: JournalEntry) -> bytes:
    return json.dumps(dataclasses.asdict(entry), ensure_ascii=False).encode("utf-8")


GOOD = JournalEntry(None, "utf-8", "\n", "kept by the journal 🦊\n", 1.0)
UNREADABLE_FILES = {  # each kind of entry the journal cannot read
    "doc-2.json": b'{"path": null, "encoding": "utf-8", "newline": "\\n", "text": "corr',  # truncated
    "doc-3.json": b"\xff\xfe{ not utf-8 \x80",  # another encoding
    "doc-4.json": b"{this is not json}",
    "doc-5.json": b'{"path": null, "text": "from another version", "cursor": 3}',
    "doc-6.json": b'{"path": null, "encoding": "utf-8", "newline": "\\n", "text": 42, "saved_at": 0}',
}


@pytest.mark.parametrize("answer", ["restore", "discard", "nothing to ask"])
def test_unreadable_entries_are_kept_on_disk_and_named_never_deleted_with_their_session(
    qtbot, tmp_path, settings, monkeypatch, answer
):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    root = tmp_path / "journal"
    good = {} if answer == "nothing to ask" else {"doc-1.json": _entry_bytes(GOOD)}
    folder = _crashed_session(root, {**good, **UNREADABLE_FILES, ".tmp-cut-short.json": b'{"pa'})
    win = _window(qtbot, tmp_path, settings, journal=root)
    seen: list[str] = []
    button = QMessageBox.StandardButton.Yes if answer == "restore" else QMessageBox.StandardButton.Discard
    stop = _answer_box(qtbot, button, seen)  # also answers a question that should not be asked
    assert win.offer_recovery() == (1 if answer == "restore" else 0)
    stop()
    assert seen == (["Redraft did not close normally. Restore 1 unsaved buffer(s)? (Untitled)"] if good else [])
    if answer == "restore":
        assert win.editor.raw_text() == GOOD.text
    # Every unreadable file is still on disk, byte for byte, and the one line the user gets says where.
    kept = sorted((root / UNREADABLE).iterdir())
    assert [p.read_bytes() for p in kept] == [UNREADABLE_FILES[name] for name in sorted(UNREADABLE_FILES)]
    (message,) = win.errors
    assert "\n" not in message and "could not be read" in message
    assert str(kept[0]) in message and f"and {len(kept) - 1} more in {root / UNREADABLE}" in message
    assert win.statusBar().currentMessage() == message
    assert not folder.exists()  # the readable rest of the session is gone
    assert win.journal.orphans() == []  # and nothing is offered (or reported) again
    close_window(qtbot, win)


def test_a_restore_that_cannot_be_journaled_keeps_the_crashed_sessions_copy(qtbot, tmp_path, settings, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    root = tmp_path / "journal"
    folder = _crashed_session(root, {"doc-1.json": _entry_bytes(GOOD)})
    win = _window(qtbot, tmp_path, settings, journal=root)

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)
        stop = _answer_box(qtbot, QMessageBox.StandardButton.Yes, [])
        assert win.offer_recovery() == 1
        stop()
    assert win.editor.raw_text() == GOOD.text
    assert win.journal_label.text().startswith("Recovery journal cannot be written: No space left on device")
    assert (folder / "doc-1.json").read_bytes() == _entry_bytes(GOOD)  # the only copy on disk stays
    close_window(qtbot, win)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_restored_buffer_is_journaled_at_once_so_a_kill_before_typing_loses_nothing(tmp_path):
    root = tmp_path / "journal"
    entry = JournalEntry(str(tmp_path / "gone.txt"), "utf-16-le", "\r\n", "restored, then killed 🦊\nline 2", 1.0)
    crashed = _crashed_session(root, {"doc-1.json": _entry_bytes(entry)})
    # Killed as soon as it reports: the restore has returned, and the child handles no event since.
    report = _killed_after_report(["--restore", str(tmp_path / "child.ini")], root, tmp_path / "no-model")
    assert report["restored"] == [entry.text]
    assert not crashed.exists()  # the first crash's copy went once the restore was journaled...
    journal = Journal(root)
    (orphan,) = journal.orphans()  # ...and the next start offers the text again, from the child's session
    assert [(e.path, e.encoding, e.newline, e.text) for e in orphan.entries] == [
        (entry.path, entry.encoding, entry.newline, entry.text)
    ]
    orphan.lock.unlock()
    journal.close()


def test_a_failed_journal_write_is_shown_and_retried_and_the_text_is_untouched(qtbot, tmp_path, settings, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    path = tmp_path / "notes.txt"
    path.write_text("one\n", encoding="utf-8")
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file where the journal's folder should be")
    win = _window(qtbot, tmp_path, settings, [str(path)], journal=blocker / "journal")
    editor, label = win.editor, win.journal_label
    assert not label.isVisibleTo(win)
    # 1. The journal's folder cannot be made: the status bar says so, and keeps saying it.
    editor.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(editor, "two")
    qtbot.waitUntil(lambda: label.isVisibleTo(win), timeout=5000)
    assert label.text() == "Recovery journal cannot be written: Not a directory — save your work"
    assert editor.raw_text() == "one\ntwo" and win.tab.modified
    qtbot.keyClicks(editor, " three")
    assert not win.keeper.flush()  # tried again, failed again: still said, whatever else the status bar shows
    win.statusBar().showMessage("another message", 1)
    qtbot.wait(50)
    assert label.isVisibleTo(win) and label.text().endswith("Not a directory — save your work")
    # 2. The folder can be made again: the next change writes it, and the message goes.
    blocker.unlink()
    blocker.mkdir()
    qtbot.keyClicks(editor, "!")
    qtbot.waitUntil(lambda: win.journal.entries() != [], timeout=5000)
    assert [e.text for e in win.journal.entries()] == ["one\ntwo three!"]
    assert not label.isVisibleTo(win) and win.keeper.problem == ""

    # 3. Disk full mid-write: said; the previous entry intact, no temp file left, the editor untouched.
    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)
        qtbot.keyClicks(editor, "?")
        qtbot.waitUntil(lambda: label.isVisibleTo(win), timeout=5000)
    assert label.text() == "Recovery journal cannot be written: No space left on device — save your work"
    assert [e.text for e in win.journal.entries()] == ["one\ntwo three!"]
    assert sorted(p.name for p in win.journal.folder.iterdir()) == ["doc-1.json", "lock"]  # no temp file left
    assert editor.raw_text() == "one\ntwo three!?"
    qtbot.keyClicks(editor, ".")
    qtbot.waitUntil(lambda: win.keeper.problem == "", timeout=5000)
    assert [e.text for e in win.journal.entries()] == ["one\ntwo three!?."] and not label.isVisibleTo(win)
    close_window(qtbot, win)


def test_typing_during_a_rewrite_is_journaled_after_a_quiet_second_whatever_the_drafts_do(
    qtbot, tmp_path, settings, monkeypatch, checkpoint
):
    # Drafts change the document many times a second; only the user's edits may restart the quiet second.
    # With the 5 s cap out of the way, drafts that restarted it would hold the write back until the run ends.
    monkeypatch.setattr(journal_module, "MAX_DELAY_S", 3600.0)
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    win = _window(qtbot, tmp_path, settings)
    qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=20000)
    editor = win.editor
    text = "Hello brave world, the span.\nTail.\n"
    editor.setPlainText(text)
    start = text.index(SPAN)
    cursor = editor.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(start + len(SPAN), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    editor.steps = 1000  # runs for many seconds
    assert editor.start_rewrite()
    qtbot.waitUntil(lambda: editor.session.draft is not None and editor.raw_text() != text, timeout=20000)
    editor.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(editor, "typed")  # below the span: the run goes on
    typed = text + "typed"
    drafts: list[object] = []
    editor.draftShown.connect(drafts.append)
    qtbot.waitUntil(lambda: [e.text for e in win.journal.entries()] == [typed], timeout=60000)  # a hang guard
    assert editor.session.state == "running" and editor.raw_text() != typed  # a draft is still shown
    assert drafts  # drafts kept changing the document while the journal waited for the quiet second
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # accept the draft shown: from now on it is the user's text
    assert editor.session.state == "accepted"
    qtbot.waitUntil(lambda: [e.text for e in win.journal.entries()] == [editor.raw_text()], timeout=10000)
    close_window(qtbot, win)
