"""Find and replace for one editor: a bar below it (not a dialog), so the document stays in reach.

- `open(replace)` shows the bar (the replace row only for replace), seeds the query with a one-line selection,
  and focuses and selects the query. Typing searches incrementally from where the search began: the first
  match at or after it is selected, every match near the view is highlighted, the label says "3 of 12".
- Enter / F3: next match, Shift+Enter / Shift+F3: previous, both wrapping around. With the bar closed,
  `find_next()` / `find_previous()` reuse the last query. Esc closes the bar and gives the editor its focus.
- Match case, whole word and regular expression (Python's `re`; a bad pattern is one line in the bar).
- Replace replaces the selected match and moves on; Replace all is one undo step (on a large document in
  chunks over event-loop turns, the editor read-only meanwhile: app/editing/replace_all.py). In regex mode
  the replacement may use \\1 and \\g<name>.

A rewrite shown in the editor ends (cancelled: the original text comes back, as Esc does) before any find
action, so find never sees, selects or replaces model text. Edits the document gets otherwise while a
rewrite is shown are not searched: the bar waits until the rewrite is gone.

Large documents: typing is debounced by a frame; the count runs a slice at a time (app/editing/find_search.py)
between events; only matches in and near the view are highlighted, again after each scroll.

Colours come from app/editing/colors.py (find_match, find_current: tints of the editor's palette); the
text keeps its own colour (Text on both reads at well over 4.5:1 in the light and the dark palette).
"""

from __future__ import annotations

import re

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.editing.colors import colors_for
from app.editing.editor import Editor
from app.editing.find_search import Matches, Query, Utf16, first_match
from app.editing.replace_all import ReplaceAll

DEBOUNCE_MS = 16  # one frame: a burst of keystrokes searches once
MAX_HIGHLIGHTS = 1000  # in and near the view; a screen of one-letter matches stays below


class FindBar(QFrame):
    """The find and replace bar of one editor (see the module docstring).

    Attributes:
        query, replacement: the two fields; status: "3 of 12", "No results" or what is wrong with the pattern.
        match_case, whole_word, regex: the toggles.

    Signals:
        message(str): a one-line message for the status bar (wrapping, replacements made, a search with the bar closed).
    """

    message = Signal(str)

    def __init__(self, editor: Editor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.query = QLineEdit(placeholderText="Find")
        self.status = QLabel()
        self.match_case = QCheckBox("Match case")
        self.whole_word = QCheckBox("Whole word")
        self.regex = QCheckBox("Regex")
        self.regex.setToolTip("Python regular expressions; the replacement may use \\1 and \\g<name>")
        previous = QToolButton(text="↑", toolTip="Previous match (Shift+Enter, Shift+F3)")
        following = QToolButton(text="↓", toolTip="Next match (Enter, F3)")
        close = QToolButton(text="✕", toolTip="Close (Esc)")
        self.replacement = QLineEdit(placeholderText="Replace with")
        self.replace_button = QPushButton("Replace")
        self.replace_all_button = QPushButton("Replace all")
        find_row = QHBoxLayout()
        for widget in (self.query, self.status, self.match_case, self.whole_word, self.regex, previous, following, close):
            find_row.addWidget(widget, 1 if widget is self.query else 0)
        self.replace_row = QWidget()
        replace_layout = QHBoxLayout(self.replace_row)
        replace_layout.setContentsMargins(0, 0, 0, 0)
        replace_layout.addWidget(self.replacement, 1)
        replace_layout.addWidget(self.replace_button)
        replace_layout.addWidget(self.replace_all_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(find_row)
        layout.addWidget(self.replace_row)
        self.status.setMinimumWidth(self.status.fontMetrics().horizontalAdvance("9999 of 9999"))

        self._origin = 0  # where the incremental search starts: the match typing extends
        self._text: tuple[str, Utf16] | None = None  # the document's text and its offsets, None when stale
        self._matches: Matches | None = None  # of the current query in that text
        self._replacing: ReplaceAll | None = None  # a replace-all run whose chunks have not all landed
        self._move = False  # the pending search selects the first match (typing) or only recounts (an edit)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS, timeout=self._search)
        self._scanner = QTimer(self, interval=0, timeout=self._scan)
        self.query.textEdited.connect(self._on_query_edited)
        for toggle in (self.match_case, self.whole_word, self.regex):
            toggle.toggled.connect(self._on_query_edited)
        previous.clicked.connect(self.find_previous)
        following.clicked.connect(self.find_next)
        close.clicked.connect(self.close)
        self.replace_button.clicked.connect(self.replace)
        self.replace_all_button.clicked.connect(self.replace_all)
        for widget in self.findChildren(QWidget):  # Esc and F3 from any part of the bar (a toggle, a button too)
            if widget.focusPolicy() != Qt.FocusPolicy.NoFocus:
                widget.installEventFilter(self)
        editor.document().contentsChange.connect(self._on_contents_change)
        # After a scroll, not inside it: Qt scrolls from within setTextCursor, and setting extra selections
        # there (with the layout half updated) crashed. Also one highlight for a burst of scroll steps.
        self._rehighlight = QTimer(self, singleShot=True, interval=0, timeout=self._highlight)
        editor.verticalScrollBar().valueChanged.connect(lambda _value: self._rehighlight.start())  # not start(value)
        self._viewport = editor.viewport()  # kept: asking the editor for it fails while the tab is destroyed
        self._viewport.installEventFilter(self)
        self.hide()

    # -- the API the menus call --------------------------------------------------------------------------

    def open(self, replace: bool = False) -> None:  # noqa: A003 - the bar opens
        """Show the bar (the replace row only when `replace`), the query seeded with a one-line selection."""
        self._end_rewrite()
        self.replace_row.setVisible(replace)
        cursor = self.editor.textCursor()
        selected = cursor.selectedText()
        if selected and "\u2029" not in selected and "\u2028" not in selected:
            self.query.setText(re.escape(selected) if self.regex.isChecked() else selected)
        self._origin = cursor.selectionStart()
        self.show()
        self.query.setFocus()
        self.query.selectAll()
        self._schedule(move=True)

    def find_next(self) -> None:
        self._step(forward=True)

    def find_previous(self) -> None:
        self._step(forward=False)

    def close(self) -> bool:  # the bar only hides: the query stays for F3
        self._debounce.stop()
        self._scanner.stop()
        self._rehighlight.stop()
        self.hide()
        self.editor.set_overlay([], "find")
        self.editor.setFocus()
        return True

    # -- replacing ---------------------------------------------------------------------------------------

    def replace(self) -> None:
        """Replace the selected match (a selection that is no match: just go to the next one), then go on."""
        self._end_rewrite()
        if self._replacing is not None:
            return  # the document is not the user's to edit until replace all is done
        found = self._compiled()
        if found is None:
            return
        query, pattern = found
        text, offsets = self._document_text()
        cursor = self.editor.textCursor()
        start, end = offsets.index(cursor.selectionStart()), offsets.index(cursor.selectionEnd())
        match = first_match(pattern, text, start) if start != end else None
        if match is not None and match.span() == (start, end):
            try:
                new = query.expand(match, self.replacement.text())
            except ValueError as exc:
                self.status.setText(str(exc))
                return
            cursor.beginEditBlock()
            cursor.insertText(new)
            cursor.endEditBlock()
            self.editor.setTextCursor(cursor)  # after the new text: the next match is past it
        self._step(forward=True)

    def replace_all(self) -> None:
        """Replace every match as one undo step; a large document in chunks over event-loop turns, the editor
        read-only until the last one lands (app/editing/replace_all.py)."""
        self._end_rewrite()
        if self._replacing is not None:
            return  # the run under way replaces them
        found = self._compiled()
        if found is None:
            return
        query, pattern = found
        text, offsets = self._document_text()
        run = ReplaceAll(self.editor, query, pattern, self.replacement.text(), text, offsets, self)
        run.progress.connect(self._on_replace_progress)
        run.finished.connect(self._on_replace_finished)
        self._replacing = run
        try:
            run.start()
        except ValueError as exc:
            self._replacing = None
            run.deleteLater()
            self.status.setText(str(exc))
            return
        if run.first is not None:
            cursor = QTextCursor(self.editor.document())
            cursor.setPosition(offsets.position(run.first))
            self.editor.setTextCursor(cursor)
        if run.running:
            self.replace_button.setEnabled(False)
            self.replace_all_button.setEnabled(False)

    def _on_replace_progress(self, count: int) -> None:
        self.status.setText(f"Replacing… {count}")

    def _on_replace_finished(self, count: int, error: str) -> None:
        run, self._replacing = self._replacing, None
        if run is not None:
            run.deleteLater()
        self.replace_button.setEnabled(True)
        self.replace_all_button.setEnabled(True)
        if count == 0 and not error:
            self.status.setText("No results")
            return
        if error:  # what was replaced before it stopped stays one undo step (or was just undone)
            self.message.emit(f"{error} after {count} replacement{'' if count == 1 else 's'}")
        else:
            undo = "Ctrl+Z undoes them all" if count != 1 else "Ctrl+Z undoes it"
            self.message.emit(f"Replaced {count} match{'' if count == 1 else 'es'} ({undo})")
        self._schedule(move=False)  # the count of what is left

    # -- searching ---------------------------------------------------------------------------------------

    def _end_rewrite(self) -> None:
        # A rewrite shows model text in the document: find ends it first, as Esc does (the original comes back).
        self.editor.cancel_rewrite()

    def _rewrite_shown(self) -> bool:
        session = self.editor.session
        return session is not None and session.active

    def _query(self) -> Query:
        return Query(self.query.text(), self.match_case.isChecked(), self.whole_word.isChecked(), self.regex.isChecked())

    def _compiled(self) -> tuple[Query, re.Pattern] | None:
        """The query and its pattern; None (and the reason in the label) when empty or invalid."""
        query = self._query()
        if not query.text:
            self.status.setText("")
            return None
        try:
            return query, query.compile()
        except ValueError as exc:
            self.status.setText(str(exc))
            if not self.isVisible():
                self.message.emit(str(exc))
            return None

    def _document_text(self) -> tuple[str, Utf16]:
        if self._text is None:
            text = self.editor.raw_text()
            self._text = (text, Utf16(text))
        return self._text

    def _on_contents_change(self, _position: int, removed: int, added: int) -> None:
        if removed == 0 and added == 0:
            return  # a layout or format change, not a text change
        self._text = None
        self._matches = None
        if self.isVisible() and self._replacing is None:  # a replace-all run recounts once, at its end
            self._schedule(move=False)

    def _on_query_edited(self, *_args) -> None:
        self._end_rewrite()
        self._schedule(move=True)

    def _schedule(self, move: bool) -> None:
        self._move = self._move or move
        self._debounce.start()

    def _search(self) -> None:
        """After a query change (select the first match from the origin) or an edit (recount only)."""
        move, self._move = self._move, False
        self._matches = None
        self._scanner.stop()
        if not self.isVisible() or self._rewrite_shown():
            self.editor.set_overlay([], "find")
            return
        found = self._compiled()
        if found is None:
            self.editor.set_overlay([], "find")
            return
        text, offsets = self._document_text()
        self._matches = Matches(found[1], text)
        if move:
            origin = offsets.index(self._origin)
            match = first_match(found[1], text, origin) or first_match(found[1], text, 0)
            if match is not None:
                self._select(*match.span())
            else:
                cursor = self.editor.textCursor()
                cursor.setPosition(self._origin)
                self.editor.setTextCursor(cursor)
        self._scanner.start()  # the count goes on between events, from the next one
        self._highlight()

    def _scan(self) -> None:
        matches = self._matches
        if matches is None or matches.scan():
            self._scanner.stop()
        self._show_count()

    def _show_count(self) -> None:
        matches = self._matches
        if matches is None:
            return
        _, offsets = self._document_text()
        cursor = self.editor.textCursor()
        start, end = offsets.index(cursor.selectionStart()), offsets.index(cursor.selectionEnd())
        current = matches.index(start, end) if start < matches.scanned else None
        total = str(len(matches)) if matches.done else "…"
        if matches.done and not matches:
            self.status.setText("No results")
        elif current is not None:
            self.status.setText(f"{current + 1} of {total}")
        else:
            self.status.setText(f"{total} matches" if matches.done else "…")

    def _step(self, forward: bool) -> None:
        """F3 / Shift+F3: the next or previous match from the selection, wrapping; opens the bar with no query."""
        self._end_rewrite()
        if not self.query.text():
            self.open()
            return
        found = self._compiled()
        if found is None:
            return
        pattern = found[1]
        text, offsets = self._document_text()
        cursor = self.editor.textCursor()
        start, end = offsets.index(cursor.selectionStart()), offsets.index(cursor.selectionEnd())
        if forward:
            match = first_match(pattern, text, end)
            span = match.span() if match is not None else None
            if span is None and (match := first_match(pattern, text, 0)) is not None:
                span = match.span()
                self.message.emit("Search wrapped to the top")
        else:
            if self._matches is None or self._matches.pattern != pattern or self._matches.text is not text:
                self._matches = Matches(pattern, text)
            matches = self._matches.finish()
            i = matches.before(start)
            if i is None and len(matches):
                i = len(matches) - 1
                self.message.emit("Search wrapped to the bottom")
            span = (matches.starts[i], matches.ends[i]) if i is not None else None
        if span is None:
            self.status.setText("No results")
            if not self.isVisible():
                self.message.emit(f"No results for {self.query.text()!r}")
            return
        self._select(*span)
        self._origin = self.editor.textCursor().selectionStart()
        if self.isVisible():
            self._show_count()
            self._highlight()

    def _select(self, start: int, end: int) -> None:
        _, offsets = self._document_text()
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(offsets.position(start))
        cursor.setPosition(offsets.position(end), QTextCursor.MoveMode.KeepAnchor)
        self.editor.setTextCursor(cursor)  # scrolls it into view

    # -- highlighting ------------------------------------------------------------------------------------

    def _highlight(self) -> None:
        """Highlight the matches in view and a little around it; it follows scrolling and resizing."""
        matches = self._matches
        if matches is None or not self.isVisible():
            return
        text, offsets = self._document_text()
        viewport = self.editor.viewport()
        top = self.editor.cursorForPosition(QPoint(0, 0)).position()
        bottom = self.editor.cursorForPosition(QPoint(viewport.width(), viewport.height())).position()
        margin = (bottom - top) // 4
        lo, hi = offsets.index(max(0, top - margin)), offsets.index(bottom + margin)
        theme = colors_for(self.editor.palette())  # AA-checked against every text colour (colors.py)
        colors = {False: theme.find_match, True: theme.find_current}
        cursor = self.editor.textCursor()
        current = (cursor.selectionStart(), cursor.selectionEnd())
        document = self.editor.document()
        selections = []
        for match in matches.pattern.finditer(text, lo):
            start, end = match.span()
            if start > hi or len(selections) >= MAX_HIGHLIGHTS:
                break
            if end == start:
                continue
            sel = QTextEdit.ExtraSelection()
            sel.cursor = QTextCursor(document)
            sel.cursor.setPosition(offsets.position(start))
            sel.cursor.setPosition(offsets.position(end), QTextCursor.MoveMode.KeepAnchor)
            sel.format.setBackground(colors[(sel.cursor.selectionStart(), sel.cursor.selectionEnd()) == current])
            selections.append(sel)
        self.editor.set_overlay(selections, "find")

    # -- keys --------------------------------------------------------------------------------------------

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if obj is self._viewport:
            if event.type() == QEvent.Type.Resize:
                self._rehighlight.start()
            return False
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        action = self._key_action(obj, event)
        if action is None:
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # the key comes here as a key press, before any window shortcut on it (Esc, F3)
            return True
        action()
        return True

    def _key_action(self, field: QObject, event: QKeyEvent):
        key, shift = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if key == Qt.Key.Key_Escape:
            return self.close
        if key == Qt.Key.Key_F3:
            return self.find_previous if shift else self.find_next
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and field in (self.query, self.replacement):
            if field is self.replacement:
                return self.replace
            return self.find_previous if shift else self.find_next
        return None
