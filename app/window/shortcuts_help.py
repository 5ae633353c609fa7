"""Help > Keyboard Shortcuts: every command of the window with its keys, read from the same list the menus and
the command palette are built from (app/window/actions.py), so it cannot drift from them."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout

from app.window.actions import Command


class ShortcutsDialog(QDialog):
    """A non-modal table: command, keys. Attributes: table."""

    def __init__(self, commands: list[Command], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.table = QTableWidget(len(commands), 2)
        self.table.setHorizontalHeaderLabels(["Command", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, command in enumerate(commands):
            self.table.setItem(row, 0, QTableWidgetItem(command.label))
            self.table.setItem(row, 1, QTableWidgetItem(command.key_text()))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(520, 600)

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).text(), self.table.item(r, 1).text()) for r in range(self.table.rowCount())]
