"""The plain-text editing widget every tab uses: line numbers, the current line highlighted, overlays.

Extra selections are one list per widget, so several owners (the current-line band here, the rewrite's draft
highlights in app/editing/editor.py, the find bar's matches) would overwrite each other. Owners therefore never
call `setExtraSelections`: each hands its ranges to `set_overlay` under its own layer, and the widget shows the
current line first, then the find matches, then the rewrite's highlights on top.
Qt paints the cursor's own selection above all extra selections, in the palette's
Highlight/HighlightedText, so a selection ending on the current line still shows as a selection there.
Colours come from app/editing/colors.py.

Line numbers follow Qt's "Code Editor" example: a child widget in the left viewport margin that paints only
the visible blocks, so a file of any length costs the same per repaint.

`raw_text()` is the document's text as the user typed it: QPlainTextEdit.toPlainText() turns no-break spaces
into plain spaces and U+2028 into newlines, which would silently change a saved file.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QFontDatabase, QPainter, QTextFormat
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QWidget

from app.editing.colors import colors_for


class _LineNumbers(QWidget):
    def __init__(self, editor: CodeEditor) -> None:
        super().__init__(editor)
        self.editor = editor

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(self.editor.line_number_width(), 0)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.editor.paint_line_numbers(event.rect())


class CodeEditor(QPlainTextEdit):
    """QPlainTextEdit with line numbers, a current-line band and one overlay list of extra selections."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._overlays: dict[str, list[QTextEdit.ExtraSelection]] = {"find": [], "rewrite": []}  # drawn in this order
        self._margin = -1
        self._numbers_shown = True
        self.line_numbers = _LineNumbers(self)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))  # sets the tab stops too
        self.blockCountChanged.connect(self._update_margin)
        self.updateRequest.connect(self._on_update_request)
        self.cursorPositionChanged.connect(self._show_selections)
        self._update_margin()
        self._show_selections()

    # -- overlay -----------------------------------------------------------------------------------------

    def set_overlay(self, selections: list[QTextEdit.ExtraSelection], layer: str = "rewrite") -> None:
        """Show `selections` above the current-line band (replacing the previous ones of `layer`)."""
        self._overlays[layer] = list(selections)
        self._show_selections()

    def overlay(self, layer: str = "rewrite") -> list[QTextEdit.ExtraSelection]:
        return list(self._overlays[layer])

    def _show_selections(self) -> None:
        line = QTextEdit.ExtraSelection()
        line.format.setBackground(colors_for(self.palette()).current_line)
        line.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        line.cursor = self.textCursor()
        line.cursor.clearSelection()
        self.setExtraSelections([line, *(sel for layer in self._overlays.values() for sel in layer)])

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            # A theme switch: the band kept the old theme's colour (a white band under light text in dark)
            # until the cursor moved.
            self._show_selections()
            self.line_numbers.update()

    # -- text --------------------------------------------------------------------------------------------

    def raw_text(self) -> str:
        """The text exactly as typed, lines joined with "\\n" (see the module docstring)."""
        return self.document().toRawText().replace("\u2029", "\n")

    # -- line numbers ------------------------------------------------------------------------------------

    def set_line_numbers_visible(self, visible: bool) -> None:
        """Show or hide the line numbers (View > Line Numbers); hidden, they take no margin."""
        self._numbers_shown = visible
        self.line_numbers.setVisible(visible)
        self._update_margin()

    def line_numbers_visible(self) -> bool:
        return self._numbers_shown

    def line_number_width(self) -> int:
        if not self._numbers_shown:
            return 0
        digits = len(str(max(1, self.blockCount())))
        return 12 + self.fontMetrics().horizontalAdvance("9") * max(digits, 2)

    def _update_margin(self, _count: int = 0) -> None:
        width = self.line_number_width()
        if width != self._margin:  # setViewportMargins relayouts even when nothing changes: costly per update
            self._margin = width
            self.setViewportMargins(width, 0, 0, 0)
            self._place_line_numbers()

    def _on_update_request(self, rect: QRect, dy: int) -> None:
        # Qt sends one of these for every re-laid-out block (a highlighting burst sends thousands): stay cheap.
        if dy:
            self.line_numbers.scroll(0, dy)
        else:
            self.line_numbers.update(0, rect.y(), self.line_numbers.width(), rect.height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._place_line_numbers()

    def _place_line_numbers(self) -> None:
        area = self.contentsRect()
        self.line_numbers.setGeometry(QRect(area.left(), area.top(), self.line_number_width(), area.height()))

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # zoom: wider digits need a wider margin, tabs stay 4 spaces
            self.setTabStopDistance(4 * self.fontMetrics().horizontalAdvance(" "))
            self._update_margin()

    def paint_line_numbers(self, rect: QRect) -> None:
        painter = QPainter(self.line_numbers)
        colors = colors_for(self.palette())
        painter.fillRect(rect, colors.window)
        block = self.firstVisibleBlock()
        number = block.blockNumber()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        bottom = top + round(self.blockBoundingRect(block).height())
        current = self.textCursor().blockNumber()
        width, height = self.line_numbers.width() - 6, self.fontMetrics().height()
        while block.isValid() and top <= rect.bottom():
            if block.isVisible() and bottom >= rect.top():
                painter.setPen(colors.line_number_current if number == current else colors.line_number)
                painter.drawText(0, top, width, height, Qt.AlignmentFlag.AlignRight, str(number + 1))
            block = block.next()
            top = bottom
            bottom = top + round(self.blockBoundingRect(block).height())
            number += 1
        painter.end()
