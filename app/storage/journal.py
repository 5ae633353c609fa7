"""The recovery journal: every unsaved buffer's text on disk, so a crash (even kill -9) never loses it.

Layout. One folder per running window session under the journal folder (platformdirs' user state dir for
"Redraft", or $REDRAFT_JOURNAL_DIR, or an explicit folder for tests). The session holds a QLockFile
(`lock`) for its whole life and one JSON file per modified buffer: path, encoding, newline and the full text.
Files are written atomically (temp file + os.replace), so a kill mid-write leaves the previous entry.

Recovery. At start, a session folder whose lock can be taken belongs to a process that is gone (QLockFile
checks the owner's pid and host, on every platform); its entries are offered back. A folder whose lock is
held belongs to another live window and is left alone. Restoring opens the text in a tab marked modified
and never writes the file itself; the old folder is then removed (the new session journals the tab again).

What is journaled: the user's text. While a rewrite runs, the document shows a draft in the span; an
unaccepted draft is not the user's text, so the journal puts the session's original span back
(`user_text`). A draft becomes the user's text only when accepted.

Throttling (`JournalKeeper`, GUI thread): a buffer is written 1 s after its last change, and at least every
5 s while changes keep coming; saving or closing a tab deletes its entry; a clean window close removes the
whole session folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from platformdirs import user_state_dir
from PySide6.QtCore import QLockFile, QObject, QTimer

JOURNAL_ENV = "REDRAFT_JOURNAL_DIR"
QUIET_MS = 1000  # write this long after the last change...
MAX_DELAY_S = 5.0  # ...but never let a buffer stay unjournaled longer than this while typing goes on


def journal_root(folder: str | os.PathLike | None = None) -> Path:
    """The journal's folder: the argument, else $REDRAFT_JOURNAL_DIR, else the platform's user state dir."""
    return Path(folder or os.environ.get(JOURNAL_ENV) or Path(user_state_dir("Redraft", appauthor=False)) / "journal")


@dataclass(frozen=True)
class JournalEntry:
    """One unsaved buffer. path None: an untitled buffer."""

    path: str | None
    encoding: str
    newline: str
    text: str
    saved_at: float = 0.0


def user_text(editor) -> str:
    """The editor's text as the user has it: a running (or finished, unaccepted) rewrite's span put back."""
    text = editor.raw_text()
    session = editor.session
    if session is None or not session.active:
        return text
    # Session positions are UTF-16 units; slicing the UTF-16 bytes avoids an O(n) Python scan per write.
    units = text.encode("utf-16-le")
    before = units[: 2 * session.start].decode("utf-16-le")
    after = units[2 * session.end :].decode("utf-16-le")
    return before + session.original + after


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_entries(folder: Path) -> list[JournalEntry]:
    entries = []
    for file in sorted(folder.glob("*.json")):
        if file.name.startswith(".tmp-"):
            continue
        try:
            entries.append(JournalEntry(**json.loads(file.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue  # unreadable or from another version: skip it, never crash the start
    return entries


@dataclass
class Orphan:
    """A dead session's folder and its entries (see `Journal.orphans`)."""

    folder: Path
    entries: list[JournalEntry]
    lock: QLockFile

    def discard(self) -> None:
        """Forget these entries for good (after restoring them or when the user declines)."""
        self.lock.unlock()
        shutil.rmtree(self.folder, ignore_errors=True)


class Journal:
    """This process's session folder under `root`: write, remove and find entries.

    Attributes:
        root: the journal folder; folder: this session's own subfolder.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = journal_root(root)
        self.folder = self.root / f"session-{uuid.uuid4().hex[:12]}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = QLockFile(str(self.folder / "lock"))
        self._lock.setStaleLockTime(0)  # stale only when the owner is gone, never by age
        self._lock.tryLock(0)
        self.writes = 0

    def write(self, key: str, entry: JournalEntry) -> None:
        data = json.dumps(asdict(entry), ensure_ascii=False).encode("utf-8")
        _write_atomic(self.folder / f"{key}.json", data)
        self.writes += 1

    def remove(self, key: str) -> None:
        try:
            os.unlink(self.folder / f"{key}.json")
        except FileNotFoundError:
            pass

    def entries(self) -> list[JournalEntry]:
        return _read_entries(self.folder)

    def orphans(self) -> list[Orphan]:
        """Other sessions whose process is gone and that left entries (each holds its lock until discarded)."""
        found = []
        for folder in sorted(self.root.glob("session-*")):
            if folder == self.folder or not folder.is_dir():
                continue
            lock = QLockFile(str(folder / "lock"))
            lock.setStaleLockTime(0)
            if not lock.tryLock(0):
                continue  # a live window owns it
            entries = _read_entries(folder)
            if entries:
                found.append(Orphan(folder, entries, lock))
            else:
                lock.unlock()
                shutil.rmtree(folder, ignore_errors=True)
        return found

    def close(self) -> None:
        """A clean end: nothing is unsaved any more (or the user chose to discard it)."""
        self._lock.unlock()
        shutil.rmtree(self.folder, ignore_errors=True)


class JournalKeeper(QObject):
    """Writes each tab's user text to the journal, throttled, from the GUI thread.

    A tab is anything with `editor` (an app.editing.editor.Editor), `buffer` (an app.storage.text_buffer.TextBuffer) and
    `modified`. The keeper only reads them.
    """

    def __init__(self, journal: Journal, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.journal = journal
        self._tabs: dict[str, object] = {}
        self._dirty_since: dict[str, float] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(QUIET_MS)
        self._timer.timeout.connect(self.flush)

    def watch(self, tab) -> None:
        key = tab.editor.document_id
        self._tabs[key] = tab
        tab.editor.document().contentsChanged.connect(lambda key=key: self._on_change(key))
        tab.editor.document().modificationChanged.connect(lambda modified, key=key: self._on_modified(key, modified))

    def forget(self, tab) -> None:
        """The tab is closing (saved or discarded): its entry goes."""
        key = tab.editor.document_id
        self._tabs.pop(key, None)
        self._dirty_since.pop(key, None)
        self.journal.remove(key)

    def _on_change(self, key: str) -> None:
        # Never write from inside the change notification: a rewrite session swaps its draft with an undo
        # plus an insert, and its span is only consistent again once that whole operation has returned.
        first = self._dirty_since.setdefault(key, time.monotonic())
        overdue = time.monotonic() - first >= MAX_DELAY_S
        self._timer.start(0 if overdue else QUIET_MS)  # restarts: 1 s after the last change

    def _on_modified(self, key: str, modified: bool) -> None:
        if modified:  # also a restored tab, marked modified with no edit
            self._on_change(key)
        else:  # saved (or undone back to the saved text)
            self._dirty_since.pop(key, None)
            self.journal.remove(key)

    def flush(self) -> None:
        """Write every changed tab now."""
        self._timer.stop()
        dirty, self._dirty_since = self._dirty_since, {}
        for key in dirty:
            tab = self._tabs.get(key)
            if tab is None:
                continue
            if not tab.modified:
                self.journal.remove(key)
                continue
            buffer = tab.buffer
            entry = JournalEntry(
                str(buffer.path) if buffer.path else None, buffer.encoding, buffer.newline, user_text(tab.editor), time.time()
            )
            self.journal.write(key, entry)
