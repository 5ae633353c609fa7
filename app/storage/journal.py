"""The recovery journal: every unsaved buffer's text on disk, so a crash (even kill -9) never loses it.

Layout. One folder per running window session under the journal folder (platformdirs' user state dir for
"Redraft", or $REDRAFT_JOURNAL_DIR, or an explicit folder for tests). The session holds a QLockFile
(`lock`) for its whole life and one JSON file per modified buffer: path, encoding, newline and the full text.
Files are written atomically (temp file + os.replace), so a kill mid-write leaves the previous entry.

Recovery. At start, a session folder whose lock can be taken belongs to a process that is gone (QLockFile
checks the owner's pid and host, on every platform); its entries are offered back. A folder whose lock is
held belongs to another live window and is left alone. Restoring opens the text in a tab marked modified
and never writes the file itself; the new session journals the tab at once, and only then is the old
folder removed. The journal never deletes what it cannot read: an entry that cannot be read (corrupt,
truncated, another encoding or version, no permission) is moved to the journal's `unreadable` folder and
named to the user (`kept_message`). Leftover `.tmp-` files are writes cut short before their atomic replace
(the entry they were to replace, if any, is intact), so they go with the folder.

Failures. A write that fails (disk full, folder gone or not a folder) leaves the editor's text alone; the
keeper says so (`JournalKeeper.problemChanged`, shown by the window until a write succeeds) and tries again
with the next change.

What is journaled: the user's text. While a rewrite runs, the document shows a draft in the span; an
unaccepted draft is not the user's text, so the journal puts the session's original span back
(`user_text`). A draft becomes the user's text only when accepted.

Throttling (`JournalKeeper`, GUI thread): a buffer is written 1 s after the user's last change, and at least
every 5 s while the user keeps typing. Only the user's edits restart that quiet second: a running rewrite
changes the document many times a second with drafts, which would hold the write back for 5 s. A draft
shown or taken back only makes sure a write is pending (accepting makes the draft the user's text); an
entry whose content did not change is not written again. Saving or closing a tab deletes its entry; a
clean window close removes the whole session folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from platformdirs import user_state_dir
from PySide6.QtCore import QLockFile, QObject, QTimer, Signal

JOURNAL_ENV = "REDRAFT_JOURNAL_DIR"
QUIET_MS = 1000  # write this long after the last change...
MAX_DELAY_S = 5.0  # ...but never let a buffer stay unjournaled longer than this while typing goes on
UNREADABLE = "unreadable"  # the journal's folder for entries it could not read (kept, never deleted)


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
            pass  # the write's own error is the one to report
        raise


_FIELD_TYPES = {"path": (str, type(None)), "encoding": str, "newline": str, "text": str, "saved_at": (int, float)}


def _entry(data) -> JournalEntry:
    """An entry from its JSON; TypeError unless it has this version's fields, of their types."""
    entry = JournalEntry(**data)  # TypeError: not an object, or other fields
    if not all(isinstance(getattr(entry, name), types) for name, types in _FIELD_TYPES.items()):
        raise TypeError("a field of the wrong type")
    return entry


def _scan(folder: Path) -> tuple[list[tuple[Path, JournalEntry]], list[Path]]:
    """The entries of a session folder that can be read (with their files), and the files that cannot."""
    entries, unreadable = [], []
    for file in sorted(folder.glob("*.json")):
        if file.name.startswith(".tmp-"):
            continue
        try:
            entries.append((file, _entry(json.loads(file.read_bytes().decode("utf-8")))))
        except (OSError, ValueError, TypeError):  # ValueError: bad JSON or encoding; TypeError: other fields
            unreadable.append(file)
    return entries, unreadable


def _set_aside(file: Path, folder: Path) -> Path:
    """Move an unreadable entry into `folder` under a unique name; where it is now (still `file` if it cannot move)."""
    target = folder / f"{file.parent.name}-{file.name}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(file, target)
    except OSError:
        return file
    return target


def kept_message(paths: list[Path]) -> str:
    """The one line that tells the user about journal entries that could not be read and were kept."""
    more = f" (and {len(paths) - 1} more in {paths[0].parent})" if len(paths) > 1 else ""
    return f"A recovery journal entry could not be read; it was kept, not deleted: {paths[0]}{more}"


@dataclass
class Orphan:
    """A dead session's folder: its readable entries, the files that could not be read, and its lock (see
    `Journal.orphans`)."""

    folder: Path
    entries: list[JournalEntry]
    unreadable: list[Path]
    files: list[Path]  # the files `entries` were read from
    lock: QLockFile

    def discard(self) -> list[Path]:
        """Forget the readable entries for good (after restoring them or when the user declines). Unreadable
        ones are kept: moved to the journal's `unreadable` folder. Returns where those are now."""
        kept = [_set_aside(file, self.folder.parent / UNREADABLE) for file in self.unreadable]
        for file in [*self.files, *self.folder.glob(".tmp-*")]:
            try:
                os.unlink(file)
            except OSError:
                pass  # already gone; a file that stays is kept, never lost
        self.lock.unlock()
        try:
            os.rmdir(self.folder)
        except OSError:
            pass  # not empty: something could not be moved or deleted, and stays where it is
        return kept


class Journal:
    """This process's session folder under `root`: write, remove and find entries.

    Attributes:
        root: the journal folder; folder: this session's own subfolder; writes: entries written so far.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = journal_root(root)
        self.folder = self.root / f"session-{uuid.uuid4().hex[:12]}"
        self._lock = QLockFile(str(self.folder / "lock"))
        self._lock.setStaleLockTime(0)  # stale only when the owner is gone, never by age
        self.writes = 0
        try:
            self._hold_folder()
        except OSError:
            pass  # the window still opens; each write tries again and the keeper reports why it fails

    def _hold_folder(self) -> None:
        """Create the session folder and take its lock. No entry is written without the lock: another
        window's start would take an unlocked folder for a crashed session's and discard it."""
        if self._lock.isLocked():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._lock.tryLock(0):
            raise OSError(f"cannot lock {self.folder} ({self._lock.error().name})")

    def write(self, key: str, entry: JournalEntry) -> None:
        """Write `entry` atomically; OSError when it cannot be (the previous entry, if any, is intact)."""
        self._hold_folder()
        data = json.dumps(asdict(entry), ensure_ascii=False).encode("utf-8")
        _write_atomic(self.folder / f"{key}.json", data)
        self.writes += 1

    def remove(self, key: str) -> None:
        try:
            os.unlink(self.folder / f"{key}.json")
        except OSError:
            pass  # gone already, or the folder is unusable: nothing was written there to remove

    def entries(self) -> list[JournalEntry]:
        return [entry for _, entry in _scan(self.folder)[0]]

    def orphans(self) -> list[Orphan]:
        """Other sessions whose process is gone and that left files (each holds its lock until discarded)."""
        found = []
        for folder in sorted(self.root.glob("session-*")):
            if folder == self.folder or not folder.is_dir():
                continue
            lock = QLockFile(str(folder / "lock"))
            lock.setStaleLockTime(0)
            if not lock.tryLock(0):
                continue  # a live window owns it
            read, unreadable = _scan(folder)
            orphan = Orphan(folder, [entry for _, entry in read], unreadable, [file for file, _ in read], lock)
            if read or unreadable:
                found.append(orphan)
            else:
                orphan.discard()
        return found

    def close(self) -> None:
        """A clean end: nothing is unsaved any more (or the user chose to discard it)."""
        self._lock.unlock()
        shutil.rmtree(self.folder, ignore_errors=True)


def _fingerprint(entry: JournalEntry) -> bytes:
    """What an entry says, without its time: equal fingerprints need no new write."""
    digest = hashlib.blake2b(repr((entry.path, entry.encoding, entry.newline)).encode(), digest_size=16)
    digest.update(entry.text.encode("utf-8", "surrogatepass"))
    return digest.digest()


class JournalKeeper(QObject):
    """Writes each tab's user text to the journal, throttled, from the GUI thread.

    A tab is anything with `editor` (an app.editing.editor.Editor), `buffer` (an app.storage.text_buffer.TextBuffer) and
    `modified`. The keeper only reads them.

    Attributes:
        problem: why the last write failed (one line), or "" when the journal works.

    Signals:
        problemChanged(str): `problem` changed: a write failed (the window keeps it in view), or works again ("").
    """

    problemChanged = Signal(str)

    def __init__(self, journal: Journal, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.journal = journal
        self.problem = ""
        self._tabs: dict[str, object] = {}
        self._dirty_since: dict[str, float] = {}
        self._written: dict[str, bytes] = {}  # fingerprint of each tab's entry on disk
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(QUIET_MS)
        self._timer.timeout.connect(self.flush)

    def watch(self, tab) -> None:
        key = tab.editor.document_id
        self._tabs[key] = tab
        tab.editor.document().contentsChanged.connect(lambda key=key: self._on_change(key))
        tab.editor.document().modificationChanged.connect(lambda modified, key=key: self._on_modified(key, modified))
        # Accepting a running rewrite makes its draft the user's text without changing the document.
        tab.editor.statusChanged.connect(lambda _text, key=key: self._pending(key))

    def forget(self, tab) -> None:
        """The tab is closing (saved or discarded): its entry goes."""
        key = tab.editor.document_id
        self._tabs.pop(key, None)
        self._dirty_since.pop(key, None)
        self._remove(key)

    def _on_change(self, key: str) -> None:
        # Never write from inside the change notification: a rewrite session swaps its draft with an undo
        # plus an insert, and its span is only consistent again once that whole operation has returned.
        tab = self._tabs.get(key)
        session = tab.editor.session if tab is not None else None
        if session is not None and session.applying:  # a draft shown or taken back, not the user's edit
            self._pending(key)
            return
        first = self._dirty_since.setdefault(key, time.monotonic())
        overdue = time.monotonic() - first >= MAX_DELAY_S
        self._timer.start(0 if overdue else QUIET_MS)  # restarts: 1 s after the user's last change

    def _pending(self, key: str) -> None:
        """The user's text may have changed: write it soon, without postponing a write already due."""
        self._dirty_since.setdefault(key, time.monotonic())
        if not self._timer.isActive():
            self._timer.start(QUIET_MS)

    def _on_modified(self, key: str, modified: bool) -> None:
        if modified:  # also a restored tab, marked modified with no edit
            self._on_change(key)
        else:  # saved (or undone back to the saved text)
            self._dirty_since.pop(key, None)
            self._remove(key)

    def _remove(self, key: str) -> None:
        self._written.pop(key, None)
        self.journal.remove(key)

    def flush(self) -> bool:
        """Write every changed tab now. False when a write failed: `problem` says why, the editor's text is
        untouched and those tabs stay changed, so the next change tries again."""
        self._timer.stop()
        dirty, self._dirty_since = self._dirty_since, {}
        failure = ""
        for key in dirty:
            tab = self._tabs.get(key)
            if tab is None:
                continue
            if not tab.modified:
                self._remove(key)
                continue
            buffer = tab.buffer
            entry = JournalEntry(
                str(buffer.path) if buffer.path else None, buffer.encoding, buffer.newline, user_text(tab.editor), time.time()
            )
            fingerprint = _fingerprint(entry)
            if self._written.get(key) == fingerprint:
                continue  # a draft came and went: the user's text on disk is current
            try:
                self.journal.write(key, entry)
            except OSError as exc:
                failure = f"Recovery journal cannot be written: {exc.strerror or exc} — save your work"
                self._dirty_since[key] = time.monotonic()  # tried again after the next change
                continue
            self._written[key] = fingerprint
        if failure != self.problem:
            self.problem = failure
            self.problemChanged.emit(failure)
        return not failure
