"""The Markdown preview: rendered HTML with Pygments-coloured code, shown beside .md files, following typing."""

import pytest
from PySide6.QtCore import QSettings, Qt

from app.window.main_window import create_main_window
from app.editing.markdown_render import render_markdown
from engine import MODEL_ENV
from tests.app import close_window

DOC = "# Notes\n\n```python\ndef main():\n    return 42\n```\n"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))
    win = create_main_window([], QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    yield win
    close_window(qtbot, win)


def test_fenced_code_is_coloured_by_pygments_and_raw_html_is_escaped():
    html = render_markdown(DOC + "\n<img src=x onerror=alert(1)>\n\n```nosuchlanguage\n<b>\n```\n")
    assert "<h1>Notes</h1>" in html
    assert '<span style="color: #008000; font-weight: bold">def</span>' in html
    assert '<span style="color: #666">42</span>' in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "<pre><code>&lt;b&gt;\n</code></pre>" in html  # unknown language: plain, escaped


def test_the_preview_shows_beside_markdown_and_follows_typing(qtbot, window, tmp_path):
    (path := tmp_path / "notes.md").write_text(DOC)
    assert window.open_file(str(path))
    tab = window.tab
    assert tab.preview.isVisibleTo(tab)
    qtbot.waitUntil(lambda: "<h1>Notes</h1>" in tab.preview.html)
    assert "def main():" in tab.preview.toPlainText()
    cursor = window.editor.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    window.editor.setTextCursor(cursor)
    qtbot.keyClick(window.editor, Qt.Key.Key_Return)  # QTest maps no key to "\n" (Qt asserts on it)
    qtbot.keyClicks(window.editor, "## Added *now*")
    assert "Added" not in tab.preview.html  # debounced: no render on every key
    qtbot.waitUntil(lambda: "<h2>Added <em>now</em></h2>" in tab.preview.html, timeout=3000)
    assert "Added now" in tab.preview.toPlainText()


def test_no_preview_for_other_files_until_saved_as_markdown(qtbot, window, tmp_path):
    (path := tmp_path / "plain.txt").write_text("# Not a heading here\n")
    assert window.open_file(str(path))
    tab = window.tab
    assert not tab.preview.isVisibleTo(tab) and tab.preview.html == ""
    assert window.save_as(str(tmp_path / "now.md"))
    assert tab.preview.isVisibleTo(tab)
    qtbot.waitUntil(lambda: "<h1>Not a heading here</h1>" in tab.preview.html)
    assert tab.highlighter is not None and tab.highlighter.lexer.name == "Markdown"


def test_the_preview_follows_a_text_that_never_stops_changing(qtbot, window, tmp_path):
    """A rewrite's drafts change the text every frame: the debounce alone would wait for the end."""
    (path := tmp_path / "live.md").write_text(DOC)
    assert window.open_file(str(path))
    tab = window.tab
    qtbot.waitUntil(lambda: "<h1>Notes</h1>" in tab.preview.html)
    cursor = window.editor.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    typed = 0
    for _ in range(400):  # a key every 50 ms, each well inside the debounce; hang guard 20 s
        cursor.insertText("x")
        typed += 1
        qtbot.wait(50)
        if "xxx" in tab.preview.html:
            break
    assert "xxx" in tab.preview.html  # rendered while the changes went on...
    assert typed < 400  # ...not only after they stopped

