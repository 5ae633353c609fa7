"""`redraft [FILE...]`: the editor on qasync's event loop, or the files handed to the instance already running."""

from __future__ import annotations

import sys

import qasync
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.event_loop import use_loop
from app.startup.single_instance import InstanceServer, hand_over
from app.window.main_window import MainWindow, create_main_window


def main(argv: list[str] | None = None) -> int:
    """Open the editor on `argv`'s files, or hand them to the instance already running (then exit 0)."""
    args = sys.argv[1:] if argv is None else argv
    app = QApplication.instance() or QApplication([sys.argv[0], *args])
    paths = [arg for arg in args if not arg.startswith("-")]
    if hand_over(paths):
        return 0
    # The run ends when the editor window has closed and its engine has stopped (window.closed), not when
    # Qt sees the last window go: the model manager may still be open, and the engine needs its shutdown.
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    use_loop(loop)
    with loop:
        instance = InstanceServer(parent=app)
        instance.listen()  # False (no hand-over for later starts) is not a reason to refuse to start
        window = start_window(paths)
        instance.openRequested.connect(window.open_handed_over)
        window.show()
        # Modal questions run from a Qt callback, not inside an asyncio task (a nested event loop there
        # would re-enter the task).
        QTimer.singleShot(0, lambda: _greet(window))
        try:
            loop.run_until_complete(window.closed)
        except RuntimeError:  # Qt quit on its own (the session ends): keep the text, stop what can be stopped
            window.keeper.flush()
            window.save_session()
            window.bridge.cancel()
        instance.close()
    return 0


def start_window(paths: list[str], settings: QSettings | None = None) -> MainWindow:
    """The window a start shows: the files named, or with none the last session's files (named files replace
    the session rather than join it, as `code FILE` does; the geometry comes back either way)."""
    window = create_main_window(paths, settings)
    if not paths:
        window.restore_session()
    return window


def _greet(window: MainWindow) -> None:
    window.offer_recovery()
    for error in window.errors:
        QMessageBox.warning(window, "Redraft", error)


if __name__ == "__main__":
    sys.exit(main())
