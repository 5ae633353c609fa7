"""The View menu's state, one value for the whole window: word wrap, zoom, the Markdown preview, line numbers.

Every tab shows the same options (a new tab gets them too). Zoom is a number of points added to the font
size of the preferences, so Reset Zoom returns exactly to it and a font change in Preferences keeps the zoom.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QPlainTextEdit

from app.editing.markdown_preview import is_markdown

MIN_POINTS, MAX_POINTS = 4, 72


def _points(font: QFont) -> float:
    return font.pointSizeF() if font.pointSizeF() > 0 else 10.0  # a pixel-sized font has no point size


@dataclass
class ViewOptions:
    word_wrap: bool = True
    preview: bool = True
    line_numbers: bool = True
    zoom: int = 0  # points

    def zoom_by(self, step: int, font: QFont) -> None:
        """Zoom `step` points in (or out), keeping the size between MIN_POINTS and MAX_POINTS."""
        base = _points(font)
        self.zoom = round(min(max(base + self.zoom + step, MIN_POINTS), MAX_POINTS) - base)

    def apply(self, tab, font: QFont) -> None:
        """Show `tab` (a DocumentTab) with these options; `font` is the preferences' editor font."""
        editor = tab.editor
        editor.setFont(_zoomed(font, self.zoom))
        editor.setLineWrapMode(
            QPlainTextEdit.LineWrapMode.WidgetWidth if self.word_wrap else QPlainTextEdit.LineWrapMode.NoWrap
        )
        editor.set_line_numbers_visible(self.line_numbers)
        path = tab.buffer.path
        tab.preview.setVisible(self.preview and is_markdown(path.name if path else None))
        tab.preview.setFont(_zoomed(QApplication.font(), self.zoom))


def _zoomed(font: QFont, zoom: int) -> QFont:
    result = QFont(font)
    result.setPointSizeF(min(max(_points(font) + zoom, MIN_POINTS), MAX_POINTS))
    return result
