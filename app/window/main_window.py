"""The main window: tabs of documents, the menus, the status bar and the model; `create_main_window` builds it.

One tab per file, each an `Editor` that rewrites in place with Ctrl+J (see app/editing/editor.py for the keys). The
window owns the `EngineBridge`: the model (`engine.chosen_model()`) starts loading in the background when the
window is built, and the engine is shut down when the window closes or the application quits.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTabWidget,
)

from app.window.document_tab import DocumentTab
from app.editing.editor import Editor
from app.rewrite.bridge import EngineBridge
from app.storage.journal import Journal, JournalEntry, JournalKeeper
from app.window.model_manager import ModelManager
from app.storage.recent_files import RecentFiles
from app.storage.settings import Settings, apply_theme
from app.window.settings_dialog import SettingsDialog
from app.storage.text_buffer import TextBuffer
from app.window.unsaved import ask_to_restore, ask_to_save, buffer_for
from engine import BUNDLED, BUNDLED_ABOUT, BUNDLED_NAME, DocumentError, chosen_model


class MainWindow(QMainWindow):
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
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._on_current_tab)
        self.setCentralWidget(self.tabs)
        self.file_label = QLabel()
        self._build_file_menu()
        self.menuBar().addMenu("&Settings").addAction("&Preferences…", QKeySequence("Ctrl+,"), self.edit_preferences)
        self.errors: list[str] = []
        self.bridge = EngineBridge(parent=self)
        self._ids = itertools.count(1)
        for path in paths:
            self.open_file(path)
        if not self.tabs.count():
            self._add_tab(TextBuffer(), "")
        model = chosen_model(self.preferences.model or None)
        self.run_label = QLabel("Loading the model…")
        # The model button opens the model manager, which is also the picker of the models found on disk.
        self.model_label = QPushButton(f"Model: {BUNDLED_NAME if model == BUNDLED else model}")
        self.model_label.setFlat(True)
        self.model_label.clicked.connect(self.open_model_manager)
        self.model_manager: ModelManager | None = None
        if model == BUNDLED:
            self.model_label.setToolTip(BUNDLED_ABOUT)
        self.statusBar().addPermanentWidget(self.file_label)
        self.statusBar().addPermanentWidget(self.run_label)
        self.statusBar().addPermanentWidget(self.model_label)
        self.bridge.modelLoaded.connect(self._on_model_loaded)
        self.bridge.modelFailed.connect(self._on_model_failed)
        self.bridge.load(model, self.preferences.device or None, self.preferences.context_budget)

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
        self.tabs.setCurrentIndex(self.tabs.addTab(tab, tab.title()))
        self._apply_to_editor(tab.editor)
        self.keeper.watch(tab)
        return tab

    def _on_status(self, text: str) -> None:
        self.run_label.setText(text)

    def _on_model_loaded(self, info) -> None:
        self.run_label.setText("Ready — Ctrl+J rewrites the selection")
        self.model_label.setToolTip(f"{info.id}\n{info.family} · {info.backend} · {info.device} · {info.dtype}")
        # The model libraries leave millions of long-lived objects; a full collection walking them all held
        # the GUI thread for ~300 ms mid-rewrite (tests/bench/gui_latency.py). Frozen, they are never scanned.
        gc.freeze()

    def _on_model_failed(self, message: str) -> None:
        self.run_label.setText("No model")
        self.statusBar().showMessage(f"Model failed: {message}", 15000)

    def shutdown(self) -> None:
        """Stop any run and the engine thread (idempotent)."""
        self._shut_down = True
        for index in range(self.tabs.count()):
            self.tabs.widget(index).editor.cancel_rewrite()
        if self.model_manager is not None:
            self.model_manager.shutdown()
        self.bridge.shutdown()

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
            self.shutdown()
            self.journal.close()  # everything was saved or discarded on purpose
        else:
            self.keeper.flush()
            self.shutdown()
        super().closeEvent(event)

    # -- recovery and preferences ------------------------------------------------------------------------

    def offer_recovery(self) -> int:
        """Offer back what crashed sessions left in the journal; returns the number of tabs restored."""
        restored = 0
        for orphan in self.journal.orphans():
            answer = ask_to_restore(self, orphan.entries)
            if answer == "later":
                orphan.lock.unlock()
                continue
            if answer == "restore":
                restored += self.restore(orphan.entries)
            orphan.discard()
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
        return len(entries)

    def edit_preferences(self) -> None:
        dialog = SettingsDialog(self.preferences, self)
        if dialog.exec():
            self.apply_preferences(dialog.value())

    def apply_preferences(self, new: Settings) -> None:
        """Store `new` and apply it: theme and font at once, the model reloaded only when its settings changed."""
        old, self.preferences = self.preferences, new
        new.save(self.settings)
        apply_theme(new.theme)
        for index in range(self.tabs.count()):
            self._apply_to_editor(self.tabs.widget(index).editor)
        if (old.model, old.device, old.context_budget) != (new.model, new.device, new.context_budget):
            model = chosen_model(new.model or None)
            self.model_label.setText(f"Model: {BUNDLED_NAME if model == BUNDLED else model}")
            self.run_label.setText("Loading the model…")
            self.bridge.load(model, new.device or None, new.context_budget)

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
        editor.setFont(self.preferences.font())

    # -- files -------------------------------------------------------------------------------------------

    def _build_file_menu(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction("&New", QKeySequence.StandardKey.New, lambda: self._add_tab(TextBuffer(), ""))
        menu.addAction("&Open…", QKeySequence.StandardKey.Open, self._on_open)
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        menu.addAction("&Save", QKeySequence.StandardKey.Save, lambda: self.save())
        menu.addAction("Save &As…", QKeySequence("Ctrl+Shift+S"), lambda: self.save_as())
        menu.addAction("&Close Tab", QKeySequence("Ctrl+W"), lambda: self.close_tab(self.tabs.currentIndex()))
        menu.addSeparator()
        menu.addAction("&Quit", QKeySequence("Ctrl+Q"), self.close)  # closeEvent asks about unsaved tabs

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent.paths():
            self.recent_menu.addAction(path, lambda path=path: self._open_interactively(path))
        self.recent_menu.setEnabled(bool(self.recent.paths()))

    def _on_open(self) -> None:
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
            self.file_label.setText(tab.describe())
            self.setWindowTitle(f"{tab.title()} — Redraft")


def create_main_window(
    paths: list[str] | None = None, settings: QSettings | None = None, journal_dir: str | None = None
) -> MainWindow:
    """The main window, built but not shown and with no event loop running (for tests and embedding)."""
    QApplication.instance() or QApplication(sys.argv[:1])
    return MainWindow(list(paths or []), settings, journal_dir)
