"""The recently opened or saved files, newest first, kept in the application's QSettings.

Paths are stored absolute; ones that no longer exist stay listed (a drive may be unmounted for a while)
until opening them fails, when the window removes them.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

KEY = "recentFiles"
LIMIT = 10


class RecentFiles:
    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def paths(self) -> list[str]:
        value = self.settings.value(KEY, [])
        if isinstance(value, str):  # QSettings reads a one-element list back from an ini file as a string
            value = [value]
        return [str(p) for p in value or []]

    def add(self, path: str | os.PathLike) -> None:
        path = os.path.abspath(path)
        self._store([path, *(p for p in self.paths() if p != path)][:LIMIT])

    def remove(self, path: str | os.PathLike) -> None:
        path = os.path.abspath(path)
        self._store([p for p in self.paths() if p != path])

    def _store(self, paths: list[str]) -> None:
        self.settings.setValue(KEY, paths)
        self.settings.sync()
