"""The instruction box: history (Up/Down, 50, across a restart), presets (typed or listed, edited in the
preferences) and the time a run should take, measured from the model's own runs. Real widgets, real settings
files in a temporary folder, the real engine with the tiny DiffusionGemma for the measured run."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QRect, QSettings, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QWidget

from app.rewrite.instruction_box import InstructionBox
from app.rewrite.instruction_history import LIMIT
from app.rewrite.presets import DEFAULT_PRESETS
from app.storage.settings import Settings
from app.window.main_window import create_main_window
from app.window.settings_dialog import SettingsDialog
from engine import MODEL_ENV
from tests.app import close_window

ANCHOR = QRect(10, 10, 120, 20)


def _settings(path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


@pytest.fixture
def opened(qtbot, tmp_path):
    """A box over a shown, active widget, keeping its history in a settings file: `opened(store)` gives it."""

    hosts = []  # held here: the box dies with its host

    def make(store: QSettings | None = None) -> InstructionBox:
        host = QWidget()
        hosts.append(host)
        qtbot.addWidget(host)
        host.resize(700, 400)
        with qtbot.waitActive(host):  # the line must really have the focus: the completer follows it
            host.show()
            host.activateWindow()
        box = InstructionBox(host)
        box.use(store if store is not None else _settings(tmp_path / "settings.ini"))
        box.open_at(ANCHOR, True)
        assert box.line.hasFocus()
        return box

    return make


def _submit(qtbot, box: InstructionBox, text: str) -> None:
    box.open_at(ANCHOR, True)
    box.line.clear()
    if text:
        qtbot.keyClicks(box.line, text)
    box.completer.popup().hide()  # a preset that matches pops up; Enter here runs, as the user means
    qtbot.keyClick(box.line, Qt.Key.Key_Return)
    assert not box.isVisible()


def _recalled(qtbot, box: InstructionBox, key: Qt.Key, times: int) -> list[str]:
    seen = []
    for _ in range(times):
        qtbot.keyClick(box.line, key)
        seen.append(box.line.text())
    return seen


# -- history --------------------------------------------------------------------------------------------


def test_up_recalls_newest_first_and_down_comes_back_to_what_was_typed(qtbot, opened):
    box = opened()
    for text in ("one", "two", "two", "", "three"):  # a repeat in a row and an empty one are not stored
        _submit(qtbot, box, text)
    assert box.history.entries() == ["three", "two", "one"]
    box.open_at(ANCHOR, True)
    assert box.line.text() == "three" and box.line.selectedText() == "three"  # the last, offered again
    assert _recalled(qtbot, box, Qt.Key.Key_Up, 3) == ["two", "one", "one"]  # the oldest stays
    assert _recalled(qtbot, box, Qt.Key.Key_Down, 3) == ["two", "three", ""]  # below the newest: nothing typed
    box.line.setText("half typed")
    assert _recalled(qtbot, box, Qt.Key.Key_Up, 2) == ["three", "two"]
    assert _recalled(qtbot, box, Qt.Key.Key_Down, 3) == ["three", "half typed", "half typed"]
    box.line.setText("edited")  # typing over a recalled one: the edit is what Down comes back to
    assert _recalled(qtbot, box, Qt.Key.Key_Up, 1) == ["three"]
    assert _recalled(qtbot, box, Qt.Key.Key_Down, 1) == ["edited"]
    _submit(qtbot, box, "one")  # not in a row: stored again
    assert box.history.entries() == ["one", "three", "two", "one"]


def test_history_keeps_the_last_fifty_and_survives_a_restart(qtbot, opened, tmp_path):
    box = opened(_settings(tmp_path / "settings.ini"))
    for n in range(LIMIT + 5):
        _submit(qtbot, box, f"instruction {n}")
    assert LIMIT == 50 and len(box.history.entries()) == 50
    # A restart: new settings object on the same file, a new box.
    again = opened(_settings(tmp_path / "settings.ini"))
    assert again.line.text() == ""  # a new box offers nothing typed; the history is one Up away
    seen = _recalled(qtbot, again, Qt.Key.Key_Up, LIMIT + 2)
    assert seen[:3] == ["instruction 54", "instruction 53", "instruction 52"]
    assert seen[LIMIT - 1] == "instruction 5" and seen[LIMIT:] == ["instruction 5"] * 2  # 0..4 were dropped


# -- presets --------------------------------------------------------------------------------------------


def test_typing_part_of_a_preset_in_any_case_offers_it_and_enter_puts_it_in_the_line(qtbot, opened):
    box = opened()
    box.line.clear()
    submitted = []
    box.submitted.connect(lambda mode, text: submitted.append(text))
    qtbot.keyClicks(box.line, "FORM")
    popup = box.completer.popup()
    qtbot.waitUntil(popup.isVisible)
    assert box.completer.completionCount() == 1
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert box.line.text() == "make it more formal" and not popup.isVisible()
    assert box.isVisible() and submitted == []  # chosen, not run yet: a second Enter runs it
    qtbot.keyClick(box.line, Qt.Key.Key_Return)
    assert submitted == ["make it more formal"]
    box.open_at(ANCHOR, True)
    box.line.clear()
    qtbot.keyClicks(box.line, "hint")  # inside the words, not only at their start
    assert box.completer.currentCompletion() == "add type hints"


@pytest.mark.parametrize("how", ["ctrl+space", "alt+down", "button"])
def test_the_list_shows_every_preset(qtbot, opened, how):
    box = opened()
    box.line.setText("make it longer")  # matches none: the whole list, not an empty one
    popup = box.completer.popup()
    assert not popup.isVisible()
    if how == "ctrl+space":
        qtbot.keyClick(box.line, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)
    elif how == "alt+down":
        qtbot.keyClick(box.line, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    else:
        qtbot.mouseClick(box.presets_button, Qt.MouseButton.LeftButton)
    assert popup.isVisible() and box.line.text() == "make it longer"  # the list, not a history step
    assert [popup.model().index(row, 0).data() for row in range(popup.model().rowCount())] == list(DEFAULT_PRESETS)
    qtbot.keyClick(popup, Qt.Key.Key_Escape)  # Esc closes the list only
    assert not popup.isVisible() and box.isVisible()


def test_presets_edited_in_the_preferences_are_stored_and_offered(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    store = _settings(tmp_path / "settings.ini")
    win = create_main_window([], store)
    qtbot.addWidget(win)
    dialog = SettingsDialog(win.preferences, win)
    qtbot.addWidget(dialog)
    assert dialog.presets.toPlainText().splitlines() == list(DEFAULT_PRESETS)
    dialog.presets.setPlainText("translate to French\n\n  make it rhyme  \ntranslate to French\n")
    win.apply_preferences(dialog.value())
    assert win.preferences.presets == ("translate to French", "make it rhyme")
    assert win.editor.box.completer.model().stringList() == ["translate to French", "make it rhyme"]
    assert Settings.load(_settings(tmp_path / "settings.ini")).presets == ("translate to French", "make it rhyme")
    again = SettingsDialog(win.preferences, win)
    qtbot.addWidget(again)
    qtbot.mouseClick(again.restore_presets, Qt.MouseButton.LeftButton)
    assert again.value().presets == DEFAULT_PRESETS
    again.presets.setPlainText("  \n")  # an emptied list is the defaults again, never a box without presets
    assert again.value().presets == DEFAULT_PRESETS
    close_window(qtbot, win)


# -- the estimate ---------------------------------------------------------------------------------------


def test_the_estimate_is_absent_until_a_run_was_measured_then_shown_and_kept(qtbot, tmp_path, checkpoint, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    text = "One line.\nThe span to rewrite here.\nLast line.\n"

    def window():
        win = create_main_window([], _settings(tmp_path / "settings.ini"))
        win.show()
        qtbot.waitExposed(win)
        qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=20000)
        win.editor.setPlainText(text)
        cursor = win.editor.textCursor()
        cursor.setPosition(text.index("The span"))
        cursor.setPosition(text.index(" here."), QTextCursor.MoveMode.KeepAnchor)
        win.editor.setTextCursor(cursor)
        qtbot.keyClick(win.editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
        return win

    win = window()
    editor, box = win.editor, win.editor.box
    assert box.isVisible() and box.estimate.text() == "" and not box.estimate.isVisible()
    qtbot.keyClick(box.line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: editor.session.state == "done", timeout=15000)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)  # the review is dropped: measured all the same
    editor.selectAll()
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert box.isVisible() and box.estimate.isVisible()
    assert re.fullmatch(r"≈ \d+(\.\d)? (s|min)", box.estimate.text())
    qtbot.keyClick(box.line, Qt.Key.Key_Escape)
    win.hide()
    close_window(qtbot, win)
    # A restart: the same model on the same device was measured here before.
    again = window()
    assert again.editor.box.isVisible() and re.fullmatch(r"≈ \d+(\.\d)? (s|min)", again.editor.box.estimate.text())
    qtbot.keyClick(again.editor.box.line, Qt.Key.Key_Escape)
    again.hide()
    close_window(qtbot, again)
