"""The instruction box's presets: the defaults, and the completer that offers them as the user types.

The defaults are worded as the prompts' worked examples are (engine/prompt.py, and the instructions of the
quality cases in tests/bench/quality): short, lower case, imperative, "fix the ..." / "make it ...". A small
model follows the wording it was shown, and a correction ("fix", "spelling", "grammar") gets the correction
examples, which keep every word that needs no fix.
"""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import QCompleter, QWidget

DEFAULT_PRESETS = (
    "fix the spelling and grammar",
    "make it shorter",
    "make it clearer",
    "make it more formal",
    "add type hints",
    "add a docstring",
)


def parse_presets(text: str) -> tuple[str, ...]:
    """One preset a line, blank lines and repeats dropped; none at all means the defaults."""
    presets = tuple(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
    return presets or DEFAULT_PRESETS


def preset_completer(parent: QWidget) -> QCompleter:
    """A popup that lists the presets containing what is typed, in any case ("FORMAL" finds "make it more
    formal"); `set_presets` changes the list."""
    completer = QCompleter(QStringListModel(list(DEFAULT_PRESETS), parent), parent)
    completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    completer.setFilterMode(Qt.MatchFlag.MatchContains)
    completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
    completer.setMaxVisibleItems(10)
    return completer


def set_presets(completer: QCompleter, presets: tuple[str, ...]) -> None:
    completer.model().setStringList(list(presets))
