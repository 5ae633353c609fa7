"""A review that hides nothing: the hunk bar covers no line and shows its whole label; the view follows the
span as drafts arrive and shows the current hunk. The real window and engine, the tiny random DiffusionGemma."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QTextCursor

from app.rewrite.hunk_bar import describe
from app.rewrite.session import utf16_len
from tests.app import shown_with_model

SPAN = "brave world, this is the span."
TEXT = "".join(f"Line {n} before the span.\n" for n in range(8)) + f"Hello {SPAN}\n" + "".join(
    f"Line {n} after the span, with some words.\n" for n in range(60)
)


@pytest.fixture
def window(qtbot, checkpoint, monkeypatch):
    yield from shown_with_model(qtbot, monkeypatch, checkpoint, TEXT, steps=8)


def _select(editor, start: int, end: int) -> None:
    cursor = editor.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def _run(qtbot, editor) -> None:
    qtbot.keyClick(editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(editor.box.line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: editor.session.state != "running", timeout=15000)


def _review(qtbot, editor) -> None:
    """A finished run on SPAN with at least one hunk (seeds 0, 1, ... until one changes something)."""
    start = TEXT.index(SPAN)
    for seed in range(20):
        editor.seed = seed
        _select(editor, start, start + len(SPAN))
        _run(qtbot, editor)
        if editor.review is not None and editor.review.current is not None:
            return
        qtbot.keyClick(editor, Qt.Key.Key_Escape)
    pytest.fail("no seed changed the span")


def _visible_lines(editor) -> list[QRect]:
    """The part of every block's rectangle that is on screen, in the editor's coordinates."""
    view = editor.viewport()
    out = []
    block = editor.firstVisibleBlock()
    while block.isValid():
        rect = editor.blockBoundingGeometry(block).translated(editor.contentOffset()).toAlignedRect()
        if rect.top() > view.height():
            break
        shown = rect.intersected(view.rect())
        if not shown.isEmpty():
            out.append(shown.translated(view.pos()))
        block = block.next()
    return out


def _in_view(editor, position: int) -> bool:
    cursor = QTextCursor(editor.document())
    cursor.setPosition(position)
    return editor.viewport().rect().contains(editor.cursorRect(cursor))


def _current_hunk(editor) -> tuple[int, int]:
    position = editor.session.start
    for text, kind in editor.review.segments():
        length = utf16_len(text)
        if kind == "current":
            return position, position + length
        position += length
    raise AssertionError("no current hunk")


def _label_fits(bar) -> bool:
    label = bar.label
    return label.fontMetrics().horizontalAdvance(label.text()) <= label.contentsRect().width()


def test_the_hunk_bar_covers_no_line_and_its_label_is_whole(qtbot, window):
    window.resize(1600, 700)
    editor = window.editor
    _review(qtbot, editor)
    bar = editor.bar
    assert bar.isVisible()
    lines = _visible_lines(editor)
    assert len(lines) > 10  # the text around the span is on screen, above the bar
    assert not [line for line in lines if line.intersects(bar.geometry())]
    assert bar.label.text() == describe(editor.review) and _label_fits(bar) and not bar.label.toolTip()
    # Every decision keeps it so: the bar says the next hunk, whole, and still covers nothing.
    while editor.review is not None and editor.review.current is not None:
        assert not [line for line in _visible_lines(editor) if line.intersects(bar.geometry())]
        assert bar.label.text() == describe(editor.review) and _label_fits(bar)
        qtbot.keyClick(editor, Qt.Key.Key_N)
    assert not bar.isVisible() and editor.viewportMargins().bottom() == 0  # the strip goes with the review


def test_a_narrow_window_puts_the_label_on_its_own_line_then_elides_it(qtbot, window):
    editor = window.editor
    window.tab.splitter.setSizes([1, 0])  # no preview: the editor is as wide as the window
    window.resize(1600, 700)
    _review(qtbot, editor)
    bar, full = editor.bar, describe(editor.review)
    one_line = bar.height()
    label = bar.label.sizeHint().width()
    # Narrower than the label and the buttons side by side: the buttons move to a line below, the label stays whole.
    window.resize(label + 60, 700)
    qtbot.waitUntil(lambda: bar.height() > one_line)
    assert bar.label.text() == full and _label_fits(bar) and not bar.label.toolTip()
    assert bar.buttons["keep"].mapTo(bar, QPoint(0, 0)).y() > bar.label.geometry().bottom()
    assert not [line for line in _visible_lines(editor) if line.intersects(bar.geometry())]
    # Narrower than the label alone: elided, the whole description in the tooltip.
    window.resize(max(label // 2, 200), 700)
    qtbot.waitUntil(lambda: bar.width() < label)
    assert _label_fits(bar)
    assert bar.label.text() != full and "…" in bar.label.text() and bar.label.toolTip() == full
    assert not [line for line in _visible_lines(editor) if line.intersects(bar.geometry())]
    window.resize(1600, 700)  # room again: the whole label, no tooltip
    qtbot.waitUntil(lambda: bar.label.text() == full)
    assert _label_fits(bar) and not bar.label.toolTip()


def test_the_current_hunk_is_in_view_even_on_the_last_visible_line(qtbot, window):
    editor = window.editor
    start = TEXT.index(SPAN)
    # Scroll so that the span's line is the last whole line on screen: the bar's strip would hide it.
    scroll = editor.verticalScrollBar()
    scroll.setValue(0)
    while _in_view(editor, start) and scroll.value() < scroll.maximum():
        scroll.setValue(scroll.value() + 1)
    scroll.setValue(scroll.value() - 1)
    assert _in_view(editor, start)
    _review(qtbot, editor)
    hunk_start, hunk_end = _current_hunk(editor)
    assert _in_view(editor, hunk_start) and _in_view(editor, hunk_end)
    while editor.review is not None and editor.review.current is not None:
        qtbot.keyClick(editor, Qt.Key.Key_Y)
        if editor.review is not None:
            assert all(_in_view(editor, p) for p in _current_hunk(editor))


def test_a_fill_at_the_end_of_a_long_document_stays_in_view(qtbot, window):
    window.resize(320, 400)  # narrow: the fill's text wraps onto lines below the view
    editor = window.editor
    editor.steps = 30
    editor.seed = 3
    cursor = editor.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    editor.setTextCursor(cursor)
    editor.ensureCursorVisible()
    scroll = editor.verticalScrollBar()
    assert scroll.value() == scroll.maximum()  # the last line is the lowest on screen
    before = scroll.value()
    seen: list[bool] = []
    editor.draftShown.connect(lambda _draft: seen.append(_in_view(editor, editor.session.end)))
    _run(qtbot, editor)
    session = editor.session
    assert session.state == "done" and session.mode == "fill" and seen
    assert scroll.value() > before  # the text grew below the view, which followed it
    assert all(seen)  # the end of every draft was on screen
    assert _in_view(editor, session.end)
