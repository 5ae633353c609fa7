"""Find and replace: the bar of each tab on the real window, driven by keys (app/editing/find_bar.py)."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from app.editing.colors import colors_for
from app.editing.find_search import Matches, Query, Utf16
from app.editing.replace_all import CHUNK_CHARS, STOPPED
from app.window.main_window import create_main_window
from engine import MODEL_ENV, index_to_utf16
from tests.app import close_window

# Twelve foxes, two emoji before them: UTF-16 positions differ from str indices after the first line.
FOXES = "🦊🦊 Foxes first.\n" + "".join(f"The fox {n} ran; " for n in range(10)) + "\nLast fox.\n"


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, "/models/none")  # no model needed: find never asks one
    win = create_main_window()
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.hide()
    close_window(qtbot, win)


def _set_text(window, text: str, caret: int = 0) -> None:
    editor = window.editor
    editor.setPlainText(text)
    cursor = editor.textCursor()
    cursor.setPosition(index_to_utf16(text, caret))
    editor.setTextCursor(cursor)


def _selected(editor) -> tuple[int, int]:
    """The selection as str indices of the editor's text."""
    text, cursor = editor.raw_text(), editor.textCursor()
    offsets = Utf16(text)
    return offsets.index(cursor.selectionStart()), offsets.index(cursor.selectionEnd())


def _total(bar) -> str:
    return bar.status.text().split(" of ")[-1].removesuffix(" matches")


def _type(qtbot, bar, text: str) -> None:
    qtbot.keyClicks(bar.query, text)


def _settled(qtbot, bar, label: str) -> None:
    qtbot.waitUntil(lambda: bar.status.text() == label, timeout=3000)


def _searched(qtbot, window, text: str, query: str, label: str):
    """The window's find bar, opened on `text` with `query` typed and its count shown as `label`."""
    _set_text(window, text)
    bar = window.tab.find_bar
    bar.open()
    _type(qtbot, bar, query)
    _settled(qtbot, bar, label)
    return bar


def test_typing_moves_to_the_first_match_after_the_cursor_and_counts_all(qtbot, window):
    # The caret after the second "fox": typing goes to the third of twelve (case-insensitive: "Foxes" counts).
    second = [m.start() for m in re.finditer("fox", FOXES, re.I)][1]
    _set_text(window, FOXES, second + 1)
    bar = window.tab.find_bar
    assert not bar.isVisible()
    bar.open()
    assert bar.isVisible() and not bar.replace_row.isVisible() and bar.query.hasFocus()
    _type(qtbot, bar, "f")  # the first match after the caret of "f" is the third fox...
    _type(qtbot, bar, "ox")  # ...and extending the query keeps it there
    _settled(qtbot, bar, "3 of 12")
    third = [m.start() for m in re.finditer("fox", FOXES, re.I)][2]
    assert _selected(window.editor) == (third, third + 3)
    highlights = window.editor.overlay("find")
    assert len(highlights) == 12  # all of them: the whole text is in view
    texts = {sel.cursor.selectedText().lower() for sel in highlights}
    assert texts == {"fox"}  # at the right UTF-16 positions after the emoji
    qtbot.keyClick(bar.query, Qt.Key.Key_Return)
    _settled(qtbot, bar, "4 of 12")
    qtbot.keyClick(bar.query, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    _settled(qtbot, bar, "3 of 12")
    bar.query.selectAll()
    _type(qtbot, bar, "wolf")
    _settled(qtbot, bar, "No results")
    assert not window.editor.overlay("find")


def test_match_case_whole_word_and_regex_each_change_the_count(qtbot, window):
    _set_text(window, "Fox fox foxes f.x FOX\n")
    bar = window.tab.find_bar
    bar.open()
    _type(qtbot, bar, "fox")
    qtbot.waitUntil(lambda: _total(bar) == "4")  # Fox, fox, fox(es), FOX
    bar.match_case.click()
    qtbot.waitUntil(lambda: _total(bar) == "2")  # fox, fox(es)
    bar.whole_word.click()
    qtbot.waitUntil(lambda: _total(bar) == "1")  # fox
    bar.match_case.click()
    qtbot.waitUntil(lambda: _total(bar) == "3")  # Fox, fox, FOX
    bar.whole_word.click()
    bar.query.selectAll()
    _type(qtbot, bar, "f.x")
    qtbot.waitUntil(lambda: _total(bar) == "1")  # literally "f.x"
    bar.regex.click()
    qtbot.waitUntil(lambda: _total(bar) == "5")  # any character between f and x


def test_a_bad_pattern_is_one_line_in_the_bar_not_an_exception(qtbot, window):
    _set_text(window, "alpha (beta) gamma\n")
    bar = window.tab.find_bar
    bar.open()
    bar.regex.click()
    _type(qtbot, bar, "(beta")
    qtbot.waitUntil(lambda: bar.status.text().startswith("Bad pattern"))
    assert "\n" not in bar.status.text() and "missing )" in bar.status.text()
    assert not window.editor.overlay("find")
    bar.find_next()  # neither do the other actions raise
    bar.find_previous()
    bar.replace_all()
    assert window.editor.raw_text() == "alpha (beta) gamma\n"
    bar.query.selectAll()
    _type(qtbot, bar, r"\(beta\)")
    _settled(qtbot, bar, "1 of 1")
    assert _selected(window.editor) == (6, 12)


def test_replace_replaces_the_current_match_and_moves_to_the_next(qtbot, window):
    _set_text(window, "🙂 cat, cat and cat.\n")
    bar = window.tab.find_bar
    bar.open(replace=True)
    assert bar.replace_row.isVisible()
    _type(qtbot, bar, "cat")
    _settled(qtbot, bar, "1 of 3")
    qtbot.keyClicks(bar.replacement, "dog")
    qtbot.keyClick(bar.replacement, Qt.Key.Key_Return)
    assert window.editor.raw_text() == "🙂 dog, cat and cat.\n"
    _settled(qtbot, bar, "1 of 2")  # the next cat is selected and the count follows the edit
    assert _selected(window.editor) == (7, 10)
    bar.replace_button.click()
    assert window.editor.raw_text() == "🙂 dog, dog and cat.\n"
    window.editor.undo()
    assert window.editor.raw_text() == "🙂 dog, cat and cat.\n"  # each replacement is its own undo step


def test_replace_all_is_one_undo_step_with_groups(qtbot, window):
    text = "🦊 ada@home, bob@work\nand cy@sea.\n"
    _set_text(window, text)
    editor = window.editor
    assert not editor.document().isUndoAvailable()
    bar = window.tab.find_bar
    bar.open(replace=True)
    bar.regex.click()
    _type(qtbot, bar, r"(\w+)@(?P<place>\w+)")
    _settled(qtbot, bar, "1 of 3")
    qtbot.keyClicks(bar.replacement, r"\g<place>:\1")
    bar.replace_all_button.click()
    assert editor.raw_text() == "🦊 home:ada, work:bob\nand sea:cy.\n"
    _settled(qtbot, bar, "No results")
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.raw_text() == text
    assert not editor.document().isUndoAvailable()  # that one Ctrl+Z undid every replacement
    bar.replacement.setText(r"\9")  # no such group: a message, the text untouched
    bar.replace_all()
    assert bar.status.text().startswith("Bad replacement") and editor.raw_text() == text


def test_escape_closes_the_bar_and_focuses_the_editor(qtbot, window):
    bar = _searched(qtbot, window, FOXES, "fox", "1 of 12")
    qtbot.keyClick(bar.query, Qt.Key.Key_Escape)
    assert not bar.isVisible()
    qtbot.waitUntil(window.editor.hasFocus)
    assert not window.editor.overlay("find")
    assert window.editor.textCursor().selectedText() == "Fox"  # the match stays selected


def test_escape_from_a_toggle_or_a_button_closes_the_bar_too(qtbot, window):
    _set_text(window, FOXES)
    bar = window.tab.find_bar
    for widget in (bar.match_case, bar.replace_all_button):
        bar.open(replace=True)
        widget.setFocus()
        qtbot.keyClick(widget, Qt.Key.Key_Escape)
        assert not bar.isVisible(), widget
    bar.open()
    _type(qtbot, bar, "fox")
    _settled(qtbot, bar, "1 of 12")
    bar.match_case.setFocus()
    qtbot.keyClick(bar.match_case, Qt.Key.Key_Return)  # Enter on a toggle is not "find next"
    assert bar.status.text() == "1 of 12"


def test_f3_after_closing_reuses_the_query(qtbot, window):
    text = "one two one three one\n"
    bar = _searched(qtbot, window, text, "one", "1 of 3")
    bar.close()
    bar.find_next()
    assert _selected(window.editor) == (8, 11) and not bar.isVisible()
    bar.find_next()
    assert _selected(window.editor) == (18, 21)
    bar.find_next()  # wraps to the top
    assert _selected(window.editor) == (0, 3)
    assert "wrapped" in window.statusBar().currentMessage()
    bar.find_previous()  # and back over it
    assert _selected(window.editor) == (18, 21)
    assert not window.editor.overlay("find")  # the bar is closed: nothing highlighted


def test_f3_with_no_query_yet_opens_the_bar(qtbot, window):
    _set_text(window, "text\n")
    bar = window.tab.find_bar
    bar.find_next()
    assert bar.isVisible() and bar.query.hasFocus()


def test_open_seeds_the_query_with_a_one_line_selection(qtbot, window):
    text = "pick this word, then this word again\nnext line\n"
    _set_text(window, text)
    editor = window.editor
    cursor = editor.textCursor()
    cursor.setPosition(5)
    cursor.setPosition(9, QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    bar = window.tab.find_bar
    bar.open()
    assert bar.query.text() == "this" and bar.query.selectedText() == "this"
    _settled(qtbot, bar, "1 of 2")
    bar.close()
    cursor.setPosition(0)
    cursor.setPosition(text.index("next"), QTextCursor.MoveMode.KeepAnchor)  # two lines: not a query
    editor.setTextCursor(cursor)
    bar.open()
    assert bar.query.text() == "this"


def test_editing_with_the_bar_open_recounts(qtbot, window):
    bar = _searched(qtbot, window, "a b a\n", "a", "1 of 2")
    cursor = QTextCursor(window.editor.document())
    cursor.movePosition(QTextCursor.MoveOperation.End)
    cursor.insertText("a a")
    qtbot.waitUntil(lambda: _total(bar) == "4")


def test_a_large_document_is_counted_whole_and_highlighted_near_the_view(qtbot, window):
    line = "The survey team crossed the ridge at dawn with the map and the compass.\n"
    text = line * 15_000  # ~1 MB
    _set_text(window, text)
    editor = window.editor
    bar = window.tab.find_bar
    bar.open()
    _type(qtbot, bar, "the")
    expected = len(re.findall("the", text, re.I))
    _settled(qtbot, bar, f"1 of {expected}")
    shown = editor.overlay("find")
    assert 0 < len(shown) < expected // 10  # only near the view
    first_shown = shown[0].cursor.selectionStart()
    editor.verticalScrollBar().setValue(editor.verticalScrollBar().maximum() // 2)
    qtbot.waitUntil(lambda: editor.overlay("find")[0].cursor.selectionStart() > first_shown)
    moved = editor.overlay("find")
    top = editor.cursorForPosition(editor.viewport().rect().topLeft()).position()
    assert moved[0].cursor.selectionStart() > first_shown  # the highlights followed the view
    assert any(sel.cursor.selectionStart() >= top for sel in moved)
    bar.find_previous()  # from the first match: wraps to the very last one
    assert _selected(editor)[0] == text.lower().rindex("the")
    _settled(qtbot, bar, f"{expected} of {expected}")


def test_the_scan_in_slices_finds_what_one_finditer_finds():
    # Overlapping candidates across every slice boundary, and a pattern with empty matches.
    text = "aaa ab " * 50 + "\n" * 3 + "é🦊a" * 20
    for query in (Query("aa"), Query("a*", regex=True), Query(r"(?<=a)a", regex=True), Query("^", regex=True)):
        pattern = query.compile()
        matches = Matches(pattern, text)
        while not matches.scan(chars=7):
            pass
        expected = [m.span() for m in pattern.finditer(text) if m.end() > m.start()]
        assert list(zip(matches.starts, matches.ends)) == expected


def test_utf16_offsets_round_trip():
    text = "a🦊b🙂🙂c"
    offsets = Utf16(text)
    for index in range(len(text) + 1):
        assert offsets.position(index) == index_to_utf16(text, index)
        assert offsets.index(offsets.position(index)) == index
    assert offsets.index(2) == 1  # inside the fox's surrogate pair: the fox


def test_match_colours_are_the_themes_find_tints(qtbot, window):
    """The contrast of find_match / find_current under every text colour is tests/app/editing/test_colors.py's."""
    bar = _searched(qtbot, window, "fish one fish two fish", "fish", "1 of 3")
    theme = colors_for(window.editor.palette())
    backgrounds = [sel.format.background().color() for sel in window.editor.overlay("find")]
    assert sorted(c.name() for c in backgrounds) == sorted([theme.find_current.name()] + [theme.find_match.name()] * 2)


def test_find_during_a_rewrite_ends_it_and_no_draft_reaches_the_text(qtbot, checkpoint, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    window = create_main_window()
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.bridge.model_info is not None, timeout=20000)
    text = "Intro line.\nHello brave world, this is the span.\nTail world end.\n"
    editor, bar = window.editor, window.tab.find_bar
    _set_text(window, text)
    span = text.index("brave world")

    def start_rewrite() -> None:
        editor.steps = 100000  # still running while the test works
        cursor = editor.textCursor()
        cursor.setPosition(span)
        cursor.setPosition(span + len("brave world"), QTextCursor.MoveMode.KeepAnchor)
        editor.setTextCursor(cursor)
        assert editor.start_rewrite()
        qtbot.waitUntil(lambda: editor.session.draft is not None and editor.raw_text() != text, timeout=10000)

    # Opening the bar while a draft is shown takes it back (as Esc) before anything else.
    start_rewrite()
    session = editor.session
    bar.open(replace=True)
    assert session.state == "cancelled" and editor.raw_text() == text
    _type(qtbot, bar, "world")
    _settled(qtbot, bar, "1 of 2")
    # A rewrite started with the bar open: its drafts are not searched, and the next find action ends it.
    start_rewrite()
    qtbot.waitUntil(lambda: not editor.overlay("find"), timeout=3000)
    session = editor.session
    qtbot.keyClicks(bar.replacement, "planet")
    bar.replace_all()
    assert session.state == "cancelled"
    assert editor.raw_text() == text.replace("world", "planet")
    editor.undo()
    assert editor.raw_text() == text  # the undo history holds the user's edits only
    qtbot.waitUntil(editor.task.done, timeout=5000)
    window.hide()
    close_window(qtbot, window)


# ~230k characters, an emoji on every line: several chunks of replace_all.CHUNK_CHARS, UTF-16 shifts in each.
LARGE = "".join(f"🦊 Line {n}: the fox saw the other fox by the river.\n" for n in range(4000))


def _start_large_replace_all(qtbot, window, query: str, replacement: str) -> int:
    _set_text(window, LARGE)
    bar = window.tab.find_bar
    bar.open(replace=True)
    _type(qtbot, bar, query)
    total = len(re.findall(query, LARGE, re.I))
    _settled(qtbot, bar, f"1 of {total}")
    bar.replacement.setText(replacement)
    bar.replace_all_button.click()
    return total


def test_replace_all_on_a_large_document_lands_in_chunks_as_one_undo_step(qtbot, window):
    editor, bar = window.editor, window.tab.find_bar
    assert len(LARGE) > 3 * CHUNK_CHARS
    assert not editor.document().isUndoAvailable()
    total = _start_large_replace_all(qtbot, window, "fox", "🐺 wolf")
    expected = re.sub("fox", "🐺 wolf", LARGE, flags=re.I)
    # The first chunk is in, the rest come between events: meanwhile the document is not the user's to edit.
    first = editor.raw_text()
    assert first != LARGE and first != expected
    assert editor.isReadOnly() and not bar.replace_all_button.isEnabled() and not bar.replace_button.isEnabled()
    assert bar.status.text().startswith("Replacing…")
    qtbot.waitUntil(lambda: not editor.isReadOnly(), timeout=10000)
    assert editor.raw_text() == expected
    assert bar.replace_all_button.isEnabled() and bar.replace_button.isEnabled()
    assert window.statusBar().currentMessage() == f"Replaced {total} matches (Ctrl+Z undoes them all)"
    _settled(qtbot, bar, "No results")
    editor.undo()
    assert editor.raw_text() == LARGE
    assert not editor.document().isUndoAvailable()  # that one undo took back every chunk
    editor.redo()
    assert editor.raw_text() == expected


def test_typing_during_a_chunked_replace_all_is_refused(qtbot, window):
    editor, bar = window.editor, window.tab.find_bar
    _start_large_replace_all(qtbot, window, "fox", "wolf")
    assert editor.isReadOnly()
    editor.setFocus()
    qtbot.keyClicks(editor, "XYZ")  # refused by the read-only editor
    qtbot.keyClick(editor, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    bar.replace_all()  # a second run while the first is under way: nothing
    bar.replace()  # neither does Replace edit meanwhile
    qtbot.waitUntil(lambda: not editor.isReadOnly(), timeout=10000)
    assert editor.raw_text() == re.sub("fox", "wolf", LARGE, flags=re.I)
    editor.undo()
    assert editor.raw_text() == LARGE and not editor.document().isUndoAvailable()


def test_the_count_after_a_chunked_replace_all_counts_the_new_text(qtbot, window):
    editor, bar = window.editor, window.tab.find_bar
    total = _start_large_replace_all(qtbot, window, "fox", "fox fox")
    qtbot.waitUntil(lambda: not editor.isReadOnly(), timeout=10000)
    _settled(qtbot, bar, f"{2 * total} matches")  # the caret at the first replacement, no match selected


def test_another_change_during_a_chunked_replace_all_stops_it(qtbot, window):
    # A menu undo mid-run takes back the chunks so far (one step) and ends the run: nothing half-joined.
    editor, bar = window.editor, window.tab.find_bar
    _start_large_replace_all(qtbot, window, "fox", "wolf")
    assert editor.isReadOnly()
    editor.undo()
    assert editor.raw_text() == LARGE and not editor.isReadOnly()
    assert window.statusBar().currentMessage().startswith(STOPPED)
    qtbot.wait(50)  # no chunk comes after it
    assert editor.raw_text() == LARGE
    assert bar.replace_all_button.isEnabled()
