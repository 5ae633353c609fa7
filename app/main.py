"""`redraft [FILE...]`: the desktop editor's entry point.

One tab per file, each an `Editor` that rewrites in place with Ctrl+J (see app/editor.py for the keys). The
window owns the `EngineBridge`: the model (`engine.chosen_model()`) starts loading in the background when the
window is built, and the engine is shut down when the window closes or the application quits.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox, QTabWidget

from app.editor import Editor
from app.engine_bridge import EngineBridge
from engine import chosen_model
from engine.bundled import ABOUT, BUNDLED, NAME
from engine.documents import DocumentError, read_text_file


class MainWindow(QMainWindow):
    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.setWindowTitle("Redraft")
        self.resize(900, 600)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.errors: list[str] = []
        self.bridge = EngineBridge(parent=self)
        self._ids = itertools.count(1)
        for path in paths:
            self.open_file(path)
        if not self.tabs.count():
            self._add_editor("", "Untitled")
        model = chosen_model()
        self.run_label = QLabel("Loading the model…")
        self.model_label = QLabel(f"Model: {NAME if model == BUNDLED else model}")
        if model == BUNDLED:
            self.model_label.setToolTip(ABOUT)
        self.statusBar().addPermanentWidget(self.run_label)
        self.statusBar().addPermanentWidget(self.model_label)
        self.bridge.modelLoaded.connect(self._on_model_loaded)
        self.bridge.modelFailed.connect(self._on_model_failed)
        self.bridge.load(model)

    @property
    def editor(self) -> Editor:
        return self.tabs.currentWidget()

    def _add_editor(self, text: str, title: str) -> Editor:
        editor = Editor(self.bridge, f"doc-{next(self._ids)}")
        editor.setPlainText(text)
        editor.statusChanged.connect(self._on_status)
        self.tabs.addTab(editor, title)
        return editor

    def _on_status(self, text: str) -> None:
        self.run_label.setText(text)

    def _on_model_loaded(self, info) -> None:
        self.run_label.setText("Ready — Ctrl+J rewrites the selection")
        self.model_label.setToolTip(f"{info.id}\n{info.family} · {info.backend} · {info.device} · {info.dtype}")

    def _on_model_failed(self, message: str) -> None:
        self.run_label.setText("No model")
        self.statusBar().showMessage(f"Model failed: {message}", 15000)

    def shutdown(self) -> None:
        """Stop any run and the engine thread (idempotent)."""
        for index in range(self.tabs.count()):
            editor = self.tabs.widget(index)
            if isinstance(editor, Editor):
                editor.cancel_rewrite()
        self.bridge.shutdown()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)

    def open_file(self, path: str) -> bool:
        try:
            document = read_text_file(path)
        except DocumentError as exc:
            self.errors.append(str(exc))
            return False
        self._add_editor(document.text, Path(path).name)
        return True


def create_main_window(paths: list[str] | None = None) -> MainWindow:
    """The main window, built but not shown and with no event loop running (for tests and embedding)."""
    QApplication.instance() or QApplication(sys.argv[:1])
    return MainWindow(list(paths or []))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    app = QApplication.instance() or QApplication([sys.argv[0], *args])
    window = create_main_window(args)
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    for error in window.errors:
        QMessageBox.warning(window, "Redraft", error)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
