"""Go to Line (Ctrl+G) and the caret position in the status bar, on the real window."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

TEXT = "one\ntwo\nthree 🦊 four\n" + "".join(f"line {n}\n" for n in range(4, 1001))


def _go(qtbot, window, target: str) -> None:
    qtbot.keyClick(window.editor, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert window.go_to_line.isVisible() and window.go_to_line.line.hasFocus()
    qtbot.keyClicks(window.go_to_line.line, target)
    qtbot.keyClick(window.go_to_line.line, Qt.Key.Key_Return)


def _where(editor) -> tuple[int, int]:
    cursor = editor.textCursor()
    return cursor.blockNumber() + 1, cursor.positionInBlock() + 1


def test_ctrl_g_line_and_column_moves_the_caret_and_centres_it(qtbot, shown_window):
    editor = shown_window.editor
    editor.setPlainText(TEXT)
    _go(qtbot, shown_window, "3:4")
    assert _where(editor) == (3, 4) and editor.textCursor().block().text()[3:] == "ee 🦊 four"
    assert not shown_window.go_to_line.isVisible() and editor.hasFocus()
    assert shown_window.position_label.text() == "Ln 3, Col 4"
    _go(qtbot, shown_window, "500")
    assert _where(editor) == (500, 1)
    first = editor.firstVisibleBlock().blockNumber() + 1
    assert 400 < first < 500  # centred: lines above the caret are in view too
    assert editor.viewport().rect().contains(editor.cursorRect())


def test_columns_count_characters_and_out_of_range_values_are_clamped(qtbot, shown_window):
    editor = shown_window.editor
    editor.setPlainText(TEXT)
    _go(qtbot, shown_window, "3:9")  # after "three 🦊 ": the emoji is one column but two UTF-16 units
    assert editor.textCursor().positionInBlock() == 9 and shown_window.position_label.text() == "Ln 3, Col 9"
    _go(qtbot, shown_window, "2:99")
    assert _where(editor) == (2, 4)  # the end of "two"
    _go(qtbot, shown_window, "99999:3")
    assert editor.textCursor().blockNumber() == editor.document().blockCount() - 1
    _go(qtbot, shown_window, "0")
    assert _where(editor) == (1, 1)


def test_junk_gets_a_message_and_esc_closes_without_moving(qtbot, shown_window):
    editor = shown_window.editor
    editor.setPlainText(TEXT)
    _go(qtbot, shown_window, "3:4")
    _go(qtbot, shown_window, "twelve")
    bar = shown_window.go_to_line
    assert bar.isVisible() and "line number" in bar.message.text() and bar.message.isVisible()
    assert _where(editor) == (3, 4)
    qtbot.keyClick(bar.line, Qt.Key.Key_Escape)
    assert not bar.isVisible() and editor.hasFocus() and _where(editor) == (3, 4)


def test_status_bar_shows_line_column_and_the_selection_size(qtbot, shown_window):
    editor = shown_window.editor
    label = shown_window.position_label
    editor.setPlainText("alpha beta\ngamma 🦊\ndelta\n")
    assert label.text() == "Ln 1, Col 1"
    cursor = editor.textCursor()
    cursor.setPosition(6)
    editor.setTextCursor(cursor)
    assert label.text() == "Ln 1, Col 7"
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert label.text() == "Ln 1, Col 9 (2 chars)"
    cursor.setPosition(0)
    cursor.movePosition(QTextCursor.MoveOperation.Down, QTextCursor.MoveMode.KeepAnchor, 2)
    editor.setTextCursor(cursor)  # "alpha beta\ngamma 🦊\n": the emoji is one character, each break one
    assert label.text() == "Ln 3, Col 1 (3 lines, 19 chars)"
    qtbot.keyClicks(editor, "x")  # typing replaces the selection; the label follows
    assert label.text() == "Ln 1, Col 2"
    shown_window.new_tab()  # the label follows the current tab
    assert label.text() == "Ln 1, Col 1"
    shown_window.tabs.setCurrentIndex(0)
    assert label.text() == "Ln 1, Col 2"
