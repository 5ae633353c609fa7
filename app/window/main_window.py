"""The main window: tabs of documents, the menus, the status bar and the model; `create_main_window` builds it.

The menus, the command palette (Ctrl+Shift+P) and Help > Keyboard Shortcuts are built from one list of
commands, app/window/actions.py; the View options (wrap, zoom, preview, line numbers) apply to every tab.

One tab per file, each an `Editor` that rewrites in place with Ctrl+J (see app/editing/editor.py for the keys). The
window owns the `EngineBridge`: the model (`engine.chosen_model()`) starts loading as a task on the asyncio loop
when the window is built; `aclose()` stops the engine with a time limit when the window closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QTabWidget,
)

from app.event_loop import gui_loop
from app.window.about import about_box
from app.window.actions import CommandSet, window_commands
from app.window.command_palette import CommandPalette
from app.window.cursor_position import CursorPosition
from app.window.document_tab import DocumentTab
from app.window.first_start_notice import show_first_start_notice
from app.window.go_to_line import GoToLine
from app.window.shortcuts_help import ShortcutsDialog
from app.window.view_options import ViewOptions
from app.editing.editor import Editor, dropped_files
from app.rewrite.bridge import EngineBridge
from app.storage.journal import Journal, JournalEntry, JournalKeeper, kept_message
from app.window.model_manager import ModelManager
from app.storage.recent_files import RecentFiles
from app.storage.session_state import SavedTab, SessionState
from app.storage.settings import Settings, apply_theme
from app.window.settings_dialog import SettingsDialog
from app.storage.text_buffer import TextBuffer
from app.window.unsaved import ask_to_restore, ask_to_save, buffer_for
from engine import BUNDLED, BUNDLED_NAME, DocumentError, EngineError, ModelInfo, bundled_summary, chosen_model, must_unload_first


class MainWindow(QMainWindow):
    """The editor window.

    Attributes:
        bridge: the engine, seen from the asyncio loop; `bridge.model_info` is the model active now.
        loading: the task loading a model, or None.
        closed: an asyncio future resolved once the window has closed and the engine has stopped.

    Signals:
        modelLoaded(ModelInfo): a model finished loading and is active.
        modelFailed(str): a load failed (one line); the model active before, if any, still is.
    """

    modelLoaded = Signal(object)
    modelFailed = Signal(str)

    def __init__(self, paths: list[str], settings: QSettings | None = None, journal_dir: str | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings("Redraft", "Redraft")
        self.preferences = Settings.load(self.settings)
        apply_theme(self.preferences.theme)
        self.journal = Journal(journal_dir)
        self.keeper = JournalKeeper(self.journal, self)
        self._shut_down = False
        self.recent = RecentFiles(self.settings)
        self.setWindowTitle("Redraft")
        self.resize(900, 600)
        layout = SessionState.load(self.settings)  # the files come back only by restore_session()
        self.restoreGeometry(layout.geometry)
        self.restoreState(layout.window_state)
        self._preview_split = list(layout.preview_split)
        self.setAcceptDrops(True)  # files dropped on the tab bar or the status bar open too
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._on_current_tab)
        self.setCentralWidget(self.tabs)
        self.file_label = QLabel()
        self.position_label = CursorPosition()
        self._build_menus()
        self.errors: list[str] = []
        self.bridge = EngineBridge()
        self.loading: asyncio.Task | None = None
        self.closed: asyncio.Future = gui_loop(QApplication.instance()).create_future()
        self._ids = itertools.count(1)
        for path in paths:
            self.open_file(path)
        if not self.tabs.count():
            self._add_tab(TextBuffer(), "")
        self.run_label = QLabel()
        # The model button opens the model manager, which is also the picker of the models found on disk.
        self.model_label = QPushButton()
        self.model_label.setFlat(True)
        self.model_label.clicked.connect(self.open_model_manager)
        self.model_manager: ModelManager | None = None
        self.statusBar().addPermanentWidget(self.position_label)
        self.statusBar().addPermanentWidget(self.file_label)
        self.statusBar().addPermanentWidget(self.run_label)
        self.statusBar().addPermanentWidget(self.model_label)
        self.journal_label = QLabel()  # a failed journal write, in view until a write succeeds again
        self.statusBar().addPermanentWidget(self.journal_label)
        self.journal_label.hide()
        self.keeper.problemChanged.connect(self._on_journal_problem)
        self.first_start_notice = show_first_start_notice(self)  # names the bundled model until closed once
        self.load_model(chosen_model(self.preferences.model or None), self.preferences.device or None)

    @property
    def editor(self) -> Editor:
        return self.tabs.currentWidget().editor

    @property
    def tab(self) -> DocumentTab:
        return self.tabs.currentWidget()

    def _add_tab(self, buffer: TextBuffer, text: str) -> DocumentTab:
        tab = DocumentTab(self.bridge, f"doc-{next(self._ids)}", buffer, text)
        tab.editor.statusChanged.connect(self._on_status)
        tab.titleChanged.connect(lambda title, tab=tab: self.tabs.setTabText(self.tabs.indexOf(tab), title))
        tab.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        tab.infoChanged.connect(lambda tab=tab: tab is self.tabs.currentWidget() and self._on_current_tab())
        tab.editor.filesDropped.connect(self.open_dropped)
        for widget in (tab.preview, tab.preview.viewport()):
            widget.setAcceptDrops(False)  # read-only: files dropped on the preview go on to the window
        if self._preview_split and tab.preview.isVisibleTo(tab):
            tab.splitter.setSizes(self._preview_split)
        tab.infoChanged.connect(lambda tab=tab: self.view.apply(tab, self.preferences.font()))  # preview shown anew
        self.view.apply(tab, self.preferences.font())
        self.tabs.setCurrentIndex(self.tabs.addTab(tab, tab.title()))
        self._apply_to_editor(tab.editor)
        self.keeper.watch(tab)
        return tab

    def _on_status(self, text: str) -> None:
        # Only the tab in view speaks here: a run or note in another tab is not about what the user sees.
        if self.sender() is self.editor:
            self.run_label.setText(text)

    def _on_journal_problem(self, text: str) -> None:
        self.journal_label.setText(text)
        self.journal_label.setVisible(bool(text))

    # -- the model -------------------------------------------------------------------------------------

    def load_model(self, spec: str, device: str | None) -> asyncio.Task:
        """Start loading `spec` (a task on the loop; the GUI goes on). A load already running is superseded."""
        if self.loading is not None:
            self.loading.cancel()
        self.model_label.setText(f"Model: {_model_name(spec)}")
        self.run_label.setText("Loading the model…")
        self.loading = asyncio.ensure_future(self._load_model(spec, device))
        return self.loading

    async def _load_model(self, spec: str, device: str | None) -> None:
        # 1. Room: a model that does not fit beside the active one replaces it (the engine unloads it first).
        active = self.bridge.model_info
        unload_first = active is not None and must_unload_first(spec, device, active)
        if unload_first:
            self.run_label.setText(f"Unloading {active.id} to make room, then loading…")
        # 2. Load on the engine's thread, awaited; the status counts the seconds meanwhile.
        note = f" (unloaded {active.id} to make room)" if unload_first else ""
        ticker = asyncio.ensure_future(self._count_loading(_model_name(spec), note))
        try:
            info = await self.bridge.load(spec, device, unload_first=unload_first)
        except EngineError as exc:
            # 3a. Failed: the button, the stored setting and the status name what is active now.
            still, spec = self.bridge.model_info, self.bridge.model_spec
            if spec is not None and chosen_model(self.preferences.model or None) != spec:
                self.preferences = dataclasses.replace(self.preferences, model="" if spec == BUNDLED else spec)
                self.preferences.save(self.settings)
            self._show_model(still)
            self.run_label.setText(f"Still using {still.id}" if still is not None else "No model")
            self.statusBar().showMessage(f"Model failed: {exc}", 15000)
            self.modelFailed.emit(str(exc))
            return
        finally:
            ticker.cancel()
        # 3b. Loaded.
        self._show_model(info)
        self.run_label.setText("Ready — Ctrl+J rewrites the selection")
        self.modelLoaded.emit(info)

    async def _count_loading(self, name: str, note: str) -> None:
        started = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(1.0)
            seconds = asyncio.get_running_loop().time() - started
            self.run_label.setText(f"Loading {name}… {seconds:.0f} s{note}")

    def _show_model(self, info: ModelInfo | None) -> None:
        if info is None:
            self.model_label.setText("Model: none")
            self.model_label.setToolTip("No model is loaded: click to choose one")
            return
        bundled = self.bridge.model_spec == BUNDLED
        self.model_label.setText(f"Model: {BUNDLED_NAME if bundled else info.id}")
        details = f"{info.id}\n{info.family} · {info.backend} · {info.device} · {info.dtype}"
        about = f"{bundled_summary()}\nClick to choose a model."
        self.model_label.setToolTip(f"{about}\n\n{details}" if bundled else details)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop every run, the model manager's work and the engine, waiting at most `timeout` seconds each;
        the GUI keeps running meanwhile (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        for index in range(self.tabs.count()):
            self.tabs.widget(index).editor.cancel_rewrite()
        self.save_session()  # after the cancels: carets and scroll in the user's text, not in a draft
        if self.loading is not None:
            self.loading.cancel()
        if self.model_manager is not None:
            await self.model_manager.aclose(timeout)
        await self.bridge.aclose(timeout)
        if not self.closed.done():
            self.closed.set_result(None)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # Ask about each modified tab while someone can answer: not for a hidden window, nor once the
        # application is already quitting (shut down); the journal keeps the text in those cases.
        if self.isVisible() and not self._shut_down:
            for index in range(self.tabs.count()):
                tab = self.tabs.widget(index)
                if not tab.modified:
                    continue
                self.tabs.setCurrentIndex(index)
                answer = ask_to_save(self, tab.title().removesuffix(" •"))
                if answer == "cancel" or (answer == "save" and not self.save()):
                    event.ignore()
                    return
            self.journal.close()  # everything was saved or discarded on purpose
        else:
            self.keeper.flush()
        super().closeEvent(event)
        # The window is gone at once; the engine stops on the loop, within a time limit (main() awaits it).
        if not self._shut_down:
            asyncio.ensure_future(self.aclose())

    # -- recovery and preferences ------------------------------------------------------------------------

    def offer_recovery(self) -> int:
        """Offer back what crashed sessions left in the journal; returns the number of tabs restored."""
        restored = 0
        for orphan in self.journal.orphans():
            answer = ask_to_restore(self, orphan.entries) if orphan.entries else "discard"
            if answer == "later":
                orphan.lock.unlock()
                continue
            if answer == "restore":
                restored += self.restore(orphan.entries)
                if self.keeper.problem:  # not journaled again: the dead session's copy stays on disk
                    orphan.lock.unlock()
                    continue
            kept = orphan.discard()  # what could not be read is kept, and named
            if kept:
                self.errors.append(kept_message(kept))
                self.statusBar().showMessage(self.errors[-1])
        return restored

    def restore(self, entries: list[JournalEntry]) -> int:
        """Open journaled text in tabs marked modified; the files themselves are not written."""
        for entry in entries:
            for index in reversed(range(self.tabs.count())):
                tab = self.tabs.widget(index)
                same = entry.path is not None and tab.buffer.path == Path(entry.path)
                empty = tab.buffer.path is None and not tab.modified and not tab.editor.raw_text()
                if (same or empty) and not tab.modified:
                    self.tabs.removeTab(index)  # the journal's text supersedes a clean copy of the same file
                    self.keeper.forget(tab)
                    tab.deleteLater()
            tab = self._add_tab(buffer_for(entry), entry.text)
            tab.editor.document().setModified(True)
        self.keeper.flush()  # journaled at once: a kill right after restoring must not lose it
        return len(entries)

    # -- the session (app/storage/session_state.py) -----------------------------------------------------

    def restore_session(self) -> int:
        """Reopen the last session's files at their caret and scroll (a start without paths); files gone or
        unreadable are skipped with one status line, never a dialog. Returns the number reopened."""
        state, shown, skipped = SessionState.load(self.settings), None, []
        for index, saved in enumerate(state.tabs):
            errors = len(self.errors)
            if not self.open_file(saved.path):
                del self.errors[errors:]  # not shown as a dialog by the greeting
                skipped.append(Path(saved.path).name)
                continue
            editor, document = self.editor, self.editor.document()
            cursor = editor.textCursor()
            cursor.setPosition(min(saved.cursor, document.characterCount() - 1))  # the file may have shrunk
            editor.setTextCursor(cursor)
            top = document.findBlockByNumber(min(saved.top_line, document.blockCount() - 1))
            editor.verticalScrollBar().setValue(top.firstLineNumber())  # after the caret, which scrolls
            shown = self.tab if index == state.current else shown
        if shown is not None:
            self.tabs.setCurrentWidget(shown)
        if skipped:
            names = ", ".join(skipped)
            self.statusBar().showMessage(f"Not reopened from the last session (gone or unreadable): {names}", 15000)
        return len(state.tabs) - len(skipped)

    def save_session(self) -> None:
        """Store the file-backed tabs, their caret and scroll, the current tab, the geometry and the splitter."""
        tabs, current, split = [], 0, ()
        for index in range(self.tabs.count()):
            tab = self.tabs.widget(index)
            if tab.preview.isVisibleTo(tab) and (not split or tab is self.tabs.currentWidget()):
                split = tuple(tab.splitter.sizes())
            if tab.buffer.path is None:
                continue  # untitled text is the journal's
            current = len(tabs) if tab is self.tabs.currentWidget() else current
            top = tab.editor.firstVisibleBlock().blockNumber()
            tabs.append(SavedTab(str(tab.buffer.path), tab.editor.textCursor().position(), top))
        SessionState(tuple(tabs), current, self.saveGeometry(), self.saveState(), split).save(self.settings)

    def edit_preferences(self) -> None:
        dialog = SettingsDialog(self.preferences, self)
        if dialog.exec():
            self.apply_preferences(dialog.value())

    def apply_preferences(self, new: Settings) -> None:
        """Store `new` and apply it: theme, font, steps, seed and context budget at once (they travel with each
        request); the model is reloaded only when the model or the device changed."""
        old, self.preferences = self.preferences, new
        new.save(self.settings)
        apply_theme(new.theme)
        for index in range(self.tabs.count()):
            self._apply_to_editor(self.tabs.widget(index).editor)
        self.set_view()
        if (old.model, old.device) != (new.model, new.device):
            self.load_model(chosen_model(new.model or None), new.device or None)

    def open_model_manager(self) -> ModelManager:
        """Show the model manager (built once, so a download keeps running while it is closed) and rescan."""
        if self.model_manager is None:
            self.model_manager = ModelManager(self.settings, self)
            self.model_manager.modelChosen.connect(self._on_model_chosen)
        self.model_manager.rescan()
        self.model_manager.show()
        self.model_manager.raise_()
        return self.model_manager

    def _on_model_chosen(self, spec: str) -> None:
        self.apply_preferences(dataclasses.replace(self.preferences, model=spec))

    def _apply_to_editor(self, editor: Editor) -> None:
        editor.steps, editor.seed = self.preferences.steps, self.preferences.seed
        editor.context_budget = self.preferences.context_budget
        editor.alternatives_per_run = self.preferences.alternatives
        editor.box.use(self.settings, self.preferences.presets)  # history and run times shared through the settings

    # -- menus, view and navigation (the commands are in app/window/actions.py) ---------------------------

    def _build_menus(self) -> None:
        self.view = ViewOptions()
        self.go_to_line = GoToLine(self, lambda: self.editor)
        self.palette = CommandPalette(self, lambda: self.commands)
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.commands = CommandSet(window_commands(self), self)
        menus = self.commands.build_menus(self.menuBar())
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        menus["File"].insertMenu(self.commands.action("File: Save"), self.recent_menu)

    def set_view(self, **changes) -> None:
        """Change View options (word_wrap, preview, line_numbers) and show every tab with them."""
        self.view = dataclasses.replace(self.view, **changes)
        for index in range(self.tabs.count()):
            self.view.apply(self.tabs.widget(index), self.preferences.font())

    def zoom(self, step: int) -> None:
        """Zoom every tab `step` points in or out; 0 resets to the preferences' size."""
        if step:
            self.view.zoom_by(step, self.preferences.font())
        else:
            self.view.zoom = 0
        self.set_view()

    def set_theme(self, theme: str) -> None:
        self.apply_preferences(dataclasses.replace(self.preferences, theme=theme))

    def show_shortcuts(self) -> ShortcutsDialog:
        if self.shortcuts_dialog is None:
            self.shortcuts_dialog = ShortcutsDialog(self.commands.commands, self)
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()
        return self.shortcuts_dialog

    def show_about(self) -> QMessageBox:
        box = about_box(self.bridge.model_info, self)
        box.show()
        return box

    # -- files -------------------------------------------------------------------------------------------

    def new_tab(self) -> DocumentTab:
        return self._add_tab(TextBuffer(), "")

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent.paths():
            self.recent_menu.addAction(path, lambda path=path: self._open_interactively(path))
        self.recent_menu.setEnabled(bool(self.recent.paths()))

    def open_dialog(self) -> None:
        folder = str(self.tab.buffer.path.parent) if self.tab.buffer.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open", folder)
        if path:
            self._open_interactively(path)

    def _open_interactively(self, path: str) -> None:
        if not self.open_file(path):
            QMessageBox.warning(self, "Redraft", self.errors[-1])

    def open_handed_over(self, paths: list[str]) -> None:
        """Files from a second `redraft FILE` start (app/startup/single_instance.py): open them and come to the front."""
        for path in paths:
            self._open_interactively(path)
        self.showNormal() if self.isMinimized() else self.show()
        self.raise_()
        self.activateWindow()

    def open_dropped(self, paths: list[str]) -> None:
        """Files dropped on the editor or the window open in tabs; a folder or a file that cannot be opened
        (binary, too big) is named in one status line and nothing is inserted anywhere."""
        refused = []
        for path in paths:
            if os.path.isdir(path):
                refused.append(f"{path} is a folder: drop files to open them")
            elif not self.open_file(path):
                refused.append(self.errors[-1])
        if refused:
            self.statusBar().showMessage(" · ".join(refused), 10000)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name: drops beside the editor (tab bar, preview)
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()

    dragMoveEvent = dragEnterEvent  # noqa: N815 - Qt's name

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if paths := dropped_files(event.mimeData()):
            event.acceptProposedAction()
            self.open_dropped(paths)

    def open_file(self, path: str) -> bool:
        """Open `path` in a new tab (or show its tab); False and a message in `errors` when it cannot be read."""
        for index in range(self.tabs.count()):
            buffer = self.tabs.widget(index).buffer
            if buffer.path is not None and buffer.path == Path(os.path.abspath(path)):
                self.tabs.setCurrentIndex(index)
                return True
        try:
            buffer, text = TextBuffer.open(path)
        except DocumentError as exc:
            self.errors.append(str(exc))
            self.statusBar().showMessage(str(exc), 10000)
            if not Path(path).exists():
                self.recent.remove(path)
            return False
        current = self.tabs.currentWidget()
        if current is not None and current.buffer.path is None and not current.modified and not current.editor.raw_text():
            self.tabs.removeTab(self.tabs.indexOf(current))  # an empty Untitled tab gives way to the file
            current.deleteLater()
        self._add_tab(buffer, text)
        self.recent.add(buffer.path)
        return True

    def save(self) -> bool:
        """Ctrl+S: save the current tab (Save As for an untitled one)."""
        if self.tab.buffer.path is None:
            return self.save_as()
        return self.tab.save()

    def save_as(self, path: str | None = None) -> bool:
        """Ctrl+Shift+S: save the current tab under a new name (asked for when `path` is None)."""
        if path is None:
            start = str(self.tab.buffer.path or "")
            path, _ = QFileDialog.getSaveFileName(self, "Save As", start)
            if not path:
                return False
        if not self.tab.save_as(path):
            return False
        self.recent.add(path)
        return True

    def close_tab(self, index: int) -> bool:
        """Ctrl+W: close a tab; a modified one asks first. The window always keeps one tab."""
        tab = self.tabs.widget(index)
        if tab is None:
            return False
        if tab.modified:
            self.tabs.setCurrentIndex(index)
            answer = ask_to_save(self, tab.title().removesuffix(" •"))
            if answer == "cancel" or (answer == "save" and not self.save()):
                return False
        tab.editor.cancel_rewrite()
        self.tabs.removeTab(index)
        self.keeper.forget(tab)
        tab.deleteLater()
        if not self.tabs.count():
            self._add_tab(TextBuffer(), "")
        return True

    def _on_current_tab(self, _index: int = -1) -> None:
        tab = self.tabs.currentWidget()
        if tab is not None:
            self.position_label.follow(tab.editor)
            self.file_label.setText(tab.describe())
            self.setWindowTitle(f"{tab.title()} — Redraft")


def create_main_window(
    paths: list[str] | None = None, settings: QSettings | None = None, journal_dir: str | None = None
) -> MainWindow:
    """The main window, built but not shown and with no event loop running (for tests and embedding)."""
    gui_loop(QApplication.instance() or QApplication(sys.argv[:1]))
    return MainWindow(list(paths or []), settings, journal_dir)


def _model_name(spec: str) -> str:
    return BUNDLED_NAME if spec == BUNDLED else spec
