"""The last session comes back: real windows closed and reopened on one INI file, real files in tmp_path."""

import os

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QMessageBox

from app.startup.main import start_window
from app.storage.journal import JournalEntry
from app.storage.text_buffer import TextBuffer
from app.window.main_window import create_main_window
from engine import MODEL_ENV
from tests.app import close_window
from tests.app.storage.test_journal import _answer_box, _crashed_session, _entry_bytes


@pytest.fixture
def ini(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))  # the model fails fast; files are the point
    return str(tmp_path / "settings.ini")


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, lines in (("a.txt", 400), ("b.py", 600)):
        paths[name] = tmp_path / name
        paths[name].write_text("".join(f"line {n} of {name}\n" for n in range(lines)), encoding="utf-8")
    return paths


def _start(qtbot, ini, paths=()):
    window = start_window([str(p) for p in paths], QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    qtbot.waitUntil(window.loading.done, timeout=10000)  # its "Model failed" line comes before the test's own
    return window


def _show(qtbot, window):
    window.show()
    qtbot.waitExposed(window)


def _place(editor, line: int, column: int, top: int) -> int:
    cursor = editor.textCursor()
    cursor.setPosition(editor.document().findBlockByNumber(line).position() + column)
    editor.setTextCursor(cursor)
    editor.verticalScrollBar().setValue(top)
    assert editor.firstVisibleBlock().blockNumber() == top
    return cursor.position()


def _close(qtbot, window):
    """Close as the user does (closeEvent), and wait for the engine to stop."""
    window.close()
    qtbot.waitUntil(window.closed.done, timeout=10000)


def _paths(window):
    return [window.tabs.widget(i).buffer.path for i in range(window.tabs.count())]


def test_closing_and_starting_again_reopens_the_files_at_their_caret_and_scroll(qtbot, ini, files):
    first = _start(qtbot, ini, files.values())
    _show(qtbot, first)
    a, b = (first.tabs.widget(i).editor for i in range(2))
    first.tabs.setCurrentIndex(0)
    at_a = _place(a, 250, 3, 240)
    first.tabs.setCurrentIndex(1)
    at_b = _place(b, 520, 5, 505)
    first.tabs.setCurrentIndex(0)  # a is the tab in view at the close
    first._add_tab(TextBuffer(), "")  # an empty Untitled tab: not part of the file session
    first.tabs.setCurrentIndex(0)
    _close(qtbot, first)

    second = _start(qtbot, ini)  # no paths: the last session
    _show(qtbot, second)
    assert _paths(second) == [files["a.txt"], files["b.py"]]
    assert second.tabs.currentIndex() == 0
    a, b = (second.tabs.widget(i).editor for i in range(2))
    assert a.textCursor().position() == at_a and a.firstVisibleBlock().blockNumber() == 240
    second.tabs.setCurrentIndex(1)
    assert b.textCursor().position() == at_b and b.firstVisibleBlock().blockNumber() == 505
    assert not any(second.tabs.widget(i).modified for i in range(2))
    close_window(qtbot, second)


def test_the_current_tab_comes_back_and_named_files_replace_the_session(qtbot, ini, files, tmp_path):
    first = _start(qtbot, ini, files.values())
    first.tabs.setCurrentIndex(1)
    _close(qtbot, first)
    second = _start(qtbot, ini)
    assert _paths(second) == [files["a.txt"], files["b.py"]] and second.tabs.currentIndex() == 1
    _close(qtbot, second)

    (other := tmp_path / "other.txt").write_text("other\n")
    third = _start(qtbot, ini, [other])  # paths on the command line: those only, the old session is not mixed in
    assert _paths(third) == [other]
    _close(qtbot, third)
    fourth = _start(qtbot, ini)  # and the session saved at that close is the named file's
    assert _paths(fourth) == [other]
    close_window(qtbot, fourth)


def test_files_gone_or_unreadable_are_skipped_with_one_status_line_and_no_dialog(qtbot, ini, files, tmp_path):
    (png := tmp_path / "logo.png").write_text("not yet a picture\n")
    first = _start(qtbot, ini, [*files.values(), png])
    _close(qtbot, first)
    os.remove(files["a.txt"])
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # it became binary since

    # Built, then restored once its model has failed: that status line is not the one under test.
    second = create_main_window([], QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    qtbot.waitUntil(second.loading.done, timeout=10000)
    assert second.restore_session() == 1
    assert _paths(second) == [files["b.py"]]
    assert second.statusBar().currentMessage() == (
        "Not reopened from the last session (gone or unreadable): a.txt, logo.png"
    )
    assert second.errors == []  # nothing for the start's greeting to show as a dialog
    close_window(qtbot, second)


def test_geometry_and_the_preview_splitter_come_back(qtbot, ini, tmp_path):
    (md := tmp_path / "notes.md").write_text("# Notes\n\ntext\n")
    first = _start(qtbot, ini, [md])
    first.resize(700, 480)
    first.move(40, 30)
    _show(qtbot, first)
    first.tab.splitter.setSizes([525, 175])  # three quarters for the editor
    sizes = first.tab.splitter.sizes()
    geometry = first.geometry()
    _close(qtbot, first)

    second = _start(qtbot, ini, [md])  # named files: the layout comes back all the same
    _show(qtbot, second)
    assert second.geometry() == geometry
    assert second.tab.splitter.sizes() == sizes
    close_window(qtbot, second)


def test_a_file_restored_by_the_session_and_by_recovery_opens_once(qtbot, ini, files, tmp_path, monkeypatch):
    first = _start(qtbot, ini, files.values())
    _close(qtbot, first)
    # Then a later run crashed with a.txt modified: its journal holds the unsaved text.
    root = tmp_path / "journal"
    monkeypatch.setenv("REDRAFT_JOURNAL_DIR", str(root))
    entry = JournalEntry(str(files["a.txt"]), "utf-8", "\n", "unsaved text of a\n", 1.0)
    _crashed_session(root, {"doc-1.json": _entry_bytes(entry)})

    second = _start(qtbot, ini)  # the session first, recovery after, as app/startup/main.py does
    assert _paths(second) == [files["a.txt"], files["b.py"]]
    stop = _answer_box(qtbot, QMessageBox.StandardButton.Yes, [])
    assert second.offer_recovery() == 1
    stop()
    paths = _paths(second)
    assert sorted(paths) == [files["a.txt"], files["b.py"]]  # a.txt once: the journal's copy replaced the clean one
    a = second.tabs.widget(paths.index(files["a.txt"]))
    assert a.editor.raw_text() == entry.text and a.modified

    second.open_handed_over([str(files["b.py"]), str(files["a.txt"])])  # a second `redraft b.py a.txt`
    assert sorted(_paths(second)) == [files["a.txt"], files["b.py"]]
    assert second.tab is a and a.editor.raw_text() == entry.text  # the unsaved text is shown, not the disk's
    close_window(qtbot, second)


def test_a_file_that_shrank_since_gets_its_caret_and_scroll_clamped(qtbot, ini, files):
    first = _start(qtbot, ini, [files["b.py"]])
    _show(qtbot, first)
    _place(first.editor, 520, 5, 505)
    _close(qtbot, first)
    files["b.py"].write_text("short\nfile\n")

    second = _start(qtbot, ini)
    _show(qtbot, second)
    assert _paths(second) == [files["b.py"]]
    assert second.editor.textCursor().position() == len("short\nfile\n")
    assert second.editor.firstVisibleBlock().blockNumber() == 0
    close_window(qtbot, second)
