"""The instructions given to the box, newest first, and walking them with Up/Down like a shell's history.

At most LIMIT are kept; an empty instruction is not stored, nor one equal to the newest (ignoredups, not
erasedups: "a", "b", "a" stays as it is). With a QSettings they are kept there and read anew each time the box
opens, so every tab and the next start see them; without one (an editor outside a window) they live in memory.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

KEY = "instructionBox/history"
LIMIT = 50


class InstructionHistory:
    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store
        self._entries: list[str] = []

    def entries(self) -> list[str]:
        if self.store is None:
            return list(self._entries)
        value = self.store.value(KEY, [])
        if isinstance(value, str):  # QSettings reads a one-element list back from an ini file as a string
            value = [value]
        return [str(entry) for entry in value or [] if str(entry).strip()][:LIMIT]

    def add(self, instruction: str) -> None:
        instruction = instruction.strip()
        entries = self.entries()
        if not instruction or entries[:1] == [instruction]:
            return
        entries = [instruction, *entries][:LIMIT]
        if self.store is None:
            self._entries = entries
        else:
            self.store.setValue(KEY, entries)
            self.store.sync()


class Recall:
    """One walk through `entries` (newest first) from the line's text: `older` and `newer` give the text to
    show, or None to leave the line as it is. Below the newest is what the user was typing (the draft).

    The box opens with the last instruction in the line: that counts as the newest entry already shown, so the
    first Up brings the one before it. Editing a recalled entry makes the edit the draft and starts over."""

    def __init__(self, entries: list[str], text: str) -> None:
        self.entries = entries
        self.index = 0 if entries and text == entries[0] else -1  # -1: the draft
        self.draft = "" if self.index == 0 else text

    def older(self, text: str) -> str | None:
        self._follow(text)
        if self.index + 1 >= len(self.entries):
            return None
        self.index += 1
        return self.entries[self.index]

    def newer(self, text: str) -> str | None:
        self._follow(text)
        if self.index < 0:
            return None
        self.index -= 1
        return self.draft if self.index < 0 else self.entries[self.index]

    def _follow(self, text: str) -> None:
        shown = self.draft if self.index < 0 else self.entries[self.index]
        if text != shown:  # typed over: what is there now is the draft
            self.index, self.draft = -1, text
