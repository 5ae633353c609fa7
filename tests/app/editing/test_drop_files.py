"""Drops: files open in tabs wherever they land, text is inserted at the drop point, folders and binaries are named.

Drag events go to the window's QWindow at a point, as the platform delivers them, so Qt itself picks the
widget under the point (the editor's viewport, the tab bar, the preview) and its drop handler.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QTextCursor
from PySide6.QtWidgets import QApplication

from app.rewrite.session import RewriteSession
from app.window.main_window import create_main_window
from engine import MODEL_ENV, Draft
from tests.app import close_window

TEXT = "first line\nsecond line\n"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))  # the model fails fast; drops are the point
    (here := tmp_path / "here.txt").write_text(TEXT)
    win = create_main_window([str(here)])
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(win.loading.done, timeout=10000)  # its "Model failed" line comes before the test's own
    yield win
    win.hide()  # closed without the question about the dropped text
    close_window(qtbot, win)


def _files(*paths) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def _drop(window, widget, point: QPoint, mime: QMimeData) -> bool:
    """Drag `mime` over `widget` at `point` (its coordinates) and drop it there; whether the drop was taken."""
    where = QPointF(widget.mapTo(window, point))
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    for kind in (QDragEnterEvent, QDragMoveEvent):
        QApplication.sendEvent(window.windowHandle(), kind(where.toPoint(), *args))
    drop = QDropEvent(where, *args)
    QApplication.sendEvent(window.windowHandle(), drop)
    return drop.isAccepted()


def _at(editor, position: int) -> QPoint:
    cursor = QTextCursor(editor.document())
    cursor.setPosition(position)
    rect = editor.cursorRect(cursor)
    return QPoint(rect.left() + 1, rect.center().y())


def _paths(window):
    return [window.tabs.widget(i).buffer.path for i in range(window.tabs.count())]


def test_files_dropped_on_the_editor_open_in_tabs_and_the_text_is_unchanged(window, tmp_path):
    (a := tmp_path / "a.txt").write_text("a\n")
    (b := tmp_path / "b.md").write_text("# b\n")
    editor = window.editor
    assert _drop(window, editor.viewport(), _at(editor, 5), _files(a, b))
    assert _paths(window) == [tmp_path / "here.txt", a, b]
    assert window.tab.buffer.path == b and window.editor.raw_text() == "# b\n"
    assert editor.raw_text() == TEXT and not editor.document().isModified()
    assert not editor.document().isUndoAvailable()  # nothing was inserted, then taken back


def test_text_dropped_on_the_editor_is_inserted_at_the_drop_point(window):
    editor = window.editor
    mime = QMimeData()
    mime.setText("dropped ")
    assert _drop(window, editor.viewport(), _at(editor, TEXT.index("line")), mime)
    assert editor.raw_text() == "first dropped line\nsecond line\n"
    assert window.tabs.count() == 1


def test_a_link_from_a_browser_is_text_not_a_file(window):
    editor = window.editor
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.org/page")])
    mime.setText("https://example.org/page")
    assert _drop(window, editor.viewport(), _at(editor, 0), mime)
    assert editor.raw_text() == "https://example.org/page" + TEXT and window.tabs.count() == 1


def test_a_folder_and_a_binary_are_named_in_one_line_and_nothing_is_inserted(window, tmp_path):
    (folder := tmp_path / "folder").mkdir()
    (png := tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    editor = window.editor
    _drop(window, editor.viewport(), _at(editor, 3), _files(folder, png))
    assert _paths(window) == [tmp_path / "here.txt"] and editor.raw_text() == TEXT
    message = window.statusBar().currentMessage()
    assert "\n" not in message
    assert f"{folder} is a folder" in message and f"{png} looks like a binary file" in message


@pytest.mark.parametrize("target", ["tab bar", "status bar", "preview"])
def test_files_dropped_elsewhere_on_the_window_open_too(window, tmp_path, target):
    (md := tmp_path / "notes.md").write_text("# notes\n")
    assert window.open_file(str(md))  # a Markdown tab: its preview is shown
    (a := tmp_path / "a.txt").write_text("a\n")
    widget = {
        "tab bar": window.tabs.tabBar(),
        "status bar": window.statusBar(),
        "preview": window.tab.preview.viewport(),
    }[target]
    assert widget.isVisible()
    assert _drop(window, widget, QPoint(5, 5), _files(a))
    assert _paths(window) == [tmp_path / "here.txt", md, a]


def test_a_file_dropped_while_a_draft_is_shown_leaves_the_draft_and_the_text_alone(window, tmp_path):
    (a := tmp_path / "a.txt").write_text("a\n")
    editor = window.editor
    session = editor.session = RewriteSession(editor.document(), 0, 5)  # "first", a run with no engine
    session.show_draft(Draft(step=1, max_steps=4, text="FIRST", pieces=("FIRST",)))
    assert editor.raw_text() == "FIRST" + TEXT[5:]
    assert _drop(window, editor.viewport(), _at(editor, 2), _files(a))
    assert window.tab.buffer.path == a
    assert session.active and editor.raw_text() == "FIRST" + TEXT[5:]  # the draft is still shown
    session.cancel()
    assert editor.raw_text() == TEXT and not editor.document().isModified()
