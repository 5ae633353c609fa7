"""Preferences: stored in QSettings (a temporary INI here), edited in the dialog, applied to a real window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import QApplication

from app.window.main_window import create_main_window
from app.storage.settings import Settings, apply_theme, is_dark
from app.window.settings_dialog import SettingsDialog
from engine import DEFAULT_CONTEXT_BUDGET, MODEL_ENV
from tests.app import close_window


@pytest.fixture
def store(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture(autouse=True)
def _system_theme(qapp):
    yield
    apply_theme("system")  # the palette is application-wide: leave it as found


def test_round_trip_and_defaults(store, tmp_path):
    assert Settings.load(store) == Settings()
    chosen = Settings("/models/x.gguf", "cpu", 12, 0, 2048, "dark", "DejaVu Sans Mono", 13, alternatives=4)
    chosen.save(store)
    again = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert Settings.load(again) == chosen
    Settings().save(again)  # None and "" are stored as "not set"
    assert Settings.load(again) == Settings()


def test_values_that_do_not_parse_fall_back_to_defaults(store):
    for key, value in {"steps": "many", "seed": "-3", "context_budget": "10", "theme": "neon", "device": "tpu",
                       "alternatives": "99"}.items():
        store.setValue(f"preferences/{key}", value)
    store.setValue("preferences/font_size", "15")
    assert Settings.load(store) == Settings(font_size=15)


def test_the_window_applies_settings_and_the_env_var_still_wins(qtbot, store, checkpoint, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    Settings(str(checkpoint), "cpu", 5, 42, 512, "system", "", 17).save(store)
    win = create_main_window([], store)
    qtbot.addWidget(win)
    assert win.model_label.text() == f"Model: {checkpoint}"
    qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=20000)
    assert win.bridge.model_info.device == "cpu"
    assert win.editor.context_budget == 512  # travels with each request (tests/app/rewrite: the request)
    assert (win.editor.steps, win.editor.seed) == (5, 42)
    assert win.editor.font().pointSize() == 17
    close_window(qtbot, win)
    monkeypatch.setenv(MODEL_ENV, "/somewhere/else.gguf")
    other = create_main_window([], store)
    qtbot.addWidget(other)
    assert other.model_label.text() == "Model: /somewhere/else.gguf"
    close_window(qtbot, other)


def test_dialog_edits_a_copy_and_the_window_stores_and_applies_it(qtbot, store, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    win = create_main_window([], store)
    qtbot.addWidget(win)
    action = next(a for a in win.menuBar().actions() if a.text() == "&Settings").menu().actions()[0]
    assert action.shortcut() == QKeySequence("Ctrl+,")
    dialog = SettingsDialog(win.preferences, win)
    qtbot.addWidget(dialog)
    assert dialog.value() == win.preferences  # untouched form: the same value
    dialog.steps.setValue(9)
    dialog.seed.setText("123")
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.font_size.setValue(19)
    value = dialog.value()
    assert (value.steps, value.seed, value.theme, value.font_size) == (9, 123, "dark", 19)
    assert win.preferences == Settings()  # the dialog changed nothing by itself
    win.apply_preferences(value)
    assert Settings.load(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)) == value
    assert (win.editor.steps, win.editor.seed, win.editor.font().pointSize()) == (9, 123, 19)
    assert is_dark()
    qtbot.waitUntil(lambda: win.editor.palette().color(QPalette.ColorRole.Base).lightness() < 128, timeout=2000)
    win.apply_preferences(Settings(theme="light"))
    assert not is_dark()
    assert (win.editor.steps, win.editor.seed) == (None, None)
    close_window(qtbot, win)


def test_system_theme_follows_the_platform(qapp):
    apply_theme("dark")
    assert is_dark()
    apply_theme("system")
    platform_dark = QApplication.styleHints().colorScheme().name == "Dark"
    assert is_dark() == platform_dark


def test_a_new_context_budget_reaches_the_next_request_without_reloading_the_model(qtbot, store, checkpoint, monkeypatch):
    import dataclasses

    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    win = create_main_window([], store)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=20000)
    loading, info = win.loading, win.bridge.model_info
    win.apply_preferences(dataclasses.replace(win.preferences, context_budget=300, steps=7, alternatives=3))
    assert win.loading is loading and win.bridge.model_info is info  # no reload
    editor = win.editor
    editor.setPlainText("One two three. Four five six.")
    submitted = []
    submit = win.bridge.submit
    monkeypatch.setattr(win.bridge, "submit", lambda request: submitted.append(request) or submit(request))
    cursor = editor.textCursor()
    cursor.setPosition(4)
    cursor.setPosition(7, cursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    assert editor.start_rewrite()
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=20000)
    (request,) = submitted
    assert (request.context_budget, request.steps, request.span, request.alternatives) == (300, 7, "two", 3)
    # DiffusionGemma denoised the three answers as one batch; the span's alternatives hold all of them.
    assert len(editor.session.result.alternatives) == 2 and len(editor.alternatives) == 3
    close_window(qtbot, win)

