"""One in-place rewrite of a span of a QTextDocument, from Ctrl+J to accept or cancel. No widgets here.

How the undo history stays clean (the model: a savepoint, as in Helix):

- The span is tracked by two QTextCursors (Qt's anchors follow edits elsewhere). The start cursor moves on
  an insertion at its position and the end cursor keeps its position, so typing right before or right after
  the span stays outside it.
- A draft is shown as ONE edit block "original -> draft" on top of the undo stack. Before the next draft is
  shown, that block is undone and the redo stack cleared, so at any moment the stack is the user's history
  plus at most one block of ours. Cancelling undoes it (the document is byte-identical, the undo history
  exactly what it was); accepting leaves the last block "original -> final": exactly one undo step, and
  redo re-applies it.
- A user edit must never land on top of our block, or the block could no longer be popped. The editor calls
  `suspend()` before letting a keystroke/paste through (our block is undone, the original is back) and
  `resume()` after it (the current draft is shown again, as a new block above the user's edit). If the edit
  touched the span, the run is interrupted instead: the engine job is cancelled and the user's edit, made on
  the original text, stays.

An edit that reaches the document without `suspend()` (another view, a script) while a draft is shown lands
above our block, which can then no longer be popped. The session stops (engine cancelled) and, at once after
that edit, puts the original text back in the span as an edit of its own: the document never keeps a draft
the user did not accept. Limit: that repair is an undo step, so undoing it shows the draft again (every path
in the app goes through `suspend()`; this is the net under them).

Scrubbing (Alt+Left / Alt+Right) and alternatives (Alt+[ / Alt+]) go through the same one block: `show_step`
shows an earlier draft of `history` in place of what is shown, running or done, exactly as a new draft is
shown, so accepting keeps what is shown as one undo step and cancelling leaves no draft behind. While running,
a step shown that way stops the newest drafts from being shown (`following` is False) until `follow()`.
Pieces of committed blocks (a long span's `Draft.settled` first pieces) are shown settled: no highlight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCursor, QTextDocument

from app.rewrite.draft_history import DraftHistory
from engine import PLACEHOLDER, Draft, EditRequest, EditResult, utf16_to_index

LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Highlight:
    """A range of the shown draft, in UTF-16 document positions; kind: changed, faded, placeholder, done."""

    start: int
    end: int
    kind: str


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _normalize(text: str) -> str:
    # QTextCursor.insertText turns \r\n and \r into one block separator; normalizing first keeps the piece
    # lengths and the document in step (toPlainText reads separators back as \n).
    return text.replace("\r\n", "\n").replace("\r", "\n")


class RewriteSession:
    """A rewrite of `document`'s UTF-16 range start..end (equal for fill).

    Attributes:
        state: "running" (drafts arriving), "done" (final text shown, waiting for accept), "accepted",
            "cancelled", "interrupted" (the user edited the span) or "failed" (error: original restored).
            While "done", `show_pieces` may show another text (a hunk review) in place of the final one.
        original: the span's text at start, exactly as stored (blocks joined with "\\n").
        seed: the seed of the request (the editor sets it; a rerun uses a new one).
        tail: for a fill at the start of a line, the line break every draft and the result end with, so the
            line after the cursor stays a line of its own ("" otherwise).
        draft: the newest Draft of the run shown (or, while scrubbed back, held back), result: the EditResult once
            it came, error: a message when failed.
        history: every draft of the run (the flow adds each one the engine made), for scrubbing.
        shown_draft: the Draft in the span now (None: the result or a review's text, or nothing yet).
        following: while running, whether each new draft is shown (False once an earlier step is shown).
        warm_start, keep: a re-noise of a text shown before, with these ranges of it kept (set by the caller;
            the request carries them).
    """

    def __init__(
        self,
        document: QTextDocument,
        start: int,
        end: int,
        mode: str = "rewrite",
        instruction: str = "",
        cancel_job: Callable[[], None] | None = None,
    ) -> None:
        if mode == "fill":
            end = start
        self.document = document
        self.mode = mode
        self.instruction = instruction
        self.cancel_job = cancel_job
        self.state = "running"
        self.draft: Draft | None = None
        self.result: EditResult | None = None
        self.error: str | None = None
        self.history = DraftHistory()
        self.shown_draft: Draft | None = None
        self.following = True
        self._start = QTextCursor(document)
        self._start.setPosition(start)
        self._end = QTextCursor(document)
        self._end.setPosition(end)
        self._end.setKeepPositionOnInsert(True)
        self.original = _raw_slice(document, start, end)
        # A fill at the start of a line ends with the break that ends the text before it (see `fill_break`).
        near = _raw_slice(document, max(start - 2, 0), start), _raw_slice(document, start, start + 2)
        self.tail = fill_break(*near) if mode == "fill" else ""
        self.seed: int | None = None  # the seed the request carries (set by the caller)
        self.varied = False  # another answer than the best guess (a rerun asks for one)
        self.warm_start: str | None = None
        self.keep: tuple[tuple[int, int], ...] = ()
        self._top = -1  # the undo stack's size right after our block
        self._shown: str | None = None  # the text our undo block put in the span (None: original shown)
        self._pieces: list[tuple[str, str]] = []  # (text, kind) of what is shown
        self._suspended = False
        self._applying = False
        self._length = end - start
        self._original_length = end - start  # in document positions
        document.contentsChange.connect(self._on_contents_change)

    # -- geometry ----------------------------------------------------------------------------------------

    @property
    def start(self) -> int:
        return self._start.position()

    @property
    def end(self) -> int:
        return max(self._end.position(), self._start.position())

    @property
    def active(self) -> bool:
        return self.state in ("running", "done")

    @property
    def applying(self) -> bool:
        """True while the session itself changes the document (a draft shown or taken back), not the user."""
        return self._applying

    @property
    def final_text(self) -> str:
        """The result's text as the document holds it (line breaks normalized, a fill's `tail` added); empty
        before the result."""
        return "" if self.result is None else self.as_shown(self.result.text)

    def as_shown(self, text: str) -> str:
        """A model's answer as the span shows it: line breaks normalized, a fill's `tail` added."""
        return "".join(piece for piece, _ in self._with_tail([(_normalize(text), "")]))

    def request(self, **options) -> EditRequest:
        """The engine request for this span (code point offsets, as the engine counts)."""
        text = self.document.toPlainText()
        start = utf16_to_index(text, self.start)
        end = start if self.mode == "fill" else utf16_to_index(text, self.end)
        return EditRequest(
            text, start, end, instruction=self.instruction, mode=self.mode, warm_start=self.warm_start,
            keep=self.keep, **options,
        )

    @property
    def shown_text(self) -> str | None:
        """The draft or result in the span now, without a fill's `tail` (the model's text); None while the
        original is shown (before the first draft, or once ended)."""
        if not self.active or self._shown is None or self._suspended:
            return None
        text = _raw_slice(self.document, self.start, self.end)
        return text[: len(text) - len(self.tail)] if self.tail and text.endswith(self.tail) else text

    def highlights(self) -> list[Highlight]:
        """Ranges of the shown draft to format (merged runs of one kind)."""
        out: list[Highlight] = []
        if self._shown is None or self._suspended:
            return out
        pos = self.start
        for text, kind in self._pieces:
            length = utf16_len(text)
            if kind and length:
                if out and out[-1].kind == kind and out[-1].end == pos:
                    out[-1] = Highlight(out[-1].start, pos + length, kind)
                else:
                    out.append(Highlight(pos, pos + length, kind))
            pos += length
        return out

    # -- the run -----------------------------------------------------------------------------------------

    def show_draft(self, draft: Draft) -> None:
        """The run's newest draft: shown in place, unless an earlier step is shown (see `show_step`)."""
        if self.state != "running":
            return
        self.draft = draft
        if self.following:
            self._show_draft(draft)

    def show_step(self, draft: Draft) -> None:
        """Show `draft` (an earlier step, of `history` or of an earlier run of this span) in place of what is
        shown, running or done; while running the newer drafts are then held back until `follow()`."""
        if not self.active:
            return
        if self.state == "running":
            self.following = False
        self._show_draft(draft)

    def follow(self) -> None:
        """While running: show the newest draft again, and each one after it."""
        if self.state != "running":
            return
        self.following = True
        if self.draft is not None:
            self._show_draft(self.draft)

    def _show_draft(self, draft: Draft) -> None:
        pieces = draft.pieces or (draft.text,)
        n = len(pieces)
        changed = draft.changed if len(draft.changed) == n else (False,) * n
        confidence = draft.confidence if len(draft.confidence) == n else (1.0,) * n
        kinds = [_kind(p, c, conf) for p, c, conf in zip(pieces, changed, confidence, strict=True)]
        kinds[: draft.settled] = [""] * min(draft.settled, n)  # committed blocks: settled text, no highlight
        self._pieces = self._with_tail([(_normalize(p), kind) for p, kind in zip(pieces, kinds, strict=True)])
        self.shown_draft = draft
        self._show("".join(text for text, _ in self._pieces))

    def show_pieces(self, pieces: list[tuple[str, str]]) -> None:
        """Once done, show other text in the span (a hunk review's choice): (text, highlight kind) pieces."""
        if self.state != "done":
            return
        self._pieces = [(_normalize(text), kind) for text, kind in pieces]
        self.shown_draft = None
        self._show("".join(text for text, _ in self._pieces))

    def finish(self, result: EditResult) -> None:
        """The engine's result: show the final text (ok), restore the original (error), or nothing."""
        if self.state != "running":
            return
        self.result = result
        if result.ok:
            if self.following:  # else the step the user went back to stays shown
                self._pieces = self._with_tail([(_normalize(result.text), "done")])
                self.shown_draft = None
                self._show("".join(piece for piece, _ in self._pieces))
            self.state = "done"
        elif result.stop_reason == "error":
            self.error = result.error or "the model failed"
            self._restore()
            self.state = "failed"
            self._detach()
        # "cancelled" results are answers to our own cancel (or a superseding request): nothing to do.

    def can_accept(self) -> bool:
        """Whether what is shown can be kept: the result or a review's text, or a draft with no masked piece."""
        shown = self.shown_draft
        if shown is not None and PLACEHOLDER in shown.text:
            return False
        return self.state == "done" or (self.state == "running" and shown is not None)

    def accept(self) -> bool:
        """Keep what is shown, as one undo step. While running, only a draft with no masked piece."""
        if not self.can_accept():
            return False
        if self.state == "running" and self.cancel_job is not None:
            self.cancel_job()
        self.state = "accepted"
        self._pieces = []
        self._detach()
        return True

    def cancel(self) -> None:
        """Stop the engine and put the original back; the document is byte-identical to before."""
        if not self.active:
            return
        if self.state == "running" and self.cancel_job is not None:
            self.cancel_job()
        self._restore()
        if self.active:
            self.state = "cancelled"
        self._detach()

    # -- user edits during the run (called by the editor) ------------------------------------------------

    def suspend(self) -> None:
        """Take our block off the undo stack (the original is shown) so a user edit can go under it."""
        if self.active and not self._suspended:
            self._restore(keep_shown=True)
            self._suspended = True

    def resume(self) -> None:
        """Show the current text again, as a new block above the user's edit."""
        if not self._suspended:
            return
        self._suspended = False
        if self.active and self._shown is not None:
            text, self._shown = self._shown, None
            self._show(text)

    # -- internals ---------------------------------------------------------------------------------------

    def _with_tail(self, pieces: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """`pieces` ending with the fill's `tail` instead of whatever line breaks they end with (a stop string
        such as "\\n\\n" is cut from a model's output, which would glue the text onto the line after it)."""
        text = "".join(piece for piece, _ in pieces)
        if not self.tail or not text.strip():
            return pieces
        cut = len(text) - len(text.rstrip("\n"))
        out = list(pieces)
        while cut:
            piece, kind = out.pop()
            if len(piece) > cut:
                out.append((piece[: len(piece) - cut], kind))
                break
            cut -= len(piece)
        out.append((self.tail, ""))
        return out

    def _show(self, text: str) -> None:
        if self._suspended:
            self._shown = text
            return
        self._restore(keep_shown=False)
        if not self.active:
            return
        start, end = self.start, self.end
        cursor = QTextCursor(self.document)
        self._applying = True
        try:
            cursor.beginEditBlock()
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            cursor.insertText(text)
            cursor.endEditBlock()
        finally:
            self._applying = False
        self._start.setPosition(start)
        self._end.setPosition(cursor.position())
        self._length = self.end - self.start
        self._shown = text
        self._top = self.document.availableUndoSteps()

    def _restore(self, keep_shown: bool = False) -> None:
        """Undo our block (if one is shown) and forget it: the original span is back."""
        if self._shown is None or self._suspended:
            if not keep_shown:
                self._shown = None
            return
        if self.document.availableUndoSteps() != self._top or self.document.availableRedoSteps():
            # Something was recorded above our block: undoing now would undo that instead. Stop, and give the
            # span its original text as an edit of its own.
            self._bury()
            self._put_original_back()
            return
        start = self.start
        self._applying = True
        try:
            self.document.undo()
            self.document.clearUndoRedoStacks(QTextDocument.Stacks.RedoStack)
        finally:
            self._applying = False
        # The undo re-inserted the original at `start`, which pushed the start cursor past it.
        self._start.setPosition(start)
        self._end.setPosition(start + self._original_length)
        self._length = self.end - self.start
        if not keep_shown:
            self._shown = None

    def _detach(self) -> None:
        try:
            self.document.contentsChange.disconnect(self._on_contents_change)
        except (RuntimeError, TypeError):
            pass

    def _on_contents_change(self, position: int, removed: int, added: int) -> None:
        if self._applying or not self.active:
            return
        if self._shown is not None and not self._suspended:
            start, end = self.start, self.end
            typed = ""
            if start < position < end and added:  # typed into the draft: it goes to the same offset of the original
                typed = _raw_slice(self.document, position, position + added)
            self._bury()
            # Not from inside Qt's change notification (the other edit may still be in its edit block).
            QTimer.singleShot(0, lambda: self._put_original_back(position - start, typed))
            return
        start, end = self.start, self.end
        length = end - start
        touched = length != self._length or start < position < end
        self._length = length
        if not touched:
            return
        self._bury()

    def _put_original_back(self, offset: int = 0, typed: str = "") -> None:
        """After an unguarded edit over a shown draft: the span (still the draft) gets the original again, with
        what was typed into the draft at the same offset (clamped), as keys typed into a span are."""
        text = self.original
        if typed:
            at = utf16_to_index(text, min(max(offset, 0), utf16_len(text)))
            text = text[:at] + typed + text[at:]
        cursor = QTextCursor(self.document)
        self._applying = True
        try:
            cursor.beginEditBlock()
            cursor.setPosition(self.start)
            cursor.setPosition(self.end, QTextCursor.MoveMode.KeepAnchor)
            cursor.insertText(text)
            cursor.endEditBlock()
        finally:
            self._applying = False

    def _bury(self) -> None:
        """The user edited the span (or above our block): stop the run and leave the document as it is."""
        if self.state == "running" and self.cancel_job is not None:
            self.cancel_job()
        self.state = "interrupted"
        self._shown = None
        self._suspended = False
        self._pieces = []
        self._detach()


def fill_break(before: str, after: str) -> str:
    """What a fill must end with so the text after it keeps its own line: nothing mid-line or before a line
    break; at the start of a line, the break that ends `before` (a blank line before a paragraph or a
    heading, a newline before a line; a blank line at the document's start). `before`, `after`: the text
    just before and after the cursor (two characters are enough)."""
    if not after or after.startswith("\n") or (before and not before.endswith("\n")):
        return ""
    return "\n\n" if not before or before.endswith("\n\n") else "\n"


def _raw_slice(document: QTextDocument, start: int, end: int) -> str:
    # The text exactly as stored: QTextDocumentFragment.toPlainText() would turn no-break spaces into spaces,
    # and whatever comes back from `original` (a rejected hunk) must be byte-identical.
    raw = document.toRawText().encode("utf-16-le", "surrogatepass")[2 * start : 2 * end]
    return raw.decode("utf-16-le", "surrogatepass").replace("\u2029", "\n")


def _kind(piece: str, changed: bool, confidence: float) -> str:
    if PLACEHOLDER in piece:
        return "placeholder"
    if changed:
        return "changed"
    if confidence < LOW_CONFIDENCE:
        return "faded"
    return ""
