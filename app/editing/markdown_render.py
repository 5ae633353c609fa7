"""Markdown to HTML (markdown-it-py, fenced code coloured by Pygments): plain logic, no Qt, so that the
preview's render process imports only what it needs.

Raw HTML in the Markdown is escaped ("commonmark" preset with html off): the preview shows the text, it does
not run or fetch anything. Pygments writes inline styles (`noclasses`) because QTextBrowser understands span
styles but not external style sheets. The code colours are the preview's theme (app/editing/colors.py,
`Colors.code_styles`), handed over as plain pairs because this runs in another process; none: Pygments'
"default" style.
"""

from __future__ import annotations

import html
from functools import lru_cache, partial

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.style import Style
from pygments.token import string_to_tokentype
from pygments.util import ClassNotFound

CodeStyles = tuple[tuple[str, str], ...]  # (token type name, Pygments style string)


def _highlight_code(formatter: HtmlFormatter, code: str, lang: str, _attrs) -> str:
    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return f"<pre><code>{html.escape(code)}</code></pre>"
    return highlight(code, lexer, formatter)


@lru_cache(maxsize=4)  # one per theme seen: building the style and the parser is the costly part
def _markdown(code_styles: CodeStyles | None) -> MarkdownIt:
    style = "default"
    if code_styles is not None:
        style = type("PaletteStyle", (Style,), {"styles": {string_to_tokentype(n): s for n, s in code_styles}})
    formatter = HtmlFormatter(style=style, noclasses=True, nowrap=True)
    return MarkdownIt("commonmark", {"html": False, "highlight": partial(_highlight_code, formatter)}).enable("table")


def render_markdown(text: str, code_styles: CodeStyles | None = None) -> str:
    """HTML for `text`: CommonMark plus tables, code fences highlighted when their language is known."""
    return _markdown(code_styles).render(text)
