"""`redraft [FILE...]`: the editor on qasync's event loop, or the files handed to the instance already running."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication, QMessageBox

from app.startup.single_instance import InstanceServer, hand_over
from app.window.main_window import create_main_window


def main(argv: list[str] | None = None) -> int:
    """Open the editor on `argv`'s files, or hand them to the instance already running (then exit 0)."""
    args = sys.argv[1:] if argv is None else argv
    app = QApplication.instance() or QApplication([sys.argv[0], *args])
    paths = [arg for arg in args if not arg.startswith("-")]
    if hand_over(paths):
        return 0
    instance = InstanceServer(parent=app)
    instance.listen()  # False (no hand-over for later starts) is not a reason to refuse to start
    window = create_main_window(paths)
    instance.openRequested.connect(window.open_handed_over)
    app.aboutToQuit.connect(window.shutdown)
    app.aboutToQuit.connect(instance.close)
    window.show()
    window.offer_recovery()
    for error in window.errors:
        QMessageBox.warning(window, "Redraft", error)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
