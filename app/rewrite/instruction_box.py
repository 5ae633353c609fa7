"""The small box Ctrl+J opens at the selection: an optional instruction, the mode and the run's estimated time.

It is a frameless child of the editor's viewport (not a popup window), so it never steals the application's
focus chain and it dies with the editor. Enter submits (an empty instruction is a plain rewrite), Esc closes
it without touching the document, Alt+M cycles the modes that fit (fill without a selection; rewrite and
refine with one). The last instruction is offered again, selected, so Enter repeats it and typing replaces it.

Up/Down walk the instructions given before (app/rewrite/instruction_history.py), as in a shell. Presets
(app/rewrite/presets.py) pop up as soon as what is typed is part of one, as VS Code's suggestions do;
Ctrl+Space (VS Code's "trigger suggest"), Alt+Down (a combo box's key) or the ▾ button list them all. Enter
on a preset puts it in the line, to run with a second Enter or to add to, as Copilot's inline chat does
with its commands. The grey "≈ 1.2 s" is the model's measured time for a span this long (app/rewrite/run_times.py);
before a run of it was measured here, nothing is shown.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, QSettings, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPalette
from PySide6.QtWidgets import QApplication, QComboBox, QFrame, QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget

from app.rewrite.instruction_history import InstructionHistory, Recall
from app.rewrite.presets import DEFAULT_PRESETS, preset_completer, set_presets
from app.rewrite.run_times import RunTimes, describe
from engine import MODES, ModelInfo

# Ctrl+Space. On macOS Qt's Control is the Command key (Cmd+Space is Spotlight) and the Control key is Meta.
_CONTROL = (Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.MetaModifier)
_ALT = Qt.KeyboardModifier.AltModifier


class InstructionBox(QFrame):
    """Attributes:
        line, mode, presets_button, estimate: the instruction line, the mode list, the ▾ button, the grey time.
        history (InstructionHistory), run_times (RunTimes): in memory until `use` gives them the settings.

    Signals:
        submitted(str, str): the mode and the instruction (stripped; may be empty).
        closed(): the box was closed without submitting.
    """

    submitted = Signal(str, str)
    closed = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.line = QLineEdit()
        self.line.setPlaceholderText("Instruction (optional) — ↑↓ history, Ctrl+Space presets, Enter runs")
        self.line.setToolTip(
            "Enter runs (empty: a plain rewrite), Esc closes, Alt+M changes the mode.\n"
            "Up/Down: earlier instructions. Ctrl+Space or Alt+Down: the presets (Preferences edits them)."
        )
        self.completer = preset_completer(self.line)
        self.line.setCompleter(self.completer)
        self.presets_button = QToolButton()
        self.presets_button.setText("▾")
        self.presets_button.setToolTip("Presets (Ctrl+Space)")
        self.presets_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the line keeps the keys
        self.presets_button.clicked.connect(self.show_presets)
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.estimate = QLabel()
        self.estimate.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # grey in either theme
        self.estimate.setToolTip("Estimated from this model's runs on this machine")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.line, 1)
        layout.addWidget(self.presets_button)
        layout.addWidget(self.mode)
        layout.addWidget(self.estimate)
        self.setMinimumWidth(360)
        self.last_instruction = ""
        self.history = InstructionHistory()
        self.run_times = RunTimes()
        self._recall = Recall([], "")
        for widget in (self.line, self.mode):
            widget.installEventFilter(self)
        QApplication.instance().focusChanged.connect(self._on_focus_changed)
        self.hide()

    def use(self, store: QSettings | None, presets: tuple[str, ...] = DEFAULT_PRESETS) -> None:
        """Keep the history and the measured run times in `store` (the window's settings); offer `presets`."""
        if self.history.store is not store:
            self.history, self.run_times = InstructionHistory(store), RunTimes(store)
        set_presets(self.completer, presets)

    def open_at(
        self, anchor: QRect, has_selection: bool, mode: str | None = None, model: ModelInfo | None = None,
        span_chars: int = 0,
    ) -> None:
        """Show below `anchor` (viewport coordinates; above it when there is no room), focused; with the time a
        run of `model` over `span_chars` characters should take, if it was measured."""
        items = self.mode.model()
        for index, name in enumerate(MODES):
            # Fill inserts at a cursor, rewrite and refine change a selection: a selection offers only those.
            items.item(index).setEnabled((name == "fill") != has_selection)
        if mode is None or (mode == "fill") == has_selection:
            mode = "rewrite" if has_selection else "fill"
        self.mode.setCurrentText(mode)
        self.line.setText(self.last_instruction)
        self.line.selectAll()
        self._recall = Recall(self.history.entries(), self.last_instruction)
        self.estimate.setText(describe(self.run_times.seconds(model, span_chars)))
        self.estimate.setVisible(bool(self.estimate.text()))
        self.place(anchor)
        self.show()
        self.raise_()
        self.line.setFocus()

    def place(self, anchor: QRect) -> None:
        """Below `anchor`, or above it when there is no room, always inside the viewport."""
        area = self.parentWidget().rect()
        width = min(max(self.sizeHint().width(), 480), area.width())  # room for the line beside the mode and time
        height = self.sizeHint().height()
        y = anchor.bottom() + 4
        if y + height > area.bottom() and anchor.top() - height - 4 >= 0:
            y = anchor.top() - height - 4
        y = min(max(y, 0), max(area.height() - height, 0))
        x = min(max(anchor.left(), 0), max(area.width() - width, 0))
        self.setGeometry(x, y, width, height)

    def cycle_mode(self) -> None:
        count = self.mode.count()
        index = self.mode.currentIndex()
        for step in range(1, count + 1):
            candidate = (index + step) % count
            if self.mode.model().item(candidate).isEnabled():
                self.mode.setCurrentIndex(candidate)
                return

    def show_presets(self) -> None:
        """The preset list: those containing what is typed, or all of them when none does (or the line holds
        only the offered last instruction, selected)."""
        text = self.line.text()
        self.completer.setCompletionPrefix("" if self.line.selectedText() == text else text)
        if not self.completer.completionCount():
            self.completer.setCompletionPrefix("")
        self.completer.complete()

    def recall(self, older: bool) -> None:
        text = (self._recall.older if older else self._recall.newer)(self.line.text())
        if text is not None:
            self.line.setText(text)  # the cursor at its end, as a shell's

    def close_box(self) -> None:
        if self.isVisible():
            self.hide()
            self.closed.emit()

    def submit(self) -> None:
        instruction = self.line.text().strip()
        self.last_instruction = instruction
        self.history.add(instruction)
        self.hide()
        self.submitted.emit(self.mode.currentText(), instruction)

    def _on_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        # Clicking elsewhere closes the box; the mode list's popup is a window of its own, so walk parents.
        widget = new
        while widget is not None and widget is not self:
            widget = widget.parentWidget()
        if new is not None and widget is None:
            self.close_box()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            key, mods = event.key(), event.modifiers()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.submit()
                return True
            if key == Qt.Key.Key_Escape:
                self.close_box()
                return True
            if key == Qt.Key.Key_M and mods == Qt.KeyboardModifier.AltModifier:
                self.cycle_mode()
                return True
            if watched is self.line and (
                key == Qt.Key.Key_Space and mods in _CONTROL or key == Qt.Key.Key_Down and mods == _ALT
            ):
                self.show_presets()
                return True
            if watched is self.line and key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and not mods:
                self.recall(older=key == Qt.Key.Key_Up)
                return True
        return super().eventFilter(watched, event)
