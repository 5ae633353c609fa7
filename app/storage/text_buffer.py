"""A tab's file: where it lives, how it is stored (encoding, line endings) and what was last seen on disk.

No widgets here: the tab hands in the editor's text and gets back what to show.

Line endings. QPlainTextEdit turns every CRLF, CR and LF into a block separator, so the editor only ever holds
"\\n". The buffer remembers the file's own text: a save with no change to the text writes that text back
exactly (byte-identical, even for a file with mixed line endings); a save after an edit writes the file's
dominant line ending throughout. For a mixed file that means a visible change, so `mixed_newlines` says so
and the tab tells the user when the file opens, never silently.

Encoding. UTF-8, UTF-8 with BOM and UTF-16 LE/BE with or without a BOM are kept as found; a file that is none of these
opens as Windows-1252 (engine/documents' fallback), which the tab shows, and is saved back as Windows-1252.

Disk stamp. (mtime_ns, size, inode) when the file was read or written; a different stamp means someone else
changed, replaced or deleted the file, and `disk_change()` says which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine import DocumentError, read_text_file, write_text_file_atomic

MB = 1024 * 1024
# Bigger files are refused: QPlainTextEdit's layout of tens of MB freezes the window for seconds.
EDIT_MAX_BYTES = 16 * MB
FALLBACK = "cp1252"

ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "utf-16-le-nobom": "UTF-16 LE (no BOM)",
    "utf-16-be-nobom": "UTF-16 BE (no BOM)",
    "cp1252": "Windows-1252 (not UTF-8)",
}
NEWLINE_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}


@dataclass(frozen=True)
class DiskStamp:
    mtime_ns: int
    size: int
    inode: int


def disk_stamp(path: Path) -> DiskStamp | None:
    """The file's stamp, or None when it is gone."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return DiskStamp(info.st_mtime_ns, info.st_size, info.st_ino)


def to_editor(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class TextBuffer:
    """The file behind one tab (path None: not saved yet).

    Attributes:
        path: the file, or None for an untitled buffer.
        encoding: how it is written back (a key of ENCODING_NAMES).
        newline: the line ending an edited text is written with.
        mixed_newlines: the file had more than one kind of line ending.
        stamp: the disk stamp at the last read or write.
    """

    def __init__(self) -> None:
        self.path: Path | None = None
        self.encoding = "utf-8"
        self.newline = "\n"
        self.mixed_newlines = False
        self.stamp: DiskStamp | None = None
        self._stored = ""  # the text as it is on disk, line endings and all

    @classmethod
    def open(cls, path: str | os.PathLike) -> tuple[TextBuffer, str]:
        """Read a file; returns the buffer and the text for the editor. Raises DocumentError."""
        buffer = cls()
        text = buffer.load(Path(path))
        return buffer, text

    def load(self, path: Path) -> str:
        document = read_text_file(path, max_bytes=EDIT_MAX_BYTES, fallback=FALLBACK)
        self.path = Path(os.path.abspath(path))
        self.encoding, self.newline, self._stored = document.encoding, document.newline, document.text
        crlf = document.text.count("\r\n")
        kinds = [crlf, document.text.count("\n") - crlf, document.text.count("\r") - crlf]
        self.mixed_newlines = sum(1 for n in kinds if n) > 1
        self.stamp = disk_stamp(self.path)
        return to_editor(document.text)

    def describe(self) -> str:
        """Encoding and line endings, for the status bar."""
        newline = "mixed line endings" if self.mixed_newlines else NEWLINE_NAMES[self.newline]
        return f"{ENCODING_NAMES.get(self.encoding, self.encoding)} · {newline}"

    def mixed_newline_notice(self) -> str:
        name = NEWLINE_NAMES[self.newline]
        return f"{self.path.name} mixes line endings: it is saved unchanged until you edit it, then with {name} throughout"

    def stored_text(self, editor_text: str) -> str:
        """What a save writes for the editor's text: the file's own text when nothing changed."""
        if editor_text == to_editor(self._stored):
            return self._stored
        return editor_text.replace("\n", self.newline) if self.newline != "\n" else editor_text

    def disk_change(self) -> str | None:
        """None when the file is as last read or written; "changed" or "deleted" otherwise."""
        if self.path is None or self.stamp is None:
            return None
        now = disk_stamp(self.path)
        if now == self.stamp:
            return None
        return "deleted" if now is None else "changed"

    def save(self, editor_text: str, path: str | os.PathLike | None = None) -> None:
        """Write atomically to `path` (default: the buffer's own). Raises DocumentError; nothing changes then."""
        target = Path(os.path.abspath(path)) if path is not None else self.path
        if target is None:
            raise DocumentError("this text has no file yet; use Save As")
        stored = self.stored_text(editor_text)
        write_text_file_atomic(target, stored, self.encoding)
        if stored != self._stored:
            self.mixed_newlines = False  # an edited text is written with one line ending
        self.path, self._stored = target, stored
        self.stamp = disk_stamp(target)
