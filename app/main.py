"""`redraft [FILE...]`: the desktop editor's entry point.

For now a plain window: one tab per file and the active model in the status bar. The rewrite flow
(Ctrl+J, drafts in place) lands with the editor work; the engine it will drive is already in engine/.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox, QPlainTextEdit, QTabWidget

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
        for path in paths:
            self.open_file(path)
        if not self.tabs.count():
            self.tabs.addTab(QPlainTextEdit(), "Untitled")
        model = chosen_model()
        self.model_label = QLabel(f"Model: {NAME if model == BUNDLED else model}")
        if model == BUNDLED:
            self.model_label.setToolTip(ABOUT)
        self.statusBar().addPermanentWidget(self.model_label)

    def open_file(self, path: str) -> bool:
        try:
            document = read_text_file(path)
        except DocumentError as exc:
            self.errors.append(str(exc))
            return False
        editor = QPlainTextEdit()
        editor.setPlainText(document.text)
        self.tabs.addTab(editor, Path(path).name)
        return True


def create_main_window(paths: list[str] | None = None) -> MainWindow:
    """The main window, built but not shown and with no event loop running (for tests and embedding)."""
    QApplication.instance() or QApplication(sys.argv[:1])
    return MainWindow(list(paths or []))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    app = QApplication.instance() or QApplication([sys.argv[0], *args])
    window = create_main_window(args)
    window.show()
    for error in window.errors:
        QMessageBox.warning(window, "Redraft", error)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
