"""Every colour the editor and the Markdown preview paint, derived from one QPalette (the widget's own).

Each colour starts from the palette's roles (Base, Text, Window, Link) so that it follows the theme, light or
dark, and a theme switch only has to ask again (`colors_for(widget.palette())` is cached per palette):
- Background tints (the current line, draft and hunk states, find matches, code blocks) are Base mixed with an
  accent, pale on a light Base and deep on a dark one, so that Text stays readable on them.
- Foregrounds drawn over them (syntax colours, faded and still-masked draft pieces, line numbers, links) are
  pushed toward black or white until they reach TEXT_CONTRAST on every background they can sit on: WCAG 2.x
  AA for text, with relative luminance and contrast ratio computed as WCAG defines them.
Selected text keeps the palette's Highlight/HighlightedText (Qt paints the selection above every tint and
replaces the text colour), so the palettes themselves must pass (app/storage/settings.py makes ours do).

For other widgets: find highlights use `find_match` (every match) and `find_current` (the one at the
cursor) as backgrounds under the text's own colour; both are among the backgrounds every foreground is
checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pygments.styles import get_style_by_name
from pygments.token import _TokenType
from PySide6.QtGui import QColor, QPalette

TEXT_CONTRAST = 4.5
_TARGET = TEXT_CONTRAST + 0.1  # a little above the line, so that rounding to 8-bit channels never lands under it
_LIGHT_STYLE, _DARK_STYLE = "default", "monokai"  # Pygments styles the syntax colours start from


def luminance(color: QColor) -> float:
    """WCAG 2.x relative luminance of an opaque sRGB colour."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(color.red()) + 0.7152 * linear(color.green()) + 0.0722 * linear(color.blue())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2.x contrast ratio (1 to 21) of two opaque colours."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """`a` moved a fraction `t` of the way to `b` (0: a, 1: b), alpha ignored."""
    return QColor(*(round(x + (y - x) * t) for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True)))


def flatten(color: QColor, over: QColor) -> QColor:
    """A translucent colour as it shows over `over` (Qt's placeholder text is half-transparent Text)."""
    return mix(over, color, color.alphaF())


def readable(color: QColor, backgrounds: list[QColor], toward: QColor) -> QColor:
    """`color`, moved toward `toward` (black or white) just far enough to read on every background."""
    for i in range(41):
        candidate = mix(color, toward, i / 40)
        if min(contrast(candidate, bg) for bg in backgrounds) >= _TARGET:
            return candidate
    return QColor(toward)


@dataclass(frozen=True)
class TokenStyle:
    """A syntax colour: `color` None means the text's own colour."""

    color: QColor | None
    bold: bool = False
    italic: bool = False
    underline: bool = False

    def pygments(self) -> str:
        """The same style as a Pygments style string (every attribute spelled out, nothing inherited)."""
        words = ["noinherit"]
        words += ["bold"] if self.bold else []
        words += ["italic"] if self.italic else []
        words += ["underline"] if self.underline else []
        words += [self.color.name()] if self.color is not None else []
        return " ".join(words)


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so that formats can be cached per Colors
class Colors:
    """The colours of one palette. Backgrounds (tints): current_line, changed (a draft's changed pieces and the
    final text before review), hunk (undecided), current_hunk, kept, dropped, pinned (words the user keeps while the
    rest of a draft is re-noised, Ctrl+K), find_match, find_current, code_background. Foregrounds: text (the
    palette's), faded (low-confidence pieces), placeholder (masked pieces), line_number (current:
    line_number_current), link, code_text, and `syntax` per Pygments token. selection / selected_text are the
    palette's Highlight / HighlightedText."""

    dark: bool
    base: QColor
    text: QColor
    window: QColor
    window_text: QColor
    selection: QColor
    selected_text: QColor
    current_line: QColor
    changed: QColor
    hunk: QColor
    current_hunk: QColor
    kept: QColor
    dropped: QColor
    pinned: QColor
    find_match: QColor
    find_current: QColor
    code_background: QColor
    faded: QColor
    placeholder: QColor
    line_number: QColor
    line_number_current: QColor
    link: QColor
    code_text: QColor
    syntax: dict[_TokenType, TokenStyle]

    def pairs(self) -> list[tuple[str, QColor, str, QColor]]:
        """Every (foreground name, colour, background name, colour) that is painted as text on background."""
        out = []

        def add(fg: str, color: QColor | None, backgrounds) -> None:
            if color is not None:
                out.extend((fg, color, bg, getattr(self, bg)) for bg in backgrounds)

        add("text", self.text, _BACKGROUNDS)
        for ttype, style in self.syntax.items():
            add(f"syntax {ttype}", style.color, _BACKGROUNDS)
        add("faded", self.faded, _UNDER_DRAFTS)
        add("placeholder", self.placeholder, _UNDER_DRAFTS)
        add("selected_text", self.selected_text, ["selection"])
        add("line_number", self.line_number, ["window"])
        add("line_number_current", self.line_number_current, ["window"])
        add("window_text", self.window_text, ["window"])  # the hunk bar's label
        add("link", self.link, ["base", "code_background"])
        add("code_text", self.code_text, ["code_background"])
        return out

    def token(self, ttype: _TokenType) -> TokenStyle:
        """The style of a token type, or of its nearest ancestor the style knows (lexers make subtypes)."""
        while ttype not in self.syntax and ttype.parent is not None:
            ttype = ttype.parent
        return self.syntax.get(ttype, TokenStyle(None))

    def code_styles(self) -> tuple[tuple[str, str], ...]:
        """The syntax colours as (token name, Pygments style string) pairs: picklable, for the preview's
        render process (app/editing/markdown_render.py)."""
        return tuple((str(ttype), style.pygments()) for ttype, style in self.syntax.items())


# Where text can sit: Base and every tint. Faded and masked pieces only show in a running draft, which has
# no tint of its own (and no hunk states yet) but may have pinned words.
_BACKGROUNDS = ("base", "current_line", "changed", "hunk", "current_hunk", "kept", "dropped", "pinned",
                "find_match", "find_current", "code_background")
_UNDER_DRAFTS = ("base", "current_line", "pinned", "find_match", "find_current")


_ROLES = (
    QPalette.ColorRole.Base, QPalette.ColorRole.Text, QPalette.ColorRole.Window, QPalette.ColorRole.WindowText,
    QPalette.ColorRole.Highlight, QPalette.ColorRole.HighlightedText, QPalette.ColorRole.PlaceholderText,
    QPalette.ColorRole.Link,
)


def colors_for(palette: QPalette) -> Colors:
    """The colours for `palette` (the same Colors object for the same palette colours)."""
    return _colors(tuple(palette.color(role).rgba() for role in _ROLES))


@lru_cache(maxsize=8)
def _colors(key: tuple[int, ...]) -> Colors:
    base, text, window, window_text, selection, selected_text, placeholder_role, link = (
        QColor.fromRgba(rgba) for rgba in key
    )
    dark = base.lightness() < 128
    extreme = QColor("#ffffff" if dark else "#000000")  # where a foreground goes to stand out

    def tint(accent: str, light: float, deep: float) -> QColor:
        return mix(base, QColor(accent), deep if dark else light)

    tints = dict(
        current_line=mix(base, text, 0.07 if dark else 0.05),
        changed=tint("#ffd000", 0.35, 0.16),
        hunk=tint("#ffd000", 0.35, 0.16),
        current_hunk=tint("#ffb300", 0.6, 0.22),
        kept=tint("#4caf50", 0.3, 0.2),
        dropped=tint("#e57373", 0.28, 0.2),
        pinned=tint("#7e57c2", 0.3, 0.3),
        find_match=tint("#26c6da", 0.3, 0.16),
        find_current=tint("#26c6da", 0.5, 0.24),
        code_background=mix(base, text, 0.06 if dark else 0.04),
    )
    backgrounds = [base, *tints.values()]
    under_drafts = [base, *(tints[name] for name in _UNDER_DRAFTS[1:])]
    style = get_style_by_name(_DARK_STYLE if dark else _LIGHT_STYLE)
    syntax = {}
    for ttype, spec in style:
        color = readable(QColor(f"#{spec['color']}"), backgrounds, extreme) if spec["color"] else None
        syntax[ttype] = TokenStyle(color, bool(spec["bold"]), bool(spec["italic"]), bool(spec["underline"]))
    return Colors(
        dark=dark,
        base=base,
        text=text,
        window=window,
        window_text=window_text,
        selection=selection,
        selected_text=selected_text,
        **tints,
        faded=readable(mix(text, base, 0.5), under_drafts, extreme),
        # Masked pieces: a grey leaning to the link's hue, so they differ from faded ones at the same contrast.
        placeholder=readable(mix(mix(text, base, 0.6), link, 0.4), under_drafts, extreme),
        line_number=readable(flatten(placeholder_role, window), [window], extreme),
        line_number_current=window_text,
        link=readable(link, [base, tints["code_background"]], extreme),
        code_text=text,
        syntax=syntax,
    )

