"""Colours from the palette (app/editing/colors.py): WCAG AA contrast for every text on every background it is
painted on, in light and in dark, on the real widgets; a theme switch recolours what is open."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, Qt
from PySide6.QtGui import QBrush, QColor, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QApplication

from app.editing.colors import TEXT_CONTRAST, Colors, colors_for, contrast, flatten, luminance
from app.rewrite.session import RewriteSession
from app.storage.settings import Settings, apply_theme
from app.window.main_window import create_main_window
from engine import MODEL_ENV, PLACEHOLDER, Draft, EditResult
from tests.app import close_window

THEMES = ("light", "dark")
CODE = "def main():\n    # the answer\n    return 'forty' + str(42)\n"
MARKDOWN = "# Notes\n\nSee [the docs](https://example.org) and `inline`.\n\n```python\n" + CODE + "```\n"


@pytest.fixture(autouse=True)
def _system_theme(qapp):
    yield
    apply_theme("system")  # the palette is application-wide: leave it as found


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    win = create_main_window([], QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    # Not qtbot.addWidget: qtbot would close it before this teardown, and a failed test may have left a draft
    # shown, which makes closing ask whether to save (a modal dialog, forever offscreen).
    win.resize(900, 500)
    win.show()
    yield win
    win.editor.cancel_rewrite()
    for index in range(win.tabs.count()):
        win.tabs.widget(index).editor.document().setModified(False)
    close_window(qtbot, win)
    win.close()
    win.deleteLater()


def themed(theme: str, qtbot=None, *widgets) -> Colors:
    """Apply `theme`; its colours once `widgets` have them (Qt hands a new application palette on later)."""
    apply_theme(theme)
    colors = colors_for(QApplication.palette())
    for widget in widgets:
        qtbot.waitUntil(lambda w=widget: colors_for(w.palette()) is colors, timeout=5000)
    return colors


def under(pairs) -> list[str]:
    return [f"{fg} on {bg}: {contrast(f, b):.2f}" for fg, f, bg, b in pairs if contrast(f, b) < TEXT_CONTRAST]


def test_contrast_is_wcag_2():
    white, black = QColor("#ffffff"), QColor("#000000")
    assert contrast(white, black) == pytest.approx(21.0) and contrast(black, black) == 1.0
    assert luminance(QColor("#808080")) == pytest.approx(0.2159, abs=1e-4)
    assert contrast(QColor("#767676"), white) == pytest.approx(4.54, abs=0.01)  # the lightest AA grey on white
    assert contrast(QColor("#777777"), white) < 4.5
    assert flatten(QColor(0, 0, 0, 128), white).name() == "#7f7f7f"


@pytest.mark.parametrize("theme", THEMES)
def test_every_text_on_every_background_reads_at_aa(qapp, theme):
    colors = themed(theme)
    assert colors.dark == (theme == "dark")
    assert under(colors.pairs()) == []
    # Every syntax colour was checked on every tint, and so was the text.
    fgs = {fg for fg, *_ in colors.pairs()}
    assert {"text", "faded", "placeholder", "selected_text", "line_number", "link", "code_text"} <= fgs
    assert sum(fg.startswith("syntax") for fg in fgs) > 50
    bgs = {bg for _, _, bg, _ in colors.pairs()}
    assert {"current_line", "changed", "hunk", "current_hunk", "kept", "dropped", "pinned", "find_match",
            "find_current", "code_background", "selection"} <= bgs
    # The palette's own pairs (menus, dialogs, the hunk bar's buttons, the instruction box's placeholder).
    palette, r = QApplication.palette(), QPalette.ColorRole
    roles = [(r.WindowText, r.Window), (r.Text, r.Base), (r.ButtonText, r.Button), (r.ToolTipText, r.ToolTipBase),
             (r.HighlightedText, r.Highlight), (r.Link, r.Base), (r.PlaceholderText, r.Base),
             (r.PlaceholderText, r.Window)]
    pairs = []
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for fg, bg in roles:
            back = palette.color(group, bg)
            pairs.append((f"{group.name} {fg.name}", flatten(palette.color(group, fg), back), bg.name, back))
    assert under(pairs) == []


def test_the_tints_differ_from_the_text_background_and_from_each_other(qapp):
    for theme in THEMES:
        colors = themed(theme)
        tints = [colors.current_line, colors.changed, colors.current_hunk, colors.kept, colors.dropped,
                 colors.pinned, colors.find_match, colors.find_current]
        assert len({c.name() for c in tints} | {colors.base.name()}) == len(tints) + 1, theme
        assert colors.faded != colors.text and colors.placeholder != colors.faded


def show_draft(editor, span: str) -> RewriteSession:
    """A draft over `span` with changed, faded and masked pieces, shown as the rewrite flow shows one."""
    start = editor.raw_text().index(span)
    session = editor.session = RewriteSession(editor.document(), start, start + len(span))
    pieces = ("ONE", " two", " ", PLACEHOLDER)
    draft = Draft(2, 8, "".join(pieces), pieces, (0.9, 0.1, 0.9, 0.0), (True, False, False, False))
    session.show_draft(draft)
    editor.draft_shown(session, draft)
    return session


def color_of(brush: QBrush) -> QColor | None:
    return None if brush.style() == Qt.BrushStyle.NoBrush else brush.color()


def painted_pairs(editor, colors: Colors) -> list[tuple[str, QColor, str, QColor]]:
    """What the editor's overlay paints: a format's foreground (else the text and every syntax colour) on its
    background (else Base and the current line)."""
    everything = [("text", colors.text)] + [(f"syntax {t}", s.color) for t, s in colors.syntax.items() if s.color]
    pairs = []
    for sel in editor.overlay():
        fmt, name = sel.format, repr(sel.cursor.selectedText())
        fg, bg = color_of(fmt.foreground()), color_of(fmt.background())
        fgs = [(name, fg)] if fg else [(f"{what} in {name}", c) for what, c in everything]
        bgs = [(f"the tint of {name}", bg)] if bg else [("base", colors.base), ("current_line", colors.current_line)]
        pairs += [(f, fc, b, bc) for f, fc in fgs for b, bc in bgs]
    return pairs


@pytest.mark.parametrize("theme", THEMES)
def test_drafts_and_hunk_states_are_painted_readably(qtbot, window, tmp_path, theme):
    (path := tmp_path / "answer.py").write_text("# one two three four five six seven\n" + CODE)
    assert window.open_file(str(path))
    editor = window.editor
    colors = themed(theme, qtbot, editor)
    # 1. a running draft: changed (tint), faded and masked (foregrounds) pieces
    session = show_draft(editor, "one two")
    assert {h.kind for h in session.highlights()} == {"changed", "faded", "placeholder"}
    formats = {sel.cursor.selectedText(): sel.format for sel in editor.overlay()}
    assert formats["ONE"].background().color() == colors.changed
    assert formats[" two"].foreground().color() == colors.faded
    assert formats[PLACEHOLDER].foreground().color() == colors.placeholder
    assert under(painted_pairs(editor, colors)) == []
    editor.cancel_rewrite()
    # 2. a review with a hunk kept, one dropped, the current one and one undecided
    span = "one two three four five six seven"
    start = editor.raw_text().index(span)
    session = editor.session = RewriteSession(editor.document(), start, start + len(span))
    result = EditResult("ONE two THREE four FIVE six SEVEN", 8, 7, 0.1, 0.2, 35.0, "test", "done")
    session.finish(result)
    editor.run_finished(session, result)
    assert len(editor.review.hunks) == 4
    editor._decide(True)
    editor._decide(False)
    tints = {sel.cursor.selectedText(): sel.format.background().color() for sel in editor.overlay()}
    assert tints == {"ONE": colors.kept, "three": colors.dropped, "FIVE": colors.current_hunk, "SEVEN": colors.hunk}
    assert under(painted_pairs(editor, colors)) == []
    editor.cancel_rewrite()


def colors_in(html: str) -> set[str]:
    """The colours an HTML text names, as QColor.name() spells them (Pygments writes #006600 as #060)."""
    return {QColor(code).name() for code in re.findall(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", html)}


def background_of(widget, rect: QRect) -> QColor:
    """The most common colour of a rectangle of what `widget` paints (its background there, not the glyphs)."""
    image = widget.grab(rect).toImage()
    counts = Counter(image.pixelColor(x, y).name() for x in range(image.width()) for y in range(image.height()))
    return QColor(counts.most_common(1)[0][0])


def line_rect(editor, position: int, x0: int, x1: int) -> QRect:
    """Viewport pixels x0..x1 of the line holding `position`."""
    cursor = QTextCursor(editor.document())
    cursor.setPosition(position)
    rect = editor.cursorRect(cursor)
    return QRect(QPoint(x0, rect.top() + 1), QPoint(x1, rect.bottom() - 1))


@pytest.mark.parametrize("theme", THEMES)
def test_a_selection_ending_on_the_current_line_shows_as_a_selection(qtbot, window, tmp_path, theme):
    (path := tmp_path / "lines.txt").write_text("first line of text\nsecond line here\nthird line\n")
    assert window.open_file(str(path))
    editor = window.editor
    colors = themed(theme, qtbot, editor)
    cursor = editor.textCursor()
    cursor.setPosition(3)
    cursor.setPosition(26, QTextCursor.MoveMode.KeepAnchor)  # ends in "second line here", after "second "
    editor.setTextCursor(cursor)
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus)
    viewport, right = editor.viewport(), editor.viewport().width()
    line_start = QTextCursor(editor.document())
    line_start.setPosition(19)
    # The selected part of the current line is painted as a selection; the rest of it as the current line.
    selected = line_rect(editor, 19, editor.cursorRect(line_start).left() + 1, editor.cursorRect(cursor).left() - 2)
    assert background_of(viewport, selected) == colors.selection
    assert background_of(viewport, line_rect(editor, 26, right - 60, right - 5)) == colors.current_line
    assert background_of(viewport, line_rect(editor, 40, right - 60, right - 5)) == colors.base


def test_switching_the_theme_recolours_open_editors_and_the_preview(qtbot, window, tmp_path):
    from pygments.token import Keyword

    (path := tmp_path / "notes.md").write_text(MARKDOWN)
    (code := tmp_path / "answer.py").write_text("# one two\n" + CODE)
    assert window.open_file(str(code)) and window.open_file(str(path))
    markdown_tab = window.tab
    window.tabs.setCurrentIndex(0)
    code_tab, editor = window.tab, window.editor
    light = themed("light", qtbot, editor, markdown_tab.preview)
    session = show_draft(editor, "one two")
    qtbot.waitUntil(lambda: code_tab.highlighter.done and "<h1>Notes</h1>" in markdown_tab.preview.html)
    light_keyword = light.token(Keyword).color.name()
    assert light_keyword in colors_in(markdown_tab.preview.html)
    window.apply_preferences(Settings(theme="dark"))  # what the preferences dialog does
    dark = colors_for(QApplication.palette())
    assert dark.dark and dark.token(Keyword).color != light.token(Keyword).color
    qtbot.waitUntil(lambda: colors_for(editor.palette()) is dark)
    # The current-line band, the draft's highlights and the code colours, with nothing else happening.
    assert editor.extraSelections()[0].format.background().color() == dark.current_line
    formats = {sel.cursor.selectedText(): sel.format for sel in editor.overlay()}
    assert formats["ONE"].background().color() == dark.changed
    assert formats[" two"].foreground().color() == dark.faded
    qtbot.waitUntil(lambda: code_tab.highlighter.done)
    line = editor.document().findBlockByNumber(1).layout().formats()
    keyword = [QTextCharFormat(r.format) for r in line if r.start == 0]  # "def"
    assert keyword[0].foreground().color() == dark.token(Keyword).color
    right = editor.viewport().width()
    band = line_rect(editor, editor.textCursor().position(), right - 60, right - 5)
    assert background_of(editor.viewport(), band) == dark.current_line  # repainted, not only re-set
    # The preview: rendered again in the dark code colours, links and code blocks from the dark style sheet.
    qtbot.waitUntil(lambda: dark.token(Keyword).color.name() in colors_in(markdown_tab.preview.html), timeout=5000)
    assert light_keyword not in colors_in(markdown_tab.preview.html)
    session.cancel()


@pytest.mark.parametrize("theme", THEMES)
def test_the_preview_paints_text_links_and_code_readably(qtbot, window, tmp_path, theme):
    (path := tmp_path / "notes.md").write_text(MARKDOWN)
    assert window.open_file(str(path))
    preview = window.tab.preview
    colors = themed(theme, qtbot, preview)
    preview.render_now()
    palette = preview.palette()
    text, base = palette.color(QPalette.ColorRole.Text), palette.color(QPalette.ColorRole.Base)
    pairs, seen = [], set()
    block = preview.document().begin()
    while block.isValid():
        behind = color_of(block.blockFormat().background()) or base
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            fg, bg = color_of(fmt.foreground()) or text, color_of(fmt.background()) or behind
            if fragment.text().strip():
                pairs.append((repr(fragment.text()), fg, "its background", bg))
                seen.add(("link" if fmt.isAnchor() else "code" if bg == colors.code_background else "body"))
            it += 1
        block = block.next()
    assert seen == {"body", "link", "code"}
    assert len(pairs) > 10  # the code block's tokens each have a colour of their own
    assert under(pairs) == []
