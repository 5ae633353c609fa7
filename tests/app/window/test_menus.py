"""The menus of the real window: every command in a menu with its keys as real shortcuts, listed in the help;
the View toggles and zoom apply to every tab; context keys never take typing."""

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QPlainTextEdit

from app.storage.settings import Settings
from app.window.about import about_text
from app.window.main_window import create_main_window
from engine import MODEL_ENV
from tests.app import close_window

MENU_TITLES = ["&File", "&Edit", "&View", "Re&write", "&Settings", "&Help"]


def _menu_actions(menu):
    for action in menu.actions():
        if action.menu() is not None:
            yield from _menu_actions(action.menu())
        elif not action.isSeparator():
            yield action


def test_every_command_is_in_a_menu_with_its_keys_as_real_shortcuts_and_in_the_help(qtbot, shown_window):
    bar = shown_window.menuBar()
    assert [a.text() for a in bar.actions()] == MENU_TITLES
    in_menus = [a for top in bar.actions() for a in _menu_actions(top.menu())]
    commands = shown_window.commands
    rows = dict(shown_window.show_shortcuts().rows())
    assert len(rows) == len(commands.commands) > 30
    for command in commands.commands:
        action = commands.action(command.label)
        assert action in in_menus, command.label
        assert action.shortcuts() == [QKeySequence(key) for key in command.keys], command.label
        assert rows[command.label] == command.key_text()
        if command.shown:  # context keys: shown in the menu, never bound
            assert not action.shortcuts() and action.text().endswith("\t" + command.shown)
    keys = {label: rows[label] for label in rows}
    assert keys["Rewrite: Rewrite / Refine / Fill…"] == "Ctrl+J" and keys["Rewrite: Try Again"] == "Alt+R"
    assert keys["View: Zoom In"] == "Ctrl++, Ctrl+=" and keys["View: Reset Zoom"] == "Ctrl+0"
    assert keys["Rewrite: Keep Change"] == "Y" and keys["Rewrite: Drop Change"] == "N"
    assert keys["Rewrite: Cancel"] == "Esc" and keys["Settings: Preferences…"] == "Ctrl+,"
    # The find bar's commands (wired to tab.find_bar, built elsewhere) carry their keys.
    assert [keys[f"Edit: {name}"] for name in ("Find…", "Replace…", "Find Next", "Find Previous")] == [
        "Ctrl+F", "Ctrl+H", "F3", "Shift+F3"
    ]


def test_review_keys_are_enabled_only_while_they_apply_and_typing_y_types_y(qtbot, shown_window):
    commands = shown_window.commands
    commands.refresh()
    for name in ("Accept", "Cancel", "Try Again", "Keep Change", "Drop Change"):
        label = f"Rewrite: {name}"
        assert not commands.action(label).isEnabled(), label
    editor = shown_window.editor
    qtbot.keyClicks(editor, "yny")
    qtbot.keyClicks(editor, "Y")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "ynyY\n\t"


def test_zoom_keys_change_every_tabs_font_and_reset_returns_to_the_preference(qtbot, shown_window):
    window = shown_window
    window.apply_preferences(Settings(font_size=12, theme=window.preferences.theme))
    first = window.editor
    second = window.new_tab().editor
    assert first.font().pointSize() == second.font().pointSize() == 12
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.keyClick(second, Qt.Key.Key_Equal, ctrl)
    qtbot.keyClick(second, Qt.Key.Key_Plus, ctrl)
    assert first.font().pointSize() == second.font().pointSize() == 14
    assert window.new_tab().editor.font().pointSize() == 14  # a new tab is zoomed too
    qtbot.keyClick(window.editor, Qt.Key.Key_Minus, ctrl)
    assert first.font().pointSize() == 13
    qtbot.keyClick(window.editor, Qt.Key.Key_0, ctrl)
    assert first.font().pointSize() == second.font().pointSize() == 12
    for _ in range(100):
        qtbot.keyClick(window.editor, Qt.Key.Key_Minus, ctrl)
    assert first.font().pointSize() == 4  # never below a readable size, never to zero
    assert window.editor.toPlainText() == ""  # none of the keys typed anything


def test_view_toggles_apply_to_all_tabs(qtbot, shown_window, tmp_path):
    window = shown_window
    (notes := tmp_path / "notes.md").write_text("# Notes\n")
    window.new_tab()
    assert window.open_file(str(notes))
    tabs = [window.tabs.widget(i) for i in range(window.tabs.count())]
    assert len(tabs) == 2 and window.tab.preview.isVisibleTo(window.tab)
    commands = window.commands
    qtbot.keyClick(window.editor, Qt.Key.Key_Z, Qt.KeyboardModifier.AltModifier)  # Word Wrap off
    assert all(t.editor.lineWrapMode() == QPlainTextEdit.LineWrapMode.NoWrap for t in tabs)
    commands.action("View: Line Numbers").trigger()
    assert all(not t.editor.line_numbers.isVisibleTo(t.editor) for t in tabs)
    assert all(t.editor.viewportMargins().left() == 0 for t in tabs)
    commands.action("View: Markdown Preview").trigger()
    assert not window.tab.preview.isVisibleTo(window.tab)
    assert window.save_as(str(tmp_path / "renamed.md"))  # the tab re-decides its preview: still off
    assert not window.tab.preview.isVisibleTo(window.tab)
    commands.refresh()
    toggles = ("Word Wrap", "Line Numbers", "Markdown Preview")
    assert [commands.action(f"View: {name}").isChecked() for name in toggles] == [False] * 3
    for name in toggles:
        commands.action(f"View: {name}").trigger()
    assert all(t.editor.lineWrapMode() == QPlainTextEdit.LineWrapMode.WidgetWidth for t in tabs)
    assert all(t.editor.line_numbers.isVisibleTo(t.editor) and t.editor.viewportMargins().left() > 0 for t in tabs)
    assert window.tab.preview.isVisibleTo(window.tab)


def test_theme_submenu_is_a_choice_of_one_that_is_stored(qtbot, shown_window):
    window = shown_window
    commands = window.commands
    commands.action("View: Theme: Dark").trigger()
    assert window.preferences.theme == "dark" and Settings.load(window.settings).theme == "dark"
    commands.refresh()
    themes = ("System", "Light", "Dark")
    assert [commands.action(f"View: Theme: {n}").isChecked() for n in themes] == [False, False, True]
    commands.action("View: Theme: System").trigger()
    commands.refresh()
    assert window.preferences.theme == "system"
    assert [commands.action(f"View: Theme: {n}").isChecked() for n in themes] == [True, False, False]


def test_the_context_menu_offers_rewrite_selection(qtbot, shown_window):
    editor = shown_window.editor
    editor.setPlainText("Hello brave world")
    menu = editor.context_menu()
    rewrite = next(a for a in menu.actions() if a.text().startswith("Rewrite selection…"))
    assert rewrite.text().endswith("\tCtrl+J") and not rewrite.isEnabled()  # nothing selected
    editor.selectAll()
    menu = editor.context_menu()
    rewrite = next(a for a in menu.actions() if a.text().startswith("Rewrite selection…"))
    assert rewrite.isEnabled()
    rewrite.trigger()
    assert editor.box.isVisible() and editor.session is None


def test_edit_menu_commands_act_on_the_current_editor(qtbot, shown_window):
    window = shown_window
    editor = window.editor
    commands = window.commands
    qtbot.keyClicks(editor, "abc")
    commands.action("Edit: Select All").trigger()
    commands.refresh()
    assert commands.action("Edit: Copy").isEnabled() and commands.action("Edit: Cut").isEnabled()
    commands.action("Edit: Cut").trigger()
    assert editor.toPlainText() == ""
    commands.action("Edit: Paste").trigger()
    commands.action("Edit: Paste").trigger()
    assert editor.toPlainText() == "abcabc"
    commands.action("Edit: Undo").trigger()
    assert editor.toPlainText() == "abc"
    commands.action("Edit: Redo").trigger()
    assert editor.toPlainText() == "abcabc"


def test_about_names_the_version_the_active_model_and_the_bundled_licences(qtbot, tmp_path, checkpoint, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    window = create_main_window([], QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.bridge.model_info is not None, timeout=20000)
    info = window.bridge.model_info
    box = window.show_about()
    text = box.text()
    assert text == about_text(info) and "Redraft 0." in text
    assert info.id in text and info.backend in text
    assert "Gemma 3 270M" not in text  # no longer shipped
    assert "SmolLM2-135M-Instruct" in text and "Apache-2.0" in text
    box.close()
    close_window(qtbot, window)


def test_the_rewrite_menu_drives_a_real_run_and_its_review(qtbot, tmp_path, checkpoint, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    window = create_main_window([], QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.bridge.model_info is not None, timeout=20000)
    text = "Hello brave world, this is the span.\n"
    editor, commands = window.editor, window.commands
    editor.setPlainText(text)
    editor.steps, editor.seed = 8, 7
    cursor = editor.textCursor()
    cursor.setPosition(6)
    cursor.setPosition(6 + len("brave world"), cursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    commands.action("Rewrite: Rewrite / Refine / Fill…").trigger()
    assert editor.box.isVisible()
    qtbot.keyClick(editor.box.line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: editor.session.state != "running", timeout=15000)
    assert editor.session.state == "done", (editor.session.state, window.run_label.text())
    commands.refresh()
    names = ("Accept", "Cancel", "Try Again", "Keep Change", "Drop Change")
    assert all(commands.action(f"Rewrite: {name}").isEnabled() for name in names)
    for _ in range(len(editor.review.hunks)):
        commands.action("Rewrite: Drop Change").trigger()  # what N does
    assert editor.session.state == "cancelled" and editor.toPlainText() == text
    commands.refresh()
    assert not any(commands.action(f"Rewrite: {name}").isEnabled() for name in names)
    window.hide()
    window.close()
    qtbot.waitUntil(window.closed.done, timeout=10000)


def test_the_find_keys_reach_the_find_bar_of_the_current_tab(qtbot, shown_window):
    editor = shown_window.editor
    editor.setPlainText("one fish two fish red fish\nblue fish\n")
    bar = shown_window.tab.find_bar
    qtbot.keyClick(editor, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(bar.isVisible)
    qtbot.keyClicks(bar.query, "fish")
    qtbot.waitUntil(lambda: "of 4" in bar.status.text())
    first = editor.textCursor().selectionStart()
    qtbot.keyClick(editor, Qt.Key.Key_F3)  # from the editor too: the menu's key, not the bar's
    qtbot.waitUntil(lambda: editor.textCursor().selectionStart() != first)
    qtbot.keyClick(bar.query, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not bar.isVisible())
    qtbot.keyClick(editor, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bar.isVisible() and bar.replace_row.isVisible())
