"""Pygments highlighting per block: colours, state carried across lines, incremental re-highlighting."""

import time

from pygments.token import Comment, Keyword, String
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor, QTextDocument

from PySide6.QtWidgets import QPlainTextDocumentLayout

from app.editing.colors import colors_for
from app.editing.highlighter import PygmentsHighlighter, lexer_for
from app.storage.settings import dark_palette, light_palette
from tests.app import close_window


def light():
    return colors_for(light_palette())


def color(token, colors=None):
    return (colors or light()).token(token).color


def formats_at(document, block_number, column):
    """The char formats applied by the highlighter at a column of a block (Qt's layout formats)."""
    block = document.findBlockByNumber(block_number)
    ranges = block.layout().formats()
    return [QTextCharFormat(r.format) for r in ranges if r.start <= column < r.start + r.length]


def new_document(text):
    # As in QPlainTextEdit: without a layout a QTextDocument never signals edits to its highlighter.
    document = QTextDocument()
    document.setDocumentLayout(QPlainTextDocumentLayout(document))
    document.setPlainText(text)
    return document


def highlighted(qtbot, text, file_name="x.py", cls=PygmentsHighlighter):
    document = new_document(text)
    highlighter = cls(document, lexer_for(file_name, text), light())
    highlighter.rehighlight()
    qtbot.waitUntil(lambda: highlighter.done, timeout=20000)
    return document, highlighter


def test_lexer_comes_from_the_name_or_the_content():
    assert lexer_for("tool.py", "").name == "Python"
    assert lexer_for("notes.md", "").name == "Markdown"
    assert lexer_for(None, "#!/usr/bin/env python3\nimport os\n").name == "Python"
    assert lexer_for("notes.txt", "just some words") is None
    assert lexer_for(None, "") is None


def test_a_python_keyword_is_coloured(qtbot):
    document, _ = highlighted(qtbot, "import os\n\ndef main():\n    return os.sep\n")
    (fmt,) = formats_at(document, 2, 0)  # "def"
    assert fmt.foreground().color() == color(Keyword) and fmt.fontWeight() == QFont.Weight.Bold
    (fmt,) = formats_at(document, 3, 6)  # "return"
    assert fmt.foreground().color() == color(Keyword)


def test_a_multi_line_string_is_followed_across_blocks_and_edits(qtbot):
    document, highlighter = highlighted(qtbot, 'x = """\nnot code: def if\n"""\ndef f(): pass\n')
    (inside,) = formats_at(document, 1, 10)  # "def" inside the string
    assert inside.foreground().color() == color(String.Double)
    assert highlighter.stack_of(document.findBlockByNumber(1).userState())[-1] != "root"
    (after,) = formats_at(document, 3, 0)  # the string closed: "def" is a keyword again
    assert after.foreground().color() == color(Keyword)
    # Deleting the opening quotes re-highlights the following lines as code.
    cursor = QTextCursor(document)
    cursor.setPosition(4)
    cursor.setPosition(7, QTextCursor.MoveMode.KeepAnchor)
    cursor.insertText("1")
    qtbot.waitUntil(lambda: highlighter.done)
    (now,) = formats_at(document, 1, 10)
    assert now.foreground().color() == color(Keyword)


def test_characters_outside_the_bmp_keep_formats_aligned(qtbot):
    document, _ = highlighted(qtbot, "s = '🦊🦊'  # a comment\n")
    text = document.firstBlock().text()  # Qt positions are UTF-16 units: each fox is two
    (fmt,) = formats_at(document, 0, text.index("#") + 2)
    assert fmt.foreground().color() == color(Comment.Single)
    assert not any(f.foreground().color() == color(Comment.Single) for f in formats_at(document, 0, text.index("'")))


class Counting(PygmentsHighlighter):
    calls = 0

    def highlightBlock(self, text):  # noqa: N802
        Counting.calls += 1
        super().highlightBlock(text)


def test_an_edit_re_highlights_only_until_the_state_converges(qtbot):
    lines = [f"value_{i} = compute({i})  # line {i}" for i in range(3000)]
    document, highlighter = highlighted(qtbot, "\n".join(lines), cls=Counting)
    Counting.calls = 0
    cursor = QTextCursor(document.findBlockByNumber(1500))
    cursor.insertText("x")
    qtbot.waitUntil(lambda: highlighter.done)
    assert Counting.calls <= 2
    cursor.insertText('"""')  # opens a string: everything after it changes
    qtbot.waitUntil(lambda: highlighter.done, timeout=20000)
    (fmt,) = formats_at(document, 2999, 2)
    assert fmt.foreground().color() == color(String.Double)


def stacks(document, highlighter):
    block, out = document.begin(), []
    while block.isValid():
        out.append(highlighter.stack_of(block.userState()))
        block = block.next()
    return out


def test_a_state_change_in_a_big_file_is_left_to_bursts_and_edits_between_bursts_are_followed(qtbot):
    lines = [f"def f{i}(x):\n    return x * {i}  # note" for i in range(20000)]  # 40,000 blocks
    document, highlighter = highlighted(qtbot, "\n".join(lines), cls=Counting)
    Counting.calls = 0
    cursor = QTextCursor(document.findBlockByNumber(20000))
    cursor.insertText('"""')  # everything after it becomes a string
    # Only one burst ran inside insertText (it used to visit every block to the end: 65 ms at 1 MB).
    assert 100 < Counting.calls < 20000 / 2
    # Edit above the block where the burst stopped before the next burst: the rest is still re-highlighted
    # from the right place, and the result is what highlighting the final text from scratch gives.
    Counting.calls = 0
    QTextCursor(document.findBlockByNumber(30)).insertText("x = 1\n\n")
    assert Counting.calls <= 3  # past the burst's deadline: the edited lines are visited and left, no more
    QTextCursor(document.findBlockByNumber(20005)).insertText("y\n")
    qtbot.waitUntil(lambda: highlighter.done, timeout=20000)
    fresh, fresh_highlighter = highlighted(qtbot, document.toPlainText())
    assert stacks(document, highlighter) == stacks(fresh, fresh_highlighter)
    (fmt,) = formats_at(document, document.blockCount() - 1, 6)
    assert fmt.foreground().color() == color(String.Double)
    # A full pass (a theme switch) is spread over bursts as well and still reaches the last line.
    dark = colors_for(dark_palette())
    highlighter.set_colors(dark)
    qtbot.waitUntil(lambda: highlighter.done, timeout=20000)
    (fmt,) = formats_at(document, document.blockCount() - 1, 6)
    assert fmt.foreground().color() == color(String.Double, dark) != color(String.Double)


def test_a_1_mb_file_is_highlighted_in_short_bursts(qtbot):
    line = "def f(x):  # comment\n    return {'key': [x, 1.5, None]}\n"
    text = line * (1024 * 1024 // len(line))
    document = new_document(text)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(1)
    highlighter = PygmentsHighlighter(document, lexer_for("big.py", ""), light())
    qtbot.waitUntil(lambda: highlighter.done, timeout=60000)
    timer.stop()
    print(f"1 MB: {len(ticks)} timer ticks, longest gap {max(b - a for a, b in zip(ticks, ticks[1:])) * 1000:.0f} ms")
    # The event loop ran throughout (a timer fired between bursts), and the last lines got their colours.
    assert len(ticks) > 10
    (fmt,) = formats_at(document, document.blockCount() - 3, 0)
    assert fmt.foreground().color() == color(Keyword)


def test_qt_calls_do_not_leak_references_to_none():
    # PySide6 6.12.0 on Python 3.11 lost one reference to None per call of a void method; the highlighter
    # makes such calls for every token, so the process aborted ("deallocating None") within seconds.
    import sys

    document = new_document("x")
    before = sys.getrefcount(None)
    for _ in range(1000):
        document.setModified(False)
    assert sys.getrefcount(None) >= before - 10


def test_a_dark_palette_switches_to_dark_colours(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QPalette

    from app.window.main_window import create_main_window
    from engine import MODEL_ENV

    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    (path := tmp_path / "t.py").write_text("def f():\n    pass\n")
    window = create_main_window([str(path)], QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    tab, document = window.tab, window.editor.document()
    palette = QPalette(tab.palette())
    palette.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    tab.setPalette(palette)
    assert tab.highlighter.colors.dark
    qtbot.waitUntil(lambda: tab.highlighter.done)
    (fmt,) = formats_at(document, 0, 0)
    assert fmt.foreground().color() == color(Keyword, colors_for(palette)) != color(Keyword)
    close_window(qtbot, window)
