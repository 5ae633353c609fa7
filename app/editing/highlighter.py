"""Pygments syntax highlighting, one block (line) at a time.

QSyntaxHighlighter calls `highlightBlock` per block and gives each block an integer state; when an edit
changes a block's end state it re-highlights the next block, and so on until the states agree again. So the
lexer must start a line from the state the previous line ended in: for a Pygments `RegexLexer` that is its
state stack (("root", "tdqs") inside a Python triple-quoted string). `lex_line` is RegexLexer's own loop
(pygments.lexer.RegexLexer.get_tokens_unprocessed) taught to start from a stack and to return the stack it
ends with; stacks are interned to small integers for Qt. Lexers that are not plain RegexLexers (the few
ExtendedRegexLexers and delegating lexers) lex each line on its own: colours stay right within a line,
multi-line constructs are not followed.

Big files. Qt highlights the whole document when the highlighter is attached, and an edit that changes the
state (opening a triple quote near the top) re-highlights to the end: for a 1 MB file that is about a second
of lexing in one go. So work comes in bursts of at most BURST_S: the first block reached after the burst's
time is up keeps the state it had, which ends Qt's cascade there, and a zero-delay timer re-highlights from
each such block in the next burst. (Marking the rest "pending" instead would still cost one call per block
to the end of the file: 65 ms for a triple quote typed in the middle of a 1 MB Python file.) Pending blocks
are held by QTextCursors, so edits made between bursts move them with the text; there can be several (an
edit elsewhere before the next burst is past the deadline too). A pending block that a cascade lexes first
stays pending: its next burst costs one call that finds its state unchanged, cheaper than checking the
pending list on every block.

The lexer is picked from the file name, else guessed from the first 4 KB of text. Colours come from the
palette (app/editing/colors.py: a Pygments style per light/dark, each colour made readable on every tint);
tokens get no background of their own, so the draft and review tints always show.
"""

from __future__ import annotations

import time

from pygments.lexer import ExtendedRegexLexer, Lexer, RegexLexer
from pygments.lexers import get_lexer_for_filename, guess_lexer
from pygments.lexers.special import TextLexer
from pygments.token import Error, Whitespace, _TokenType
from pygments.util import ClassNotFound
from PySide6.QtCore import QTimer
from PySide6.QtGui import (
    QFont,
    QSyntaxHighlighter,
    QTextBlock,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QApplication

from app.editing.colors import Colors, colors_for

Stack = tuple[str, ...]
ROOT: Stack = ("root",)
UNLEXED = -1  # Qt's state for a block never highlighted
BURST_S = 0.012  # the longest stretch of highlighting before the event loop gets to run


def lexer_for(file_name: str | None, text: str) -> Lexer | None:
    """The Pygments lexer for a file, or None for plain text."""
    lexer = None
    if file_name:
        try:
            lexer = get_lexer_for_filename(file_name, stripnl=False, ensurenl=False)
        except ClassNotFound:
            lexer = None
    if lexer is None and text.strip():
        try:
            lexer = guess_lexer(text[:4096], stripnl=False, ensurenl=False)
        except ClassNotFound:
            lexer = None
    return None if lexer is None or isinstance(lexer, TextLexer) else lexer


def follows_state(lexer: Lexer) -> bool:
    return isinstance(lexer, RegexLexer) and not isinstance(lexer, ExtendedRegexLexer)


def lex_line(lexer: RegexLexer, text: str, stack: Stack) -> tuple[list[tuple[int, _TokenType, str]], Stack]:
    """Tokens of `text` lexed from `stack`, and the stack at its end (RegexLexer's loop, resumable)."""
    tokens: list[tuple[int, _TokenType, str]] = []
    pos = 0
    tokendefs = lexer._tokens
    statestack = list(stack)
    statetokens = tokendefs[statestack[-1]]
    while True:
        for rexmatch, action, new_state in statetokens:
            m = rexmatch(text, pos)
            if m:
                if action is not None:
                    if type(action) is _TokenType:
                        tokens.append((pos, action, m.group()))
                    else:
                        tokens.extend(action(lexer, m))
                pos = m.end()
                if new_state is not None:
                    if isinstance(new_state, tuple):
                        for state in new_state:
                            if state == "#pop":
                                if len(statestack) > 1:
                                    statestack.pop()
                            elif state == "#push":
                                statestack.append(statestack[-1])
                            else:
                                statestack.append(state)
                    elif isinstance(new_state, int):
                        if abs(new_state) >= len(statestack):
                            del statestack[1:]
                        else:
                            del statestack[new_state:]
                    elif new_state == "#push":
                        statestack.append(statestack[-1])
                    statetokens = tokendefs[statestack[-1]]
                break
        else:
            if pos >= len(text):
                break
            if text[pos] == "\n":
                statestack = ["root"]
                statetokens = tokendefs["root"]
                tokens.append((pos, Whitespace, "\n"))
            else:
                tokens.append((pos, Error, text[pos]))
            pos += 1
    return tokens, tuple(statestack)


class PygmentsHighlighter(QSyntaxHighlighter):
    """Highlights `document` with `lexer`, block by block (see the module docstring)."""

    def __init__(self, document: QTextDocument, lexer: Lexer, colors: Colors | None = None) -> None:
        self.lexer = lexer
        self.stateful = follows_state(lexer)
        self._states: dict[Stack, int] = {ROOT: 0}
        self._stacks: list[Stack] = [ROOT]
        self.colors = colors if colors is not None else colors_for(QApplication.palette())
        self._formats: dict[_TokenType, QTextCharFormat | None] = {}
        self._deadline: float | None = None  # the end of the current burst
        self._pending: list[QTextCursor] = [QTextCursor(document)]  # blocks left for a later burst
        self._left: QTextBlock | None = None  # the last block left in this burst
        super().__init__(document)  # attaching schedules Qt's first pass over the document
        self._burst_end = QTimer(self)
        self._burst_end.setSingleShot(True)
        self._burst_end.setInterval(0)
        self._burst_end.timeout.connect(self._end_burst)

    def set_colors(self, colors: Colors) -> None:
        """Take another palette's colours (a theme change); re-highlights when they differ."""
        if colors is not self.colors:
            self.colors = colors
            self._formats.clear()
            self.rehighlight()

    def stack_of(self, state: int) -> Stack:
        return self._stacks[state] if 0 <= state < len(self._stacks) else ROOT

    def _state_of(self, stack: Stack) -> int:
        state = self._states.get(stack)
        if state is None:
            state = self._states[stack] = len(self._stacks)
            self._stacks.append(stack)
        return state

    def format_for(self, token: _TokenType) -> QTextCharFormat | None:
        """The char format for a token type (None: the editor's default), cached."""
        if token in self._formats:
            return self._formats[token]
        style = self.colors.token(token)
        fmt = None
        if style.color is not None or style.bold or style.italic or style.underline:
            fmt = QTextCharFormat()
            if style.color is not None:
                fmt.setForeground(style.color)
            if style.bold:
                fmt.setFontWeight(QFont.Weight.Bold)
            if style.italic:
                fmt.setFontItalic(True)
            if style.underline:
                fmt.setFontUnderline(True)
        self._formats[token] = fmt
        return fmt

    @property
    def done(self) -> bool:
        """Every block has been lexed (no burst is pending)."""
        return not self._pending and self._deadline is None

    def _end_burst(self) -> None:
        self._deadline = None
        self._left = None
        pending, self._pending = self._pending, []
        for cursor in sorted(pending, key=QTextCursor.position):
            block = cursor.block()
            if block.isValid():  # a new burst: each continues while the states change, or is left again
                self.rehighlightBlock(block)

    def _leave_for_later(self, block: QTextBlock) -> None:
        previous = block.previous()
        if self._left is not None and previous == self._left:
            # Qt goes on past a left block only over an edited range or in a full pass (rehighlight): mark
            # the one before unlexed, so the burst that lexes the first one continues through to this one.
            # This block's own state stays as it was, so that Qt goes no further than it must.
            previous.setUserState(UNLEXED)
        else:
            self._pending.append(QTextCursor(block))
        self._left = block

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt's name
        now = time.perf_counter()
        if self._deadline is None:  # the first block of a burst: Qt's cascades run synchronously, so a
            self._deadline = now + BURST_S  # zero-delay timer fires once this one is over
            self._burst_end.start()
        if now > self._deadline:
            self._leave_for_later(self.currentBlock())
            return
        line = text + "\n"  # rules that end at a newline (comments, strings) see one, as in the whole file
        if self.stateful:
            tokens, stack = lex_line(self.lexer, line, self.stack_of(self.previousBlockState()))
            self.setCurrentBlockState(self._state_of(stack))
        else:
            tokens = list(self.lexer.get_tokens_unprocessed(line))
        # Qt counts UTF-16 units, Python code points: they differ only after a character outside the BMP.
        astral = bool(text) and max(text) > "\uffff"
        units = _utf16_offsets(text) if astral else None
        end = len(text)
        for pos, token, value in tokens:
            if pos >= end:
                break
            fmt = self.format_for(token)
            if fmt is None:
                continue
            stop = min(pos + len(value), end)
            if units is not None:
                self.setFormat(units[pos], units[stop] - units[pos], fmt)
            else:
                self.setFormat(pos, stop - pos, fmt)


def _utf16_offsets(text: str) -> list[int]:
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + (2 if ch > "\uffff" else 1))
    return offsets
