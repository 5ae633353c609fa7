"""The command palette (Ctrl+Shift+P): every command by name with its keys, filtered as you type.

Matching is case-insensitive: names containing the typed text come first, then names holding its characters
in order ("zi" finds "Zoom In"). Up/Down move the highlight, Enter runs the highlighted command, Esc closes.
Commands that do not apply now are listed greyed and are not run.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QKeyEvent, QPalette
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QStyle, QStyledItemDelegate, QWidget

from app.window.actions import Command, CommandSet
from app.window.quick_input import QuickInput

VISIBLE_ROWS = 12
KEYS_ROLE = Qt.ItemDataRole.UserRole + 1


class _KeysDelegate(QStyledItemDelegate):
    """Draws the command's keys right-aligned after its name, in the placeholder colour."""

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt's name
        size = super().sizeHint(option, index)
        return QSize(size.width(), option.fontMetrics.height() + 6)

    def paint(self, painter, option, index) -> None:
        super().paint(painter, option, index)
        keys = index.data(KEYS_ROLE)
        if not keys:
            return
        selected = option.state & QStyle.StateFlag.State_Selected
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        painter.save()
        painter.setPen(option.palette.color(role))
        align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(option.rect.adjusted(0, 0, -8, 0), align, keys)
        painter.restore()


def matches(query: str, label: str) -> int | None:
    """A rank (lower is better) when `label` matches `query`, else None."""
    query, label = query.casefold().strip(), label.casefold()
    if not query:
        return 1
    if query in label:
        return 0
    position = 0
    for char in query.replace(" ", ""):
        position = label.find(char, position) + 1
        if not position:
            return None
    return 2


class CommandPalette(QuickInput):
    """Attributes: list (the commands shown now, each item's data its Command)."""

    def __init__(self, window: QWidget, commands) -> None:
        super().__init__(window, "Type a command")
        self._commands = commands  # a callable giving the CommandSet (it is built after the palette)
        self.list = QListWidget()
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay in the line
        self.list.setItemDelegate(_KeysDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.itemActivated.connect(lambda _item: self.submit())
        self.list.itemClicked.connect(lambda _item: self.submit())
        self.layout_.addWidget(self.list)
        self.line.textChanged.connect(self._filter)

    @property
    def command_set(self) -> CommandSet:
        return self._commands()

    def open(self, text: str = "") -> None:
        self.command_set.refresh()
        super().open(text)
        self._filter(text)

    def shown(self) -> list[Command]:
        return [self.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.list.count())]

    def _filter(self, text: str) -> None:
        commands = self.command_set
        ranked = [(matches(text, c.label), index, c) for index, c in enumerate(commands.commands)]
        self.list.clear()
        for _rank, _index, command in sorted((r for r in ranked if r[0] is not None), key=lambda r: r[:2]):
            item = QListWidgetItem(command.label)
            item.setData(Qt.ItemDataRole.UserRole, command)
            item.setData(KEYS_ROLE, command.key_text())
            if not commands.action(command.label).isEnabled():
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
            self.list.addItem(item)
        self._highlight(0, 1)
        rows = min(max(self.list.count(), 1), VISIBLE_ROWS)
        self.list.setFixedHeight(rows * (self.list.fontMetrics().height() + 6) + 2 * self.list.frameWidth())
        if self.isVisible():
            self.place()

    def _highlight(self, start: int, step: int) -> None:
        """The first enabled row from `start` in direction `step` (no row when none is enabled)."""
        row = start
        while 0 <= row < self.list.count():
            if self.list.item(row).flags() & Qt.ItemFlag.ItemIsEnabled:
                self.list.setCurrentRow(row)
                return
            row += step
        if start == 0:
            self.list.setCurrentRow(-1)

    def handle_key(self, event: QKeyEvent) -> bool:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            step = 1 if event.key() == Qt.Key.Key_Down else -1
            self._highlight(self.list.currentRow() + step, step)
            return True
        return False

    def submit(self) -> None:
        item = self.list.currentItem()
        if item is None or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return
        command = item.data(Qt.ItemDataRole.UserRole)
        self.close_input()  # first: the command may open something that takes the focus (the instruction box)
        self.command_set.run(command)
