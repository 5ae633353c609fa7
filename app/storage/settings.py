"""The user's preferences as one value, stored with QSettings in the platform's config location.

`Settings` is a plain dataclass: the dialog edits a copy, the window applies it. Empty strings and None
mean "the default": the model from `engine.chosen_model` (REDRAFT_MODEL still wins over the setting), the
engine's own device choice, the model's own steps, a random seed, the system's theme and fixed-width font,
and the instruction box's own presets (an emptied list is the defaults again).
A stored value that does not parse (hand-edited, another version) falls back to the default, never an error.

Theme: "system" follows the OS light/dark scheme (Qt does this itself, live). "light" and "dark" ask the
platform through QStyleHints.setColorScheme and also set an explicit application palette, because platforms
without a theme plugin (offscreen, many X11 setups) ignore setColorScheme.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from app.rewrite.presets import DEFAULT_PRESETS, parse_presets
from engine import DEFAULT_CONTEXT_BUDGET

THEMES = ("system", "light", "dark")
DEVICES = ("", "cpu", "cuda", "mps")
_SCHEMES = {"system": Qt.ColorScheme.Unknown, "light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}


MAX_ALTERNATIVES = 8  # answers per run, at most: each costs a canvas (batched) or a run (in turn)


@dataclass
class Settings:
    """Attributes: model (a path, URL, hub id or "" for the default), device ("" = auto), steps and seed (None =
    the model's default / random), context_budget (tokens around the span), theme (one of THEMES), font_family
    ("" = the system's fixed font), font_size (0 = its size), presets (the instruction box's, in order) and
    alternatives (answers per run, batched where the model can; 1 = one)."""

    model: str = ""
    device: str = ""
    steps: int | None = None
    seed: int | None = None
    context_budget: int = DEFAULT_CONTEXT_BUDGET
    theme: str = "system"
    font_family: str = ""
    font_size: int = 0
    presets: tuple[str, ...] = DEFAULT_PRESETS
    alternatives: int = 1

    @classmethod
    def load(cls, store: QSettings) -> Settings:
        defaults = cls()
        values = {}
        for field in fields(cls):
            raw = store.value(f"preferences/{field.name}")
            values[field.name] = _parse(field.name, raw, getattr(defaults, field.name))
        return cls(**values)

    def save(self, store: QSettings) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):  # one per line: an ini file keeps it as one readable value
                value = "\n".join(value)
            store.setValue(f"preferences/{field.name}", "" if value is None else value)
        store.sync()

    def font(self) -> QFont:
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        if self.font_family:
            font.setFamily(self.font_family)
        if self.font_size > 0:
            font.setPointSize(self.font_size)
        return font


def _parse(name: str, raw, default):
    if raw is None or raw == "":
        return default
    if name in ("steps", "seed", "context_budget", "font_size", "alternatives"):
        try:
            value = int(raw)
        except (TypeError, ValueError):
            return default
        if name in ("steps", "alternatives") and value < 1 or name == "context_budget" and value < 64 or value < 0:
            return default
        if name == "alternatives" and value > MAX_ALTERNATIVES:
            return default
        return value
    if name == "presets":
        return parse_presets("\n".join(raw) if isinstance(raw, list) else str(raw))
    value = str(raw)
    if name == "theme" and value not in THEMES or name == "device" and value not in DEVICES:
        return default
    return value


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, color in (
        (roles.Window, "#2b2b2b"), (roles.WindowText, "#e6e6e6"), (roles.Base, "#1e1e1e"),
        (roles.AlternateBase, "#2b2b2b"), (roles.Text, "#e6e6e6"), (roles.Button, "#353535"),
        (roles.ButtonText, "#e6e6e6"), (roles.Highlight, "#3d6fb4"), (roles.HighlightedText, "#ffffff"),
        (roles.ToolTipBase, "#353535"), (roles.ToolTipText, "#e6e6e6"), (roles.PlaceholderText, "#a0a0a0"),
        (roles.Link, "#7fb2ff"),
    ):
        palette.setColor(role, QColor(color))
    return palette


def light_palette() -> QPalette:
    """The style's own light palette, with the two roles that read under 4.5:1 there made darker: Fusion's
    selection (#308cc6 under white text, 3.6:1) and placeholder text (half-transparent black, 3.9:1)."""
    palette = QApplication.style().standardPalette()
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#2470a8"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor("#626262"))
    return palette


def apply_theme(theme: str) -> None:
    """Force light or dark, or hand the choice back to the OS ("system"). Widgets get a PaletteChange and
    re-derive their colours from it (app/editing/colors.py)."""
    app = QApplication.instance()
    QGuiApplication.styleHints().setColorScheme(_SCHEMES.get(theme, Qt.ColorScheme.Unknown))
    if theme == "dark":
        app.setPalette(dark_palette())
    elif theme == "light":
        app.setPalette(light_palette())
    else:
        app.setPalette(QPalette())  # an empty palette: the platform's own again


def is_dark() -> bool:
    """Whether the application shows a dark palette now (whatever chose it)."""
    return QApplication.palette().color(QPalette.ColorRole.Base).lightness() < 128
