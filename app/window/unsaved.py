"""The two questions about unsaved text: "save before closing?" and "restore what a crash left?".

Both are thin QMessageBox wrappers returning plain strings, so the window's logic reads as data and tests can
answer a real box (a QTimer clicks its button) without patching anything. `buffer_for` turns a journal entry
back into a TextBuffer without touching the file on disk.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from app.storage.journal import JournalEntry
from app.storage.text_buffer import TextBuffer
from engine import DocumentError

Button = QMessageBox.StandardButton


def ask_to_save(parent: QWidget | None, name: str) -> str:
    """Save / Discard / Cancel for one modified buffer: "save", "discard" or "cancel"."""
    box = QMessageBox(QMessageBox.Icon.Question, "Redraft", f"Save the changes to {name}?", parent=parent)
    box.setInformativeText("Your changes will be lost if you don't save them.")
    box.setStandardButtons(Button.Save | Button.Discard | Button.Cancel)
    box.setDefaultButton(Button.Save)
    box.setObjectName("unsaved-question")
    answer = box.exec()
    return {Button.Save: "save", Button.Discard: "discard"}.get(Button(answer), "cancel")


def ask_to_restore(parent: QWidget | None, entries: list[JournalEntry]) -> str:
    """Restore / Discard / Later for what a crashed session left: "restore", "discard" or "later"."""
    names = [Path(e.path).name if e.path else "Untitled" for e in entries]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Redraft",
        f"Redraft did not close normally. Restore {len(entries)} unsaved buffer(s)? ({shown})",
        parent=parent,
    )
    box.setInformativeText("Restored text opens in tabs marked modified; no file is written until you save.")
    box.setStandardButtons(Button.Yes | Button.Discard | Button.Ignore)
    box.button(Button.Yes).setText("Restore")
    box.button(Button.Ignore).setText("Later")
    box.setDefaultButton(Button.Yes)
    box.setObjectName("recovery-question")
    answer = box.exec()
    return {Button.Yes: "restore", Button.Discard: "discard"}.get(Button(answer), "later")


def buffer_for(entry: JournalEntry) -> TextBuffer:
    """The buffer a restored entry belongs to: its file's (to compare with the disk later) when still readable,
    with the entry's encoding and line endings."""
    buffer = TextBuffer()
    if entry.path is not None:
        try:
            buffer, _ = TextBuffer.open(entry.path)
        except DocumentError:
            buffer.path = Path(entry.path)  # gone or unreadable: Save writes it back
    buffer.encoding, buffer.newline = entry.encoding, entry.newline
    return buffer
