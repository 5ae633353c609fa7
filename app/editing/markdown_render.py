"""Markdown to HTML (markdown-it-py, fenced code coloured by Pygments): plain logic, no Qt, so that the
preview's render process imports only what it needs.

Raw HTML in the Markdown is escaped ("commonmark" preset with html off): the preview shows the text, it does
not run or fetch anything. Pygments writes inline styles (`noclasses`) because QTextBrowser understands span
styles but not external style sheets.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound


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
