"""The first-start notice: a bar at the top of the window naming the bundled model, what it does well and
badly (its measured rates, from `engine.bundled_summary`), with "Choose a model…" (the model manager) and a
close button. Never modal: the editor works while it shows.

It shows only while nothing is chosen (no model preference) and the bundled model is the one in use
(`REDRAFT_MODEL` unset); closed once, a QSettings flag keeps it away for good.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QMainWindow, QPushButton, QSizePolicy, QToolBar, QToolButton, QWidget,
)

from engine import BUNDLED, bundled_summary, chosen_model

DISMISSED_KEY = "notices/firstStartDismissed"


class _WrappedText(QLabel):
    """A word-wrapped label as tall as its text at its width: a toolbar's layout ignores height-for-width and
    sized the bar for the label's narrow size hint, three times the height its lines need."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.setFixedHeight(self.heightForWidth(self.width()))


class FirstStartNotice(QToolBar):
    """Signals: chooseModel() — "Choose a model…" was pressed; dismissed() — closed for good."""

    chooseModel = Signal()
    dismissed = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__("About the model", parent)
        self.settings = settings
        self.setObjectName("firstStartNotice")
        self.setMovable(False)
        self.setFloatable(False)
        self.toggleViewAction().setVisible(False)  # not offered in the toolbar menu: closing it is for good
        self.text = _WrappedText(bundled_summary())
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = QPushButton("Choose a model…")
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close this notice (it does not come back)")
        self.close_button.setAutoRaise(True)
        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.text, 1)
        row.addWidget(self.choose_button)
        row.addWidget(self.close_button)
        self.addWidget(body)
        self.choose_button.clicked.connect(self.chooseModel)
        self.close_button.clicked.connect(self.dismiss)

    def dismiss(self) -> None:
        self.settings.setValue(DISMISSED_KEY, True)
        self.settings.sync()
        self.hide()
        self.dismissed.emit()


def should_show(settings: QSettings, model_preference: str) -> bool:
    dismissed = str(settings.value(DISMISSED_KEY, "false")).lower() in ("true", "1")
    return not dismissed and not model_preference and chosen_model(model_preference or None) == BUNDLED


def show_first_start_notice(window: QMainWindow) -> FirstStartNotice | None:
    """Put the notice at the top of `window` (a MainWindow: its settings, preferences and model manager) when it
    is due; returns it, or None when it is not."""
    if not should_show(window.settings, window.preferences.model):
        return None
    notice = FirstStartNotice(window.settings, window)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, notice)
    notice.chooseModel.connect(window.open_model_manager)
    return notice
