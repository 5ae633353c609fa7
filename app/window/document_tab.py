"""One tab: an `Editor` on a file (app/storage/text_buffer.py), with a Markdown preview beside `.md` files.

Saving and the file on disk:
- Save writes atomically (engine/documents). Any failure (read-only, folder gone, unencodable text) shows
  a one-line notice above the editor; the editor's text and undo history are untouched.
- Someone else changing the file is noticed by a file watcher and checked again before every save. An
  unmodified tab simply reloads, as one undoable edit (Ctrl+Z brings the old text back). A modified tab
  shows a notice with Reload and Keep mine, and Save refuses to overwrite until the user picks one; a file
  deleted or moved away is reported the same way, with Save anyway to write it back.
- A rewrite in progress shows draft text in the document, so Save waits for it to be accepted or cancelled.

Large files: above HIGHLIGHT_MAX_CHARS no syntax colours, above PREVIEW_MAX_CHARS no live preview (both
are said in the status line); the buffer refuses files over EDIT_MAX_BYTES at open.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QFileSystemWatcher, Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from app.editing.editor import Editor
from app.editing.find_bar import FindBar
from app.rewrite.bridge import EngineBridge
from app.editing.colors import colors_for
from app.editing.highlighter import PygmentsHighlighter, lexer_for
from app.editing.markdown_preview import MarkdownPreview, is_markdown
from app.storage.text_buffer import TextBuffer, disk_stamp
from engine import DocumentError

HIGHLIGHT_MAX_CHARS = 4_000_000
# The preview re-lays out its whole HTML on the GUI thread at each render: ~20 ms at 250k characters, 200-700 ms
# at 900k on the project's machine (tests/bench/gui_latency.py, the md-preview document sits just below this).
PREVIEW_MAX_CHARS = 300_000
_NOTHING = object()  # no disk change accepted yet
REWRITE_IN_PROGRESS = "A rewrite is in progress: Enter accepts it, Esc cancels it; then save"


class Notice(QFrame):
    """A one-line message above the editor with optional buttons; stays until dismissed or resolved."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.reload_button = QPushButton("Reload")
        self.keep_button = QPushButton("Keep mine")
        self.save_button = QPushButton("Save anyway")
        self.close_button = QPushButton("Dismiss")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        for button in (self.reload_button, self.keep_button, self.save_button, self.close_button):
            layout.addWidget(button)
        self.close_button.clicked.connect(self.hide)
        self.hide()

    def show_message(self, text: str, *buttons: QPushButton) -> None:
        self.label.setText(text)
        for button in (self.reload_button, self.keep_button, self.save_button):
            button.setVisible(button in buttons)
        self.show()


class DocumentTab(QWidget):
    """A file (or an untitled text) in an editor, the preview when it is Markdown, and a notice line.

    Signals:
        titleChanged(str): the tab's title changed (file name, "•" when modified).
        message(str): a one-line message for the status bar.
        infoChanged(): encoding, line endings or highlighting changed (the status bar's file label).
    """

    titleChanged = Signal(str)
    message = Signal(str)
    infoChanged = Signal()

    def __init__(self, bridge: EngineBridge, document_id: str, buffer: TextBuffer, text: str, parent=None):
        super().__init__(parent)
        self.buffer = buffer
        self.editor = Editor(bridge, document_id)
        self.editor.setPlainText(text)
        self.preview = MarkdownPreview()
        self.notice = Notice()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.editor)
        self.splitter.addWidget(self.preview)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter, 1)
        self.find_bar = FindBar(self.editor)  # hidden until Ctrl+F / Ctrl+H
        layout.addWidget(self.find_bar)
        self.highlighter: PygmentsHighlighter | None = None
        self._too_big_to_highlight = False
        self._accepted = _NOTHING
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._on_file_changed)
        self.notice.reload_button.clicked.connect(self.reload)
        self.notice.keep_button.clicked.connect(self.keep_mine)
        self.notice.save_button.clicked.connect(lambda: self.save(overwrite=True))
        self.editor.document().modificationChanged.connect(lambda _: self.titleChanged.emit(self.title()))
        self.editor.textChanged.connect(self._on_text_changed)
        self.find_bar.message.connect(self.message)
        self.editor.statusChanged.connect(self._on_editor_status)
        self._file_changed()
        if buffer.mixed_newlines:
            self.notice.show_message(buffer.mixed_newline_notice())

    # -- what it shows -----------------------------------------------------------------------------------

    @property
    def modified(self) -> bool:
        return self.editor.document().isModified()

    def title(self) -> str:
        name = self.buffer.path.name if self.buffer.path else "Untitled"
        return f"{name} •" if self.modified else name

    def describe(self) -> str:
        """The status bar's file line: encoding, line endings and what is switched off for size."""
        parts = [self.buffer.describe()]
        if self.highlighter is not None:
            parts.append(self.highlighter.lexer.name)
        size = self.editor.document().characterCount()
        if self._too_big_to_highlight:
            parts.append("no highlighting (large file)")
        if self._markdown() and size > PREVIEW_MAX_CHARS:
            parts.append("no preview (large file)")
        return " · ".join(parts)

    def _markdown(self) -> bool:
        return is_markdown(self.buffer.path.name if self.buffer.path else None)

    def _file_changed(self) -> None:
        """The path (or the text, at open) changed: pick the highlighter and preview, watch the new path."""
        path = self.buffer.path
        text = self.editor.toPlainText() if self.editor.document().characterCount() <= 65536 else ""
        lexer = lexer_for(path.name if path else None, text[:4096])
        self.editor.language = lexer.name if lexer is not None else None  # sent with every rewrite request
        if self.highlighter is not None and (lexer is None or type(lexer) is not type(self.highlighter.lexer)):
            self.highlighter.setDocument(None)
            self.highlighter.deleteLater()
            self.highlighter = None
        self._too_big_to_highlight = False
        if lexer is not None and self.highlighter is None:
            if self.editor.document().characterCount() <= HIGHLIGHT_MAX_CHARS:
                self.highlighter = PygmentsHighlighter(self.editor.document(), lexer)
            else:
                self._too_big_to_highlight = True
        self.preview.setVisible(self._markdown())
        if self._markdown():
            self.splitter.setSizes([1, 1])
            self._on_text_changed()
        if self._watcher.files():
            self._watcher.removePaths(self._watcher.files())
        if path is not None and path.exists():
            self._watcher.addPath(str(path))
        self.titleChanged.emit(self.title())
        self.infoChanged.emit()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self.highlighter is not None:
            self.highlighter.set_colors(colors_for(self.palette()))  # a theme switch recolours the code

    def _on_text_changed(self) -> None:
        if self._markdown() and self.editor.document().characterCount() <= PREVIEW_MAX_CHARS:
            self.preview.schedule(self.editor.raw_text)

    # -- saving ------------------------------------------------------------------------------------------

    def save(self, overwrite: bool = False) -> bool:
        """Save to the buffer's file; False (and a notice) when it could not. `overwrite`: past a disk change."""
        if self.buffer.path is None:
            self.message.emit("Use Save As to choose where this text goes")
            return False
        if not self._ready_to_save():
            return False
        change = self.buffer.disk_change()
        if change is not None and not overwrite and self._accepted != disk_stamp(self.buffer.path):
            self._show_disk_change(change)
            return False
        return self._write(None)

    def save_as(self, path: str) -> bool:
        if not self._ready_to_save():
            return False
        return self._write(path)

    def _ready_to_save(self) -> bool:
        session = self.editor.session
        if session is not None and session.active:
            self.notice.show_message(REWRITE_IN_PROGRESS)  # above the editor only, until the rewrite ends
            return False
        return True

    def _on_editor_status(self, _text: str) -> None:
        # Every end of a rewrite changes the editor's status line: the notice goes when it is no longer true.
        session = self.editor.session
        if self.notice.label.text() == REWRITE_IN_PROGRESS and not (session is not None and session.active):
            self.notice.hide()

    def _write(self, path: str | None) -> bool:
        old_path = self.buffer.path
        try:
            self.buffer.save(self.editor.raw_text(), path)
        except DocumentError as exc:
            self._fail(f"{exc}; your text is still here")
            return False
        self._accepted = _NOTHING
        self.notice.hide()
        self.editor.document().setModified(False)
        if self.buffer.path != old_path:
            self._file_changed()
        else:
            self._watcher.addPath(str(self.buffer.path))  # an atomic replace drops the old file's watch
        self.titleChanged.emit(self.title())
        self.infoChanged.emit()
        self.message.emit(f"Saved {self.buffer.path}")
        return True

    def _fail(self, text: str) -> None:
        self.notice.show_message(text)
        self.message.emit(text)

    # -- changes on disk ---------------------------------------------------------------------------------

    def _on_file_changed(self, path: str) -> None:
        if self.buffer.path is not None and self.buffer.path.exists():
            self._watcher.addPath(str(self.buffer.path))  # replaced files drop out of the watch
        self.check_disk()

    def check_disk(self) -> str | None:
        """Compare with the file on disk and react (see the module docstring); returns the change seen."""
        change = self.buffer.disk_change()
        if change is None or self._accepted == disk_stamp(self.buffer.path):
            return None
        session = self.editor.session
        busy = session is not None and session.active
        if change == "changed" and not self.modified and not busy:
            if self.reload():
                self.message.emit(f"Reloaded {self.buffer.path.name}: it changed on disk (Ctrl+Z brings back the old text)")
            return change
        self._show_disk_change(change)
        return change

    def _show_disk_change(self, change: str) -> None:
        name = self.buffer.path.name
        if change == "deleted":
            self._fail(f"{name} was deleted or moved on disk; your text is kept — Save anyway writes it back")
            self.notice.show_message(self.notice.label.text(), self.notice.save_button)
        else:
            self._fail(f"{name} changed on disk — Reload takes the disk's version (Ctrl+Z undoes), Keep mine keeps yours")
            self.notice.show_message(self.notice.label.text(), self.notice.reload_button, self.notice.keep_button)

    def keep_mine(self) -> None:
        """Keep the editor's text over the disk's version: the next Save overwrites the file."""
        self._accepted = disk_stamp(self.buffer.path)
        self.notice.hide()

    def reload(self) -> bool:
        """Replace the text with the file's, as one undoable edit. False (and a notice) when it cannot be read."""
        self.editor.cancel_rewrite()
        try:
            text = self.buffer.load(self.buffer.path)
        except DocumentError as exc:
            self._fail(str(exc))
            return False
        cursor = QTextCursor(self.editor.document())
        position = self.editor.textCursor().position()
        cursor.beginEditBlock()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(text)
        cursor.endEditBlock()
        cursor.setPosition(min(position, self.editor.document().characterCount() - 1))
        self.editor.setTextCursor(cursor)
        self.editor.document().setModified(False)
        self._accepted = _NOTHING
        self.notice.hide()
        self.infoChanged.emit()
        if self.buffer.mixed_newlines:
            self.notice.show_message(self.buffer.mixed_newline_notice())
        return True
