"""Every command of the window, defined once: the menus, Help > Keyboard Shortcuts and the command palette are
all built from `window_commands`.

A command's `keys` become real QAction shortcuts, so the menus show them. Keys that mean something only in the
editor and only at one moment (Enter, Tab and Esc during a rewrite, Y and N during a review) are never bound:
a window shortcut on Y would take every typed "y", and one on Esc or Enter would take them from the
instruction box. They are `shown` in the menu text instead, the editor keeps handling them
(app/editing/editor.py), and the command is enabled only while they apply.

The editor also takes its text-editing keys (Ctrl+Z, Ctrl+C, Ctrl+V, ...) before any window shortcut (Qt
asks the focus widget first, with a ShortcutOverride event), so a rewrite in progress sees them exactly as
before; the menu entries serve the mouse, the palette, and focus outside the editor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QWidget

from app.storage.settings import THEMES

# "Re&write", not "&Rewrite": Alt+R is Try Again.
MENUS = {
    "File": "&File", "Edit": "&Edit", "View": "&View", "Rewrite": "Re&write", "Settings": "&Settings", "Help": "&Help",
}


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Command:
    """menu: the top-level menu; submenu: a submenu of it ("" none); section: a separator before it;
    keys: real shortcuts (portable text, "Ctrl+J"); shown: keys the editor handles, shown only;
    enabled: whether it applies now; checked: for a toggle, its state now (None: not a toggle)."""

    menu: str
    name: str  # as the menu shows it, "&" before a mnemonic letter
    run: Callable[[], object]
    keys: tuple[str, ...] = ()
    shown: str = ""
    enabled: Callable[[], bool] = _always
    checked: Callable[[], bool] | None = None
    submenu: str = ""
    section: bool = False

    @property
    def label(self) -> str:
        """The name as the palette and the shortcut list show it: "View: Theme: Dark" (no "&" mnemonics)."""
        return ": ".join(part.replace("&", "") for part in (self.menu, self.submenu, self.name) if part)

    def key_text(self) -> str:
        if self.keys:
            return ", ".join(QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText) for key in self.keys)
        return self.shown


class CommandSet:
    """The window's commands and one QAction each (owned by `parent`, the window).

    Attributes: commands (in menu order), actions (label -> QAction), menus (menu name -> QMenu, once built).
    """

    def __init__(self, commands: list[Command], parent: QWidget) -> None:
        self.commands = list(commands)
        self.actions: dict[str, QAction] = {}
        self.menus: dict[str, QMenu] = {}
        groups: dict[str, QActionGroup] = {}
        for command in self.commands:
            text = f"{command.name}\t{command.shown}" if command.shown else command.name
            action = QAction(text, parent)
            action.setShortcuts([QKeySequence(key) for key in command.keys])
            if command.checked is not None:
                action.setCheckable(True)
                if command.submenu:  # the checkable items of one submenu are a choice of one (the theme)
                    groups.setdefault(command.submenu, QActionGroup(parent)).addAction(action)
            action.triggered.connect(lambda _checked=False, command=command: self.run(command))
            parent.addAction(action)  # the shortcut works before any menu is built or shown
            self.actions[command.label] = action
        # States are brought up to date when a menu or the palette shows (no tab exists yet at this point).

    def action(self, label: str) -> QAction:
        return self.actions[label]

    def run(self, command: Command) -> bool:
        """Run `command` if it applies now (a stale enabled state never runs one that does not)."""
        if not command.enabled():
            self.refresh()
            return False
        command.run()
        self.refresh()
        return True

    def refresh(self) -> None:
        """Bring every action's enabled and checked state up to date (before a menu or the palette shows)."""
        for command in self.commands:
            action = self.actions[command.label]
            action.setEnabled(command.enabled())
            if command.checked is not None:
                action.setChecked(command.checked())

    def build_menus(self, bar: QMenuBar) -> dict[str, QMenu]:
        submenus: dict[tuple[str, str], QMenu] = {}
        for command in self.commands:
            menu = self.menus.get(command.menu)
            if menu is None:
                menu = self.menus[command.menu] = bar.addMenu(MENUS.get(command.menu, command.menu))
                menu.aboutToShow.connect(self.refresh)
            if command.section and not menu.isEmpty():
                menu.addSeparator()
            if command.submenu:
                key = (command.menu, command.submenu)
                if key not in submenus:
                    submenus[key] = menu.addMenu(command.submenu)
                menu = submenus[key]
            menu.addAction(self.actions[command.label])
        return self.menus


# -- the window's commands ------------------------------------------------------------------------------------


def window_commands(window) -> list[Command]:
    """Every command of `window` (a MainWindow), in menu order."""
    w = window

    def editor():
        return w.editor

    def rewriting() -> bool:
        session = w.editor.session
        return session is not None and session.active

    def reviewing() -> bool:
        return w.editor.review is not None

    def selection() -> bool:
        return w.editor.textCursor().hasSelection()

    def theme(name: str) -> Command:
        return Command(
            "View", name.capitalize(), lambda: w.set_theme(name), submenu="Theme",
            checked=lambda: w.preferences.theme == name, section=name == THEMES[0],
        )

    return [
        Command("File", "&New", w.new_tab, ("Ctrl+N",)),
        Command("File", "&Open…", w.open_dialog, ("Ctrl+O",)),
        Command("File", "&Save", w.save, ("Ctrl+S",)),
        Command("File", "Save &As…", w.save_as, ("Ctrl+Shift+S",)),
        Command("File", "&Close Tab", lambda: w.close_tab(w.tabs.currentIndex()), ("Ctrl+W",)),
        Command("File", "&Quit", w.close, ("Ctrl+Q",), section=True),  # closeEvent asks about unsaved tabs
        Command("Edit", "Undo", lambda: editor().undo(), ("Ctrl+Z",),
                enabled=lambda: rewriting() or editor().document().isUndoAvailable()),
        Command("Edit", "Redo", lambda: editor().redo(), ("Ctrl+Shift+Z",),
                enabled=lambda: rewriting() or editor().document().isRedoAvailable()),
        # Cut removes text without passing the editor's guard for drafts: from the menu, only outside a rewrite.
        Command("Edit", "Cut", lambda: editor().cut(), ("Ctrl+X",), section=True,
                enabled=lambda: selection() and not rewriting()),
        Command("Edit", "Copy", lambda: editor().copy(), ("Ctrl+C",), enabled=selection),
        Command("Edit", "Paste", lambda: editor().paste(), ("Ctrl+V",), enabled=lambda: editor().canPaste()),
        Command("Edit", "Select All", lambda: editor().selectAll(), ("Ctrl+A",)),
        Command("Edit", "Find…", lambda: w.tab.find_bar.open(), ("Ctrl+F",), section=True),
        Command("Edit", "Replace…", lambda: w.tab.find_bar.open(replace=True), ("Ctrl+H",)),
        Command("Edit", "Find Next", lambda: w.tab.find_bar.find_next(), ("F3",)),
        Command("Edit", "Find Previous", lambda: w.tab.find_bar.find_previous(), ("Shift+F3",)),
        Command("Edit", "Go to Line…", w.go_to_line.open, ("Ctrl+G",), section=True),
        Command("View", "Word Wrap", lambda: w.set_view(word_wrap=not w.view.word_wrap), ("Alt+Z",),
                checked=lambda: w.view.word_wrap),
        Command("View", "Zoom In", lambda: w.zoom(+1), ("Ctrl++", "Ctrl+="), section=True),
        Command("View", "Zoom Out", lambda: w.zoom(-1), ("Ctrl+-",)),
        Command("View", "Reset Zoom", lambda: w.zoom(0), ("Ctrl+0",)),
        Command("View", "Markdown Preview", lambda: w.set_view(preview=not w.view.preview), section=True,
                checked=lambda: w.view.preview),
        Command("View", "Line Numbers", lambda: w.set_view(line_numbers=not w.view.line_numbers),
                checked=lambda: w.view.line_numbers),
        *(theme(name) for name in THEMES),
        Command("View", "Command Palette…", w.palette.open, ("Ctrl+Shift+P",), section=True),
        Command("Rewrite", "Rewrite / Refine / Fill…", lambda: editor().open_instruction_box(), ("Ctrl+J",)),
        Command("Rewrite", "Accept", lambda: editor().accept_rewrite(), shown="Enter, Tab", enabled=rewriting),
        Command("Rewrite", "Cancel", lambda: editor().cancel_rewrite(), shown="Esc", enabled=rewriting),
        Command("Rewrite", "Try Again", lambda: editor().rerun(), ("Alt+R",), enabled=rewriting),
        # Scrub through the run's drafts and cycle through the span's results, in place (app/editing/editor.py).
        Command("Rewrite", "Earlier Step", lambda: editor().scrub(-1), ("Alt+Left",), enabled=rewriting,
                section=True),
        Command("Rewrite", "Later Step", lambda: editor().scrub(+1), ("Alt+Right",), enabled=rewriting),
        Command("Rewrite", "Previous Alternative", lambda: editor().cycle_alternative(-1), ("Alt+[",),
                enabled=rewriting),
        Command("Rewrite", "Next Alternative", lambda: editor().cycle_alternative(+1), ("Alt+]",),
                enabled=rewriting),
        # Keep and re-noise (diffusion models; the editor says when the model cannot): Alt+R re-runs around
        # the kept words. On X11 the editor takes Ctrl+K first (it is delete-to-end-of-line there) and does the same.
        Command("Rewrite", "Keep / Un-keep Words", lambda: editor().keep_words(), ("Ctrl+K",), enabled=rewriting,
                section=True),
        Command("Rewrite", "Re-roll the Unsure Pieces", lambda: editor().reroll_unsure(), ("Alt+U",),
                enabled=rewriting),
        Command("Rewrite", "Re-noise Only the Selection", lambda: editor().renoise_selection(), ("Alt+N",),
                enabled=rewriting),
        # The review's buttons are the same decisions as Y and N (app/rewrite/hunk_bar.py).
        Command("Rewrite", "Keep Change", lambda: editor().bar.keep.emit(), shown="Y", enabled=reviewing,
                section=True),
        Command("Rewrite", "Drop Change", lambda: editor().bar.drop.emit(), shown="N", enabled=reviewing),
        Command("Settings", "Preferences…", w.edit_preferences, ("Ctrl+,",)),
        Command("Settings", "Models…", w.open_model_manager),
        Command("Help", "Keyboard Shortcuts", w.show_shortcuts, ("F1",)),
        Command("Help", "About Redraft", w.show_about),
    ]
