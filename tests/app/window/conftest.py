"""A shown, active main window with no model (the menus, the palette and navigation need none)."""

import pytest
from PySide6.QtCore import QSettings

from app.window.main_window import create_main_window
from engine import MODEL_ENV
from tests.app import close_window


@pytest.fixture
def shown_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))  # fails to load at once: nothing is downloaded
    win = create_main_window([], QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    win.show()  # shown and active, so window shortcuts reach it as they reach a user's
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: win.isActiveWindow())
    win.editor.setFocus()
    yield win
    # Not qtbot.addWidget: it would close the window while visible, and a modified tab would ask (modal).
    win.hide()  # a hidden window closes without asking (the journal keeps the text)
    win.close()
    close_window(qtbot, win)
