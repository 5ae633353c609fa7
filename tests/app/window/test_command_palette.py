"""The command palette (Ctrl+Shift+P) on the real window: every command with its keys, filtered, run by Enter."""

from PySide6.QtCore import Qt

from app.window.command_palette import KEYS_ROLE


def _open(qtbot, window):
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.editor, Qt.Key.Key_P, mods)
    palette = window.palette
    assert palette.isVisible() and palette.line.hasFocus()
    return palette


def _labels(palette) -> list[str]:
    return [command.label for command in palette.shown()]


def test_it_lists_every_command_with_its_keys(qtbot, shown_window):
    palette = _open(qtbot, shown_window)
    commands = shown_window.commands.commands
    assert _labels(palette) == [c.label for c in commands]
    rows = [palette.list.item(row) for row in range(palette.list.count())]
    keys = {item.text(): item.data(KEYS_ROLE) for item in rows}
    assert keys["Rewrite: Rewrite / Refine / Fill…"] == "Ctrl+J" and keys["Edit: Go to Line…"] == "Ctrl+G"
    assert keys["Rewrite: Keep Change"] == "Y" and keys["View: Zoom In"] == "Ctrl++, Ctrl+="
    assert keys["Help: About Redraft"] == ""


def test_filtering_zoom_lists_the_three_zoom_commands_and_enter_runs_one(qtbot, shown_window):
    editor = shown_window.editor
    size = editor.font().pointSizeF()
    palette = _open(qtbot, shown_window)
    qtbot.keyClicks(palette.line, "ZOOM")
    assert _labels(palette) == ["View: Zoom In", "View: Zoom Out", "View: Reset Zoom"]
    qtbot.keyClick(palette.line, Qt.Key.Key_Return)  # the first, highlighted: Zoom In
    assert not palette.isVisible() and editor.hasFocus()
    assert editor.font().pointSizeF() == size + 1
    palette = _open(qtbot, shown_window)
    qtbot.keyClicks(palette.line, "zoom")
    qtbot.keyClick(palette.line, Qt.Key.Key_Down)
    qtbot.keyClick(palette.line, Qt.Key.Key_Down)
    qtbot.keyClick(palette.line, Qt.Key.Key_Return)  # the third: Reset Zoom
    assert editor.font().pointSizeF() == size


def test_fuzzy_matches_come_after_substring_matches(qtbot, shown_window):
    palette = _open(qtbot, shown_window)
    qtbot.keyClicks(palette.line, "gtl")
    assert _labels(palette)[0] == "Edit: Go to Line…"
    palette.line.setText("line")
    labels = _labels(palette)
    assert labels[:2] == ["Edit: Go to Line…", "View: Line Numbers"] and all("line" in l.lower() for l in labels[:2])
    palette.line.setText("no such command at all")
    assert _labels(palette) == [] and palette.list.currentItem() is None
    qtbot.keyClick(palette.line, Qt.Key.Key_Return)  # nothing to run: nothing happens
    assert palette.isVisible()


def test_esc_closes_and_runs_nothing(qtbot, shown_window):
    editor = shown_window.editor
    size = editor.font().pointSizeF()
    palette = _open(qtbot, shown_window)
    qtbot.keyClicks(palette.line, "zoom in")
    qtbot.keyClick(palette.line, Qt.Key.Key_Escape)
    assert not palette.isVisible() and editor.hasFocus() and editor.font().pointSizeF() == size


def test_commands_that_do_not_apply_now_are_listed_but_not_run(qtbot, shown_window):
    editor = shown_window.editor
    editor.setPlainText("some text")
    palette = _open(qtbot, shown_window)
    qtbot.keyClicks(palette.line, "try again")
    assert _labels(palette) == ["Rewrite: Try Again"]
    item = palette.list.item(0)
    assert not item.flags() & Qt.ItemFlag.ItemIsEnabled and palette.list.currentItem() is None
    qtbot.keyClick(palette.line, Qt.Key.Key_Return)
    assert palette.isVisible() and editor.session is None
    # Run directly through the set, a stale state is checked again: nothing runs either.
    command = palette.shown()[0]
    assert not shown_window.commands.run(command) and editor.session is None


def test_the_rewrite_command_opens_the_instruction_box(qtbot, shown_window):
    editor = shown_window.editor
    editor.setPlainText("Hello brave world")
    editor.selectAll()
    palette = _open(qtbot, shown_window)
    qtbot.keyClicks(palette.line, "rewrite / refine")
    qtbot.keyClick(palette.line, Qt.Key.Key_Return)
    assert editor.box.isVisible() and editor.box.line.hasFocus() and editor.session is None
