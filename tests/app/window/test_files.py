"""Files in the window: real files on disk opened, edited, saved, changed behind our back, refused."""

import codecs
import os
import stat
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence, QTextCursor

from app.window.main_window import create_main_window
from app.storage.text_buffer import EDIT_MAX_BYTES
from engine import MODEL_ENV
from tests.app import close_window

BOMS = {"utf-8": b"", "utf-8-sig": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
# No-break space and U+2028: QPlainTextEdit.toPlainText() would turn them into a space and a newline.
UNICODE_LINES = ["# Títle 🦊", "a\u00a0b\u2028c", "", "tail – end"]
CP1252_LINES = ["# Títle", "a\u00a0b “quoted”", "", "tail – end"]
NEWLINES = {"lf": ["\n"] * 3, "crlf": ["\r\n"] * 3, "mixed": ["\r\n", "\n", "\r\n"]}


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))  # the model fails fast; files are the point
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = create_main_window([], settings)
    qtbot.addWidget(win)
    qtbot.waitUntil(win.loading.done, timeout=10000)  # its "Model failed" message comes before the test's own
    yield win
    close_window(qtbot, win)


def _type_at_start(editor, text):
    cursor = editor.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.Start)
    editor.setTextCursor(cursor)
    editor.insertPlainText(text)


def _encode(text, encoding):
    return BOMS.get(encoding, b"") + text.encode(encoding.removesuffix("-sig"))


@pytest.mark.parametrize("newlines", NEWLINES)
@pytest.mark.parametrize("encoding", [*BOMS, "cp1252"])
def test_save_is_byte_identical_without_edits_and_right_after_one(window, tmp_path, encoding, newlines):
    lines = CP1252_LINES if encoding == "cp1252" else UNICODE_LINES
    ends = NEWLINES[newlines]
    text = "".join(line + end for line, end in zip(lines, ends)) + lines[-1]
    original = _encode(text, encoding)
    path = tmp_path / "note.txt"
    path.write_bytes(original)
    assert window.open_file(str(path))
    tab = window.tab
    assert window.editor.raw_text() == "\n".join(lines)
    assert ("Windows-1252" in window.file_label.text()) == (encoding == "cp1252")
    assert tab.notice.isVisibleTo(tab) == (newlines == "mixed")
    assert tab.notice.label.text().startswith("note.txt mixes line endings") == (newlines == "mixed")

    assert window.save()
    assert path.read_bytes() == original

    _type_at_start(window.editor, "New ")
    assert window.tabs.tabText(window.tabs.currentIndex()) == "note.txt •"
    assert window.save()
    assert window.tabs.tabText(window.tabs.currentIndex()) == "note.txt"
    newline = "\r\n" if newlines != "lf" else "\n"  # mixed: the dominant one, as the notice said
    assert path.read_bytes() == _encode("New " + newline.join(lines), encoding)


def test_binary_file_is_refused_with_a_message(window, tmp_path):
    (path := tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert not window.open_file(str(path))
    assert window.tabs.count() == 1 and window.tab.buffer.path is None
    assert "logo.png looks like a binary file" in window.errors[-1]
    assert window.statusBar().currentMessage() == window.errors[-1]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_opens_and_saves_without_one(window, tmp_path, codec):
    (path := tmp_path / "notes.txt").write_bytes(original := "caf\u00e9\r\nline\r\n".encode(codec))
    assert window.open_file(str(path))
    assert window.editor.raw_text() == "caf\u00e9\nline\n"
    assert window.file_label.text() == f"UTF-16 {codec[-2:].upper()} (no BOM) · CRLF"
    assert window.save() and path.read_bytes() == original
    _type_at_start(window.editor, "New ")
    assert window.save() and path.read_bytes() == "New caf\u00e9\r\nline\r\n".encode(codec)


@contextmanager
def hang_guard(fifo, seconds=30):
    """Fail instead of freezing: should opening `fifo` still block after `seconds`, a writer opens its other
    end (which wakes the blocked reader) and the test fails."""
    fds = []
    timer = threading.Timer(seconds, lambda: fds.append(os.open(fifo, os.O_RDWR | os.O_NONBLOCK)))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        for fd in fds:
            os.close(fd)
    assert not fds, f"opening {fifo} blocked until a writer came"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_at_once_on_open_and_on_save(window, tmp_path):
    os.mkfifo(fifo := tmp_path / "pipe")  # no writer: a plain open() for reading would wait for one
    with hang_guard(fifo):
        assert not window.open_file(str(fifo))
    assert window.errors[-1] == f"cannot open {fifo}: it is not a regular file (a FIFO)"
    assert window.statusBar().currentMessage() == window.errors[-1]
    assert window.tabs.count() == 1 and window.tab.buffer.path is None

    window.editor.insertPlainText("text")
    assert not window.save_as(str(fifo))
    notice = window.tab.notice.label.text()
    assert notice == f"cannot save {fifo}: it is not a regular file (a FIFO); your text is still here"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and window.tab.modified  # not replaced by a regular file


def test_a_name_of_255_bytes_saves_with_ctrl_s_and_a_longer_one_shows_the_notice(window, tmp_path):
    (folder := tmp_path / "docs").mkdir()
    (path := folder / ("n" * 251 + ".txt")).write_text("long name\n")
    assert window.open_file(str(path))
    _type_at_start(window.editor, "edited ")
    save = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "&Save")
    save.trigger()  # what Ctrl+S does
    assert path.read_text() == "edited long name\n" and not window.tab.modified
    assert os.listdir(folder) == [path.name]  # no temp file left

    too_long = folder / ("n" * 252 + ".txt")
    _type_at_start(window.editor, "more ")
    assert not window.save_as(str(too_long))
    assert window.tab.notice.label.text() == f"cannot save {too_long}: File name too long; your text is still here"
    assert window.statusBar().currentMessage() == window.tab.notice.label.text()
    assert window.tab.modified and window.editor.raw_text() == "more edited long name\n"


def test_files_over_the_editing_limit_are_refused_at_once(window, tmp_path):
    for size in (EDIT_MAX_BYTES + 1, 100 * 1024 * 1024, 150 * 1024 * 1024):
        with open(path := tmp_path / f"huge-{size}.log", "wb") as f:
            f.truncate(size)  # sparse: the size is what matters, and it is checked before reading
        started = time.perf_counter()
        assert not window.open_file(str(path))
        assert time.perf_counter() - started < 1.0
        assert "over the 16 MB limit" in window.errors[-1] and path.name in window.errors[-1]
    assert window.tabs.count() == 1


def test_unencodable_text_is_not_saved_and_stays(window, tmp_path):
    (path := tmp_path / "old.txt").write_bytes("café\r\n".encode("cp1252"))
    assert window.open_file(str(path))
    _type_at_start(window.editor, "🦊 ")
    assert not window.save()
    assert "cannot be encoded as cp1252" in window.tab.notice.label.text()
    assert window.editor.raw_text() == "🦊 café\n" and window.tab.modified
    assert path.read_bytes() == "café\r\n".encode("cp1252")


def test_a_file_deleted_before_save_is_reported_and_the_text_kept(window, tmp_path):
    (path := tmp_path / "gone.md").write_text("# Gone\n")
    assert window.open_file(str(path))
    _type_at_start(window.editor, "Still here. ")
    path.unlink()
    assert not window.save()
    assert "gone.md was deleted or moved on disk; your text is kept" in window.tab.notice.label.text()
    assert window.statusBar().currentMessage() == window.tab.notice.label.text()
    assert not path.exists() and window.editor.raw_text() == "Still here. # Gone\n"
    window.tab.notice.save_button.click()  # "Save anyway"
    assert path.read_text() == "Still here. # Gone\n" and not window.tab.modified


@pytest.mark.skipif(sys.platform == "win32", reason="no POSIX modes on Windows")
def test_a_read_only_file_is_reported_and_the_text_kept(window, tmp_path):
    (path := tmp_path / "locked.txt").write_text("locked\n")
    assert window.open_file(str(path))
    path.chmod(0o444)  # after opening: it became read-only meanwhile
    try:
        _type_at_start(window.editor, "edit ")
        assert not window.save()
        assert "locked.txt: the file is read-only; your text is still here" in window.tab.notice.label.text()
        assert window.editor.raw_text() == "edit locked\n" and window.tab.modified
        assert path.read_text() == "locked\n"
        assert window.save_as(str(tmp_path / "copy.txt"))  # the way out the message points to
        assert (tmp_path / "copy.txt").read_text() == "edit locked\n"
        assert window.tabs.tabText(window.tabs.currentIndex()) == "copy.txt"
    finally:
        path.chmod(0o644)


def test_an_unmodified_tab_reloads_a_file_changed_on_disk_undoably(qtbot, window, tmp_path):
    (path := tmp_path / "live.txt").write_text("first version\n")
    assert window.open_file(str(path))
    path.write_text("second version, longer\n")  # the file watcher notices; no call from the test
    qtbot.waitUntil(lambda: window.editor.raw_text() == "second version, longer\n", timeout=5000)
    assert not window.tab.modified and not window.tab.notice.isVisibleTo(window.tab)
    assert "Reloaded live.txt" in window.statusBar().currentMessage()
    window.editor.undo()
    assert window.editor.raw_text() == "first version\n"


def test_a_modified_tab_asks_before_overwriting_a_changed_file(qtbot, window, tmp_path):
    (path := tmp_path / "both.txt").write_text("base\n")
    assert window.open_file(str(path))
    tab = window.tab
    _type_at_start(window.editor, "mine ")
    path.write_text("theirs, written elsewhere\n")
    qtbot.waitUntil(lambda: tab.notice.isVisibleTo(tab), timeout=5000)
    assert "both.txt changed on disk" in tab.notice.label.text()
    assert tab.notice.reload_button.isVisibleTo(tab) and tab.notice.keep_button.isVisibleTo(tab)
    assert not window.save()  # no silent overwrite
    assert path.read_text() == "theirs, written elsewhere\n"
    assert window.editor.raw_text() == "mine base\n"

    tab.notice.keep_button.click()
    assert window.save()
    assert path.read_text() == "mine base\n"

    path.write_text("theirs again, and longer\n")
    _type_at_start(window.editor, "more ")
    assert tab.check_disk() == "changed"
    tab.notice.reload_button.click()
    assert window.editor.raw_text() == "theirs again, and longer\n" and not tab.modified
    window.editor.undo()  # the reload is one undoable edit: nothing typed is lost
    assert window.editor.raw_text() == "more mine base\n"


def test_our_own_save_is_not_taken_for_an_external_change(qtbot, window, tmp_path):
    (path := tmp_path / "self.txt").write_text("one\n")
    assert window.open_file(str(path))
    _type_at_start(window.editor, "two ")
    assert window.save()
    qtbot.wait(300)  # give the watcher time to report our own write
    assert window.tab.check_disk() is None and not window.tab.notice.isVisibleTo(window.tab)
    _type_at_start(window.editor, "three ")
    assert window.save() and path.read_text() == "three two one\n"


def test_recent_files_persist_in_the_given_settings(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    ini = str(tmp_path / "recent.ini")
    for name in ("a.txt", "b.py", "c.md"):
        (tmp_path / name).write_text(f"{name}\n")
    first = create_main_window([str(tmp_path / "a.txt"), str(tmp_path / "b.py")], QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.open_file(str(tmp_path / "a.txt"))  # already open: it is shown, not opened twice
    assert first.tabs.count() == 2 and first.tab.buffer.path == tmp_path / "a.txt"
    first.save_as(str(tmp_path / "saved-as.txt"))
    close_window(qtbot, first)

    second = create_main_window([], QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    expected = [str(tmp_path / n) for n in ("saved-as.txt", "b.py", "a.txt")]
    assert second.recent.paths() == expected
    second._fill_recent_menu()
    assert [a.text() for a in second.recent_menu.actions()] == expected
    os.remove(tmp_path / "b.py")
    assert not second.open_file(str(tmp_path / "b.py"))  # a vanished recent file drops off the list
    assert second.recent.paths() == [expected[0], expected[2]]
    close_window(qtbot, second)


def test_file_shortcuts_and_tab_titles(qtbot, window, tmp_path):
    shortcuts = {a.text(): a.shortcut() for a in window.menuBar().actions()[0].menu().actions()}
    assert shortcuts["&Open…"] == QKeySequence("Ctrl+O")
    assert shortcuts["&Save"] == QKeySequence("Ctrl+S")
    assert shortcuts["Save &As…"] == QKeySequence("Ctrl+Shift+S")
    assert shortcuts["&Close Tab"] == QKeySequence("Ctrl+W")
    assert shortcuts["&New"] == QKeySequence("Ctrl+N")
    assert shortcuts["&Quit"] == QKeySequence("Ctrl+Q")
    (path := tmp_path / "keys.txt").write_text("keys\n")
    assert window.open_file(str(path))
    assert window.tabs.count() == 1  # the empty Untitled tab made way for the file
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # window shortcuts only fire in the active window
    window.editor.setFocus()
    qtbot.keyClicks(window.editor, "more ")
    assert window.tabs.tabText(0) == "keys.txt •"
    qtbot.keyClick(window.editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert path.read_text() == "more keys\n" and window.tabs.tabText(0) == "keys.txt"
    qtbot.keyClick(window.editor, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.count() == 1 and window.tab.buffer.path is None  # a fresh Untitled tab remains
    qtbot.keyClick(window.editor, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.count() == 2 and window.tab.buffer.path is None
    window.close_tab(1)
    qtbot.keyClick(window.editor, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)  # nothing unsaved: no question
    qtbot.waitUntil(lambda: not window.isVisible())


def test_save_waits_while_a_rewrite_shows_draft_text(window, tmp_path):
    from app.rewrite.session import RewriteSession

    (path := tmp_path / "busy.txt").write_text("keep this\n")
    assert window.open_file(str(path))
    window.editor.session = RewriteSession(window.editor.document(), 0, 4)  # a run in progress, no engine
    _type_at_start(window.editor, "x")
    assert not window.save()
    assert "A rewrite is in progress" in window.tab.notice.label.text()
    assert path.read_text() == "keep this\n"
    window.editor.session.cancel()
    assert window.save() and path.read_text() == "xkeep this\n"
