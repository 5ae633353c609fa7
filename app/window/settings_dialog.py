"""Preferences (Ctrl+,): a form over a copy of `Settings`; OK hands the edited value back, nothing else.

The dialog neither stores nor applies anything: the window saves the value and applies it (app/window/main_window.py), so
the same path serves the dialog, the tests and a settings file edited by hand.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QIntValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFontComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.rewrite.presets import DEFAULT_PRESETS, parse_presets
from app.storage.settings import DEVICES, MAX_ALTERNATIVES, THEMES, Settings


class SettingsDialog(QDialog):
    """Edits `settings` (a copy); `value()` is the result once accepted."""

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.model = QLineEdit(settings.model)
        self.model.setPlaceholderText("default (the bundled model, or $REDRAFT_MODEL)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        model_row = QHBoxLayout()
        model_row.setContentsMargins(0, 0, 0, 0)
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse)
        model_box = QWidget()
        model_box.setLayout(model_row)
        self.device = QComboBox()
        for device in DEVICES:
            self.device.addItem(device or "automatic", device)
        self.device.setCurrentIndex(DEVICES.index(settings.device) if settings.device in DEVICES else 0)
        # 0 stands for "not set" in the spin boxes (special value text).
        self.steps = _spin(0, 1000, settings.steps or 0, "model default")
        self.seed = QLineEdit("" if settings.seed is None else str(settings.seed))
        self.seed.setPlaceholderText("random")
        self.seed.setValidator(QIntValidator(0, 2**31 - 1))
        self.context_budget = _spin(64, 1_000_000, settings.context_budget, "")
        self.context_budget.setSuffix(" tokens")
        self.theme = QComboBox()
        for theme in THEMES:
            self.theme.addItem(theme.capitalize(), theme)
        self.theme.setCurrentIndex(THEMES.index(settings.theme) if settings.theme in THEMES else 0)
        self.font_family = QFontComboBox()
        self.font_family.setFontFilters(QFontComboBox.FontFilter.MonospacedFonts)
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.font_family.setCurrentFont(settings.font())
        self._default_family = fixed.family()
        self.font_size = _spin(0, 72, settings.font_size, "default")
        self.alternatives = _spin(1, MAX_ALTERNATIVES, settings.alternatives, "")
        self.alternatives.setToolTip("Answers each run makes (DiffusionGemma denoises them as one batch, other models "
                                     "run them in turn); "
                                     "Alt+[ / Alt+] show them in turn")
        # The instruction box's presets: plain lines, in the order the box lists them.
        self.presets = QPlainTextEdit("\n".join(settings.presets))
        self.presets.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.presets.setTabChangesFocus(True)
        self.presets.setFixedHeight(self.presets.fontMetrics().lineSpacing() * 7 + 12)
        self.presets.setToolTip("One instruction a line: the box offers them as you type, Ctrl+Space lists them")
        self.restore_presets = QPushButton("Restore defaults")
        self.restore_presets.clicked.connect(lambda: self.presets.setPlainText("\n".join(DEFAULT_PRESETS)))
        presets_column = QVBoxLayout()
        presets_column.setContentsMargins(0, 0, 0, 0)
        presets_column.addWidget(self.presets)
        presets_column.addWidget(self.restore_presets, 0, Qt.AlignmentFlag.AlignLeft)
        presets_box = QWidget()
        presets_box.setLayout(presets_column)
        form = QFormLayout(self)
        form.addRow("Model", model_box)
        form.addRow("Device", self.device)
        form.addRow("Steps", self.steps)
        form.addRow("Seed", self.seed)
        form.addRow("Context budget", self.context_budget)
        form.addRow("Theme", self.theme)
        form.addRow("Font", self.font_family)
        form.addRow("Font size", self.font_size)
        form.addRow("Alternatives per run", self.alternatives)
        form.addRow("Instruction presets", presets_box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._base = settings

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "", "GGUF models (*.gguf);;All files (*)")
        if path:
            self.model.setText(path)

    def value(self) -> Settings:
        family = self.font_family.currentFont().family()
        return replace(
            self._base,
            model=self.model.text().strip(),
            device=self.device.currentData(),
            steps=self.steps.value() or None,
            seed=int(self.seed.text()) if self.seed.text() else None,
            context_budget=self.context_budget.value(),
            theme=self.theme.currentData(),
            font_family="" if family == self._default_family else family,
            font_size=self.font_size.value(),
            presets=parse_presets(self.presets.toPlainText()),
            alternatives=self.alternatives.value(),
        )


def _spin(low: int, high: int, value: int, unset: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    if unset:
        box.setSpecialValueText(unset)
    return box
