"""What the window looked like when it last closed, kept in QSettings for the next start.

Files: each file-backed tab's path, caret and first visible line, and which tab was current. A start without
paths on the command line reopens them; a start with paths opens only those (the old session is not mixed in,
as with `code FILE`), and its own tabs become the session saved at the next close. Untitled text is not kept
here: the recovery journal (app/storage/journal.py) owns unsaved text.

Layout: the window's geometry and state (QMainWindow.saveGeometry/saveState) and the editor/preview splitter's
sizes, restored at every start.

A stored value that does not parse (hand-edited, another version) is skipped, never an error; at most
MAX_FILES tabs are kept.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from PySide6.QtCore import QByteArray, QSettings

MAX_FILES = 50
_FILES, _GEOMETRY, _STATE, _SPLIT = "session/files", "window/geometry", "window/state", "window/previewSplit"


@dataclass(frozen=True)
class SavedTab:
    """Attributes: path (absolute), cursor (the caret's position in the text), top_line (the first visible
    line's block number)."""

    path: str
    cursor: int = 0
    top_line: int = 0


@dataclass(frozen=True)
class SessionState:
    """Attributes: tabs (file-backed tabs in order), current (the index into `tabs` shown last), geometry and
    window_state (Qt's opaque bytes, empty: none stored), preview_split (the editor/preview sizes, or ())."""

    tabs: tuple[SavedTab, ...] = ()
    current: int = 0
    geometry: QByteArray = field(default_factory=QByteArray)
    window_state: QByteArray = field(default_factory=QByteArray)
    preview_split: tuple[int, ...] = ()

    @classmethod
    def load(cls, store: QSettings) -> SessionState:
        files = _json(store.value(_FILES), dict)
        tabs = tuple(tab for raw in _list(files.get("tabs"))[:MAX_FILES] if (tab := _tab(raw)) is not None)
        current = files.get("current")
        current = current if _count(current) and current < len(tabs) else 0
        split = _json(store.value(_SPLIT), list)
        return cls(
            tabs,
            current,
            _bytes(store.value(_GEOMETRY)),
            _bytes(store.value(_STATE)),
            tuple(split) if len(split) == 2 and all(_count(n) for n in split) and any(split) else (),
        )

    def save(self, store: QSettings) -> None:
        files = {"tabs": [asdict(tab) for tab in self.tabs[:MAX_FILES]], "current": self.current}
        store.setValue(_FILES, json.dumps(files, ensure_ascii=False))
        store.setValue(_GEOMETRY, self.geometry)
        store.setValue(_STATE, self.window_state)
        if self.preview_split:
            store.setValue(_SPLIT, json.dumps(list(self.preview_split)))
        store.sync()


def _count(value) -> bool:
    return type(value) is int and value >= 0  # bool is not a count


def _json(raw, kind: type):
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    return value if isinstance(value, kind) else kind()


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _tab(raw) -> SavedTab | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str) or not raw["path"]:
        return None
    cursor, top = raw.get("cursor", 0), raw.get("top_line", 0)
    if not (_count(cursor) and _count(top)):
        return None
    return SavedTab(raw["path"], cursor, top)


def _bytes(raw) -> QByteArray:
    return raw if isinstance(raw, QByteArray) else QByteArray()
