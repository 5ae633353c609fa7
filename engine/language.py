"""The language of a file, for code-aware prompts: a Pygments lexer name, or None for prose."""

from __future__ import annotations

from pygments.lexers import get_lexer_for_filename
from pygments.util import ClassNotFound

PROSE = {"Text only", "Text output"}


def language_for(path: str, text: str = "") -> str | None:
    try:
        name = get_lexer_for_filename(path, code=text[:4096]).name
    except ClassNotFound:
        return None
    return None if name in PROSE else name
