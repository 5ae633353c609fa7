"""The Markdown preview beside a `.md` file: markdown-it-py to HTML, fenced code coloured by Pygments.

`render_markdown` is plain logic (text in, HTML out). The widget re-renders DEBOUNCE_MS after the last
change, so typing never waits for a render. Raw HTML in the Markdown is escaped ("commonmark" preset with
html off): the preview shows the text, it does not run or fetch anything. Pygments writes inline styles
(`noclasses`) because QTextBrowser understands span styles but not external style sheets.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QTextBrowser

DEBOUNCE_MS = 250
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")


def is_markdown(file_name: str | None) -> bool:
    return bool(file_name) and file_name.lower().endswith(MARKDOWN_SUFFIXES)


def _highlight_code(code: str, lang: str, _attrs) -> str:
    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return f"<pre><code>{html.escape(code)}</code></pre>"
    return highlight(code, lexer, HtmlFormatter(noclasses=True, nowrap=True))


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "highlight": _highlight_code}).enable("table")


def render_markdown(text: str) -> str:
    """HTML for `text`: CommonMark plus tables, code fences highlighted when their language is known."""
    return _MARKDOWN.render(text)


class MarkdownPreview(QTextBrowser):
    """A read-only view of rendered Markdown; `schedule(text_source)` renders after a quiet moment."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)  # a click must not navigate away from the preview or open anything
        self._source = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.render_now)
        self.html = ""
        self._rendered = ""

    def schedule(self, source) -> None:
        """Re-render from `source()` (a callable returning the text) DEBOUNCE_MS after the last call."""
        self._source = source
        self._timer.start()

    def render_now(self) -> None:
        self._timer.stop()
        if self._source is None:
            return
        text = self._source()
        if text == self._rendered and self.html:
            return  # highlighting re-formats blocks and Qt reports that as a change: nothing to render
        self._rendered = text
        self.html = render_markdown(text)
        bar = self.verticalScrollBar()
        position = bar.value()
        self.setHtml(self.html)
        bar.setValue(position)  # keep the reader's place while the text changes
