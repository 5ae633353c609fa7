"""The editor widget of a tab, and its rewrite keys.

Keys:
- Ctrl+J: opens the instruction box at the selection (app/rewrite/instruction_box.py); Enter there starts the run (a
  selection: rewrite or refine it; none: fill at the cursor), Esc closes it and nothing happens. Ctrl+J
  during a run cancels it and reopens the box on the original span.
- Enter/Tab while it runs: accept the draft shown now (the engine is stopped), but only when it has no masked
  (placeholder) piece; otherwise the key is swallowed and the status bar says why.
- Alt+R: rerun the same span with the same instruction and mode and a new seed; the old draft is taken back
  first (as by Esc), so the undo history never sees it. The earlier results of the span are kept as
  alternatives (app/rewrite/alternatives.py): once a run is done, Alt+[ / Alt+] show them in turn in place
  ("alternative 2 of 3", each with its own hunk review); Enter accepts the one shown, Esc the original back.
- Alt+Left / Alt+Right (and the slider on the review bar): scrub through the run's drafts
  (app/rewrite/draft_history.py), each shown in place as the drafts are ("step k of n"); the engine is not
  run again. Enter accepts the step shown (not one with masked pieces). While running, a step shown this way
  holds the newer drafts back until Alt+Right reaches the newest again; after the run, the last position is
  the result and its review (Y/N decide the result's hunks, so they wait until it is shown).
- Keep and re-noise (diffusion models; app/rewrite/kept_ranges.py): Ctrl+K keeps the selected characters of the
  draft or result shown (shown pinned; Ctrl+K on kept ones un-keeps them), and Alt+R then re-denoises the text
  shown around them, which stay pinned as the text moves. Alt+U keeps every piece the last draft was sure of and
  re-runs; Alt+N keeps everything but the selection and re-runs. Other models: the status bar says these are
  not available, and nothing changes.
- When the run ends, the hunk review (app/rewrite/hunks.py, app/rewrite/hunk_bar.py): every change against the original
  is a hunk; the current one is highlighted and scrolled into view, and a bar in a strip reserved below the text
  (so it never covers a line) says what it changes. Y keeps it, N drops it
  (the original comes back there), Enter/Tab keep all the rest. After the last decision the edit is applied
  as one undo step holding exactly the kept hunks (none kept: no change and no undo step). While the bar is
  shown Y and N are review keys, not typing.
- Esc: cancel (running or reviewing); the document is byte-identical to before and its history unchanged.
- Typing, deleting or pasting inside the span: the run stops, the original comes back and the edit is applied
  to it. So does an edit at the span's edge while the run waits for its first draft, and at a fill's edge at any
  time (what is typed there would otherwise be glued to the model's text). Elsewhere: allowed; the draft stays
  and the result lands at the span's current position.
- Fill inserts at the cursor: with text selected it means rewrite (the box does not offer it then).
- Status: a line that describes the run or the review is replaced as they move on; a note about what happened
  ("Accepted 2 of 2 changes", "Cancelled") is cleared by the next edit of the text (undo included).
- Ctrl+Z / Ctrl+Shift+Z: cancel the run first, then undo/redo the user's own history.

Drops: files (file:// URLs) are not text: `filesDropped` hands them to the window, which opens them in tabs, and
the document is untouched; any other drop inserts its text at the drop point, under the draft like typing.
- The right-click menu ends with "Rewrite selection…" (Ctrl+J). The window's Rewrite menu shows these keys
  too (app/window/actions.py) but never binds Enter, Tab, Esc, Y or N: they stay the editor's, as above.
"""

from __future__ import annotations

import asyncio
import random
import unicodedata
from functools import lru_cache

from PySide6.QtCore import QEvent, QPointF, QRect, Qt, Signal
from PySide6.QtGui import QDropEvent, QKeyEvent, QKeySequence, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QMenu, QTextEdit

from app.editing.code_editor import CodeEditor
from app.editing.colors import Colors, colors_for
from app.rewrite.alternatives import Alternatives, Answer
from app.rewrite.bridge import EngineBridge
from app.rewrite.draft_history import DraftHistory
from app.rewrite.flow import rewrite
from app.rewrite.hunk_bar import HunkBar, describe
from app.rewrite.hunks import Hunks, Review
from app.rewrite.instruction_box import InstructionBox
from app.rewrite.kept_ranges import Kept, confident, flagged, merge
from app.rewrite.session import LOW_CONFIDENCE, Highlight, RewriteSession, utf16_len
from engine import (
    DEFAULT_CONTEXT_BUDGET, KEEP_NOT_AVAILABLE, PLACEHOLDER, Draft, EditResult, index_to_utf16, utf16_to_index,
)

# Each highlight kind (app/rewrite/session.py, Review.segments) and the role of app/editing/colors.py it shows.
_BACKGROUNDS = dict(
    changed="changed", done="kept", hunk="hunk", current="current_hunk", kept="kept", dropped="dropped", pinned="pinned"
)
_FOREGROUNDS = dict(faded="faded", placeholder="placeholder")


@lru_cache(maxsize=64)
def _format(kind: str, colors: Colors) -> QTextCharFormat:
    fmt = QTextCharFormat()
    if kind in _BACKGROUNDS:
        fmt.setBackground(getattr(colors, _BACKGROUNDS[kind]))
    if kind in _FOREGROUNDS:
        fmt.setForeground(getattr(colors, _FOREGROUNDS[kind]))
    if kind == "current":  # the hunk being decided
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
    if kind == "pinned":  # kept words: dotted, so they read as pinned over any hunk state too
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.DotLine)
    return fmt


NOT_AVAILABLE = KEEP_NOT_AVAILABLE[0].upper() + KEEP_NOT_AVAILABLE[1:]  # the engine's own words
_KEEP_KEYS = {  # key, modifiers -> the Editor method (the window's menu lists them: app/window/actions.py)
    (Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier): "keep_words",
    (Qt.Key.Key_U, Qt.KeyboardModifier.AltModifier): "reroll_unsure",
    (Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier): "renoise_selection",
}


_EDIT_KEYS = (Qt.Key.Key_Backspace, Qt.Key.Key_Delete)
_EDIT_SEQUENCES = (
    QKeySequence.StandardKey.Paste,
    QKeySequence.StandardKey.Cut,
    QKeySequence.StandardKey.DeleteEndOfWord,
    QKeySequence.StandardKey.DeleteStartOfWord,
    QKeySequence.StandardKey.DeleteEndOfLine,
    QKeySequence.StandardKey.DeleteCompleteLine,
)


def _is_edit(event: QKeyEvent) -> bool:
    """Whether a key would change the text. Any character but a control one does (str.isprintable() is False
    for no-break and other spaces, U+3000 and the soft hyphen, which all type)."""
    if event.key() in _EDIT_KEYS or any(event.matches(seq) for seq in _EDIT_SEQUENCES):
        return True
    text = event.text()
    return any(c in "\r\n\t" or unicodedata.category(c) != "Cc" for c in text)


class Editor(CodeEditor):
    """A plain-text editor that can rewrite a span in place through the engine bridge.

    Attributes:
        session: the current (or last) RewriteSession, or None.
        review: the hunk review of a finished run while it is shown, else None.
        box, bar: the instruction box (a child of the viewport) and the hunk review's bar (in a strip below
            the viewport, reserved with the viewport margins while a review is open).
        steps, seed, context_budget, language: request options for the next run (steps None: the model's;
            seed None: random; language: the Pygments lexer name of the document, set by its tab).
        task: the asyncio task of the newest run (app/rewrite/flow.py), or None.
        alternatives: the results the current span got (kept across Alt+R), the one shown among them.
        kept: the words kept in the span's text (Ctrl+K), for the next Alt+R.
        status: the text of the last statusChanged (for a window showing this editor again).

    Signals:
        statusChanged(str): the run's status line (step n/max, tokens/s, elapsed, hints).
        draftShown(Draft): a draft was shown in place (at most one per frame).
        runFinished(EditResult): a run's result arrived (any run of this editor, superseded ones included).
        filesDropped(list[str]): local files were dropped here, to be opened (nothing was inserted).
    """

    statusChanged = Signal(str)
    draftShown = Signal(object)
    runFinished = Signal(object)
    filesDropped = Signal(list)

    def __init__(self, bridge: EngineBridge, document_id: str, parent=None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.document_id = document_id
        self.session: RewriteSession | None = None
        self.task: asyncio.Task | None = None
        self.steps: int | None = None
        self.seed: int | None = None
        self.context_budget = DEFAULT_CONTEXT_BUDGET
        self.alternatives_per_run = 1  # answers a run asks for (the preferences'); the others join `alternatives`
        self.language: str | None = None
        self.review: Review | None = None
        self.alternatives = Alternatives()
        self._scrub: tuple[int, int] | None = None  # (position, the history's stride then) of a step shown
        self.kept = Kept()
        self._meanwhile = Kept()  # words kept while a re-noise runs (its drafts say what it keeps itself)
        self._in_edit = False
        self.status = ""  # the status line's text now
        self._status_kind = ""  # "state": the line describes the run or review now; "note": what happened
        self.box = InstructionBox(self.viewport())
        self.box.submitted.connect(self._on_box_submitted)
        self.box.closed.connect(self.setFocus)
        self.bar = HunkBar(self)
        self.bar.keep.connect(lambda: self._decide(True))
        self.bar.drop.connect(lambda: self._decide(False))
        self.bar.keepRest.connect(self.accept_rewrite)
        self.bar.cancel.connect(self.cancel_rewrite)
        self.bar.scrubbed.connect(self.scrub_to)
        self.verticalScrollBar().valueChanged.connect(self._place_floats)
        self.document().contentsChange.connect(self._on_contents_change)

    # -- rewrite commands --------------------------------------------------------------------------------

    def open_instruction_box(self) -> None:
        """Ctrl+J: the box at the selection (a running rewrite is cancelled and its span selected)."""
        session, mode = self.session, None
        if session is not None and session.active:
            mode = session.mode
            self.cancel_rewrite()
            self._select(session.start, session.end)
        cursor = self.textCursor()
        span_chars = cursor.selectionEnd() - cursor.selectionStart()
        self.box.open_at(self._box_anchor(), cursor.hasSelection(), mode, self.bridge.model_info, span_chars)

    def start_rewrite(
        self, mode: str | None = None, instruction: str = "", seed: int | None = None, varied: bool = False
    ) -> bool:
        """Run on the selection now (no box). `seed`: this run's seed (default: `self.seed`, else random);
        `varied`: ask for another answer than the model's best guess (Try again)."""
        if self.session is not None and self.session.active:
            self.cancel_rewrite()
        cursor = self.textCursor()
        start, end = cursor.selectionStart(), cursor.selectionEnd()
        mode = mode or ("rewrite" if start != end else "fill")
        if mode == "fill" and start != end:
            mode = "rewrite"  # a fill inserts at a cursor; with text selected, the selection is what to rewrite
        session = RewriteSession(self.document(), start, end, mode, instruction)
        session.seed = seed if seed is not None else self.seed if self.seed is not None else random.randrange(2**31)
        session.varied = varied
        self.session = session
        self.alternatives = Alternatives()  # a rerun carries the span's over (see rerun)
        self._scrub = None
        self.kept = Kept()  # a new span: nothing kept (a re-noise sets its own, see rerun)
        self._meanwhile = Kept()
        cursor.clearSelection()
        self.setTextCursor(cursor)
        self.task = asyncio.ensure_future(rewrite(self, session))
        return True

    # -- what the rewrite flow asks of the editor (app/rewrite/flow.py) ----------------------------------

    def request_options(self) -> dict:
        return dict(
            steps=self.steps, seed=self.session.seed, varied=self.session.varied, context_budget=self.context_budget,
            language=self.language, document_id=self.document_id, alternatives=self.alternatives_per_run,
        )

    def show_status(self, session: RewriteSession, text: str) -> None:
        if session is self.session:
            self._say(text, "state" if session.active else "note")

    def draft_shown(self, session: RewriteSession, draft: Draft) -> None:
        if session is not self.session:
            return
        decided = sum(1 for piece in draft.pieces if piece != PLACEHOLDER)  # tokens of the text shown
        rate = decided / draft.elapsed_s if draft.elapsed_s > 0 else 0.0
        if self._scrub is not None:  # an earlier step is shown: the run goes on unseen, the count grows
            self._say(f"{self._scrub_status()} · the run is at {draft.progress}", "state")
        else:
            self._refresh()
            self._follow(session)
            self._say(f"{draft.progress} · {rate:.0f} tok/s · {draft.elapsed_s:.1f} s", "state")
        self.draftShown.emit(draft)

    def run_finished(self, session: RewriteSession, result: EditResult | None) -> None:
        if result is not None:
            self.box.run_times.record(self.bridge.model_info, result)  # the box's estimate of the next run
            self.runFinished.emit(result)
        if session is not self.session:
            return
        self._refresh()
        if session.state == "done":
            last = session.draft
            if last is not None and last.kept and len(last.kept) == len(last.pieces):
                # A re-noise: the kept words are where its last draft kept them, in the result.
                shown = session.as_shown(result.text)
                told = Kept(last.text, flagged(last.pieces, last.kept)).moved_to(shown)
                self.kept = Kept(shown, merge(told.ranges + self._meanwhile.moved_to(shown).ranges))
                self._meanwhile = Kept()
            alternatives = self.alternatives
            alternatives.add(Answer(session.final_text, session.history))
            for text in result.alternatives:  # the other answers of a run asked for several
                alternatives.add(Answer(session.as_shown(text)), show=False)
            self._start_review(alternatives.current.text)
            if self._scrub is not None:
                self._show_scrub()  # the step the user went back to stays; the review waits at the end
                return
            more = f" · {alternatives.label()} (Alt+[ Alt+])" if len(alternatives) > 1 else ""
            self._say(
                f"done · {result.steps} steps · {result.tokens_per_s:.0f} tok/s · {result.elapsed_s:.1f} s"
                f" — {_count(len(self.review.hunks), 'change')} to review{more}",  # the keys are on the hunk bar
                "state",
            )
        elif session.state == "failed":
            self._say(f"Rewrite failed: {session.error}", "note")
        elif not session.active and self._status_kind == "state":
            # Ended with no word from this editor (an edit from elsewhere over the draft): the run's line is stale.
            self._say("Rewrite stopped: the text changed", "note")

    def rerun(self, kept: Kept | None = None) -> bool:
        """Alt+R: the same span, instruction and mode with a new seed. With words kept (Ctrl+K, or `kept`),
        the text shown is the warm start and only the rest is re-noised; the kept words stay pinned."""
        session = self.session
        if session is None or not session.active:
            return False
        kept = (self._kept_now() if kept is None else kept).unmasked()
        self.cancel_rewrite()
        self._select(session.start, session.end)
        seed = random.randrange(2**31)
        while seed == session.seed:
            seed = random.randrange(2**31)
        alternatives = self.alternatives  # the span's earlier results stay, to cycle (Alt+[ / Alt+])
        started = self.start_rewrite(session.mode, session.instruction, seed, varied=True)
        self.alternatives = alternatives
        if kept:  # set before the flow's first turn on the loop, where it builds the request
            self.session.warm_start, self.session.keep, self.kept = kept.text, kept.ranges, kept
        self._meanwhile = Kept()
        return started

    # -- scrub and alternatives --------------------------------------------------------------------------

    def _steps(self) -> tuple[DraftHistory | None, int]:
        """The drafts being scrubbed and the number of positions: while running, the run's drafts (the last
        one: follow the run); once done, the shown answer's drafts and then its result."""
        session = self.session
        if session.state == "running":
            return session.history, len(session.history)
        answer = self.alternatives.current
        history = answer.history if answer is not None else None
        return history, (len(history) if history is not None else 0) + 1

    def _position(self) -> int:
        history, count = self._steps()
        if self._scrub is None or history is None:
            return count - 1
        position, stride = self._scrub
        # Thinned since (app/rewrite/draft_history.py): kept drafts are the arrivals on the stride.
        return min(position * stride // history.stride, len(history) - 1)

    def scrub(self, delta: int) -> bool:
        """Alt+Left (-1) / Alt+Right (+1): show the step `delta` away from the one shown."""
        session = self.session
        if session is None or not session.active:
            return False
        if self._steps()[1] < 2:
            self._say("No earlier steps to show", "state")
            return False
        return self.scrub_to(self._position() + delta)

    def scrub_to(self, position: int) -> bool:
        """Show step `position` (0: the first draft; the last position: the newest draft while running, the
        result and its review once done) in place, through the session's one undo block."""
        session = self.session
        if session is None or not session.active:
            return False
        history, count = self._steps()
        position = min(max(position, 0), count - 1)
        if position == count - 1 or history is None:
            self._scrub = None
            if session.state == "running":
                session.follow()
                self._refresh()
                self._say("following the run", "state")
            else:
                self._show_review()
            return True
        self._scrub = (position, history.stride)
        session.show_step(history[position])
        self._show_scrub()
        return True

    def _scrub_status(self) -> str:
        history, _count = self._steps()
        draft = history[self._position()]
        where = f" ({draft.progress})" if draft.blocks > 1 else ""
        return f"step {self._position() + 1} of {len(history)}{where}"

    def _show_scrub(self) -> None:
        self._refresh()
        self._place_bar()
        self._reveal(self.session.start)
        accept = "Enter accepts this step" if self.session.can_accept() else "masked pieces remain"
        self._say(f"{self._scrub_status()} — {accept} · Alt+← Alt+→ scrub · Esc cancels", "state")

    def cycle_alternative(self, delta: int) -> bool:
        """Alt+[ (-1) / Alt+] (+1): show the span's previous or next result in place, with its review."""
        session = self.session
        if session is None or not session.active:
            return False
        if session.state != "done":
            self._say("Alternatives can be shown once this run is done (Esc cancels it)", "state")
            return False
        answer = self.alternatives.cycle(delta)
        if answer is None:
            self._say("No other alternative yet: Alt+R runs the span again", "state")
            return False
        self._scrub = None
        self._start_review(answer.text)
        return True

    def accept_rewrite(self) -> bool:
        session = self.session
        if session is None or not session.active:
            return False
        if self.review is not None and self._scrub is None:
            self.review.keep_rest()
            return self._finish_review()
        if not session.accept():
            self._say("Still refining: masked pieces remain (Esc cancels)", "state")
            return False
        self._end_review()
        self._refresh()
        self._say("Accepted (Ctrl+Z restores the original)", "note")
        return True

    def cancel_rewrite(self) -> bool:
        session = self.session
        if session is None or not session.active:
            return False
        session.cancel()
        self._end_review()
        self._select(session.start, session.end)  # the original span, ready for another Ctrl+J
        self._refresh()
        self._say("Cancelled", "note")
        return True

    # -- hunk review -------------------------------------------------------------------------------------

    def _start_review(self, text: str) -> None:
        """The review of `text` (the result, or the alternative shown) against the original; it is shown
        unless an earlier step is (then it waits at the scrub's last position)."""
        self.review = Review(Hunks.between(self.session.original, text))
        if self._scrub is None:
            self._show_review()

    def _show_review(self) -> None:
        self._scrub = None
        self.session.show_pieces(self.review.segments())
        self._refresh()
        self._place_floats()
        start, end = self._current_hunk()
        self._reveal(end)
        self._reveal(start)  # a hunk taller than the view shows its beginning
        label = self.alternatives.label()
        which = f"{label} · " if label else ""
        self._say(f"{which}{describe(self.review)} — Y keep · N drop · Enter keep the rest · Esc cancel", "state")

    def _decide(self, keep: bool) -> None:
        if self.review is None:
            return
        if self._scrub is not None:
            self._say("Y and N decide the result's changes: Alt+→ back to it (Enter accepts this step)", "state")
            return
        self.review.decide(keep)
        if self.review.finished:
            self._finish_review()
        else:
            self._show_review()

    def _finish_review(self) -> bool:
        """Apply the kept hunks as the one undo step (or nothing at all when none was kept)."""
        session, review = self.session, self.review
        self._end_review()
        text = review.text()
        total, kept = len(review.hunks), len(review.kept())
        if text == session.original:
            session.cancel()
            self._refresh()
            self._say("No change kept: the original stays", "note")
            return True
        session.show_pieces([(text, "")])
        session.accept()
        self._refresh()
        self._say(f"Accepted {kept} of {_count(total, 'change')} (Ctrl+Z restores the original)", "note")
        return True

    def _end_review(self) -> None:
        self.review = None
        self._place_bar()

    # -- keep and re-noise (diffusion models) ------------------------------------------------------------

    def keep_words(self) -> bool:
        """Ctrl+K: keep the selected characters of the text shown (a caret: its word), or un-keep them if they
        are all kept already. Alt+R then re-noises the rest."""
        shown = self._keepable()
        selection = None if shown is None else self._selection_in(shown)
        if selection is None:
            return False
        if self._told_kept(self.session) is not None:  # a re-noise's draft: it says what it keeps itself
            self._meanwhile = self._meanwhile.moved_to(shown).toggled(*selection)
        self.kept = self._kept_shown(self.session).toggled(*selection)
        self._refresh()
        n = len(self.kept.ranges)
        self._say(f"{_count(n, 'piece')} kept · Alt+R re-noises the rest" if n else "Nothing kept", "state")
        return True

    def reroll_unsure(self) -> bool:
        """Alt+U: keep every piece the last draft was sure of (confidence over LOW_CONFIDENCE) and re-run."""
        shown = self._keepable()
        if shown is None:
            return False
        draft = self._draft_behind(shown)
        if draft is None or not draft.pieces or len(draft.confidence) != len(draft.pieces):
            self._say("No confidences for the text shown: Alt+R re-runs it all", "state")
            return False
        sure = Kept(draft.text, confident(draft.pieces, draft.confidence, LOW_CONFIDENCE)).moved_to(shown)
        if sure.ranges == ((0, len(shown)),):
            self._say("Every piece is sure: nothing to re-roll (Alt+R re-runs it all)", "state")
            return False
        return self.rerun(sure)

    def _draft_behind(self, shown: str):
        """The draft whose text is shown: the step in the span, else the last draft of the answer shown (an
        extra answer of a batch has none)."""
        session = self.session
        if session.shown_draft is not None:
            return session.shown_draft
        answer = self.alternatives.current if session.state == "done" else None
        history = answer.history if answer is not None else session.history
        draft = history[len(history) - 1] if history is not None and len(history) else None
        return draft if draft is not None and session.as_shown(draft.text) == shown else None

    def renoise_selection(self) -> bool:
        """Alt+N: keep everything shown but the selection, and re-run: only the selection is re-noised."""
        shown = self._keepable()
        selection = None if shown is None else self._selection_in(shown)
        if selection is None:
            return False
        if selection[0] == selection[1]:
            self._say("Select the words to re-noise", "state")
            return False
        return self.rerun(Kept(shown, (selection,)).inverted())

    def _can_keep(self) -> bool:
        info = self.bridge.model_info
        return info is not None and info.can_keep

    def _keepable(self) -> str | None:
        """The text shown in the span, if words can be kept in it now (else the status bar says why)."""
        session = self.session
        if session is None or not session.active:
            return None
        if not self._can_keep():
            self._say(NOT_AVAILABLE, "state")
            return None
        if session.shown_text is None:
            self._say("Wait for the first draft: words are kept in the text shown", "state")
        return session.shown_text

    def _selection_in(self, shown: str) -> tuple[int, int] | None:
        """The selection as code point offsets into `shown` (clipped to it), or None when it is outside."""
        cursor, start = self.textCursor(), self.session.start
        lo, hi = cursor.selectionStart() - start, cursor.selectionEnd() - start
        limit = utf16_len(shown)
        if hi < 0 or lo > limit:
            self._say("Select words inside the rewrite to keep them", "state")
            return None
        return utf16_to_index(shown, max(lo, 0)), utf16_to_index(shown, min(hi, limit))

    def _kept_now(self) -> Kept:
        """What Alt+R keeps: the kept words in the text shown now (none with a model that cannot keep)."""
        shown = self.session.shown_text
        if not self._can_keep():
            return Kept()
        return self.kept if shown is None else self._kept_shown(self.session)

    @staticmethod
    def _told_kept(session: RewriteSession | None) -> Kept | None:
        """What the draft shown in the span says it keeps, if it is a re-noise's (while it runs, or a step
        scrubbed back to); None otherwise (the result shown: the pins were set from its last draft)."""
        draft = session.shown_draft if session is not None and session.active else None
        if draft is None or not draft.kept or len(draft.kept) != len(draft.pieces):
            return None
        return Kept(draft.text, flagged(draft.pieces, draft.kept))

    def _pinned(self, session: RewriteSession) -> list[Highlight]:
        """The kept words as highlights of the text shown now, found again in it when it changed."""
        shown = session.shown_text
        if shown is None or not self.kept:
            return []  # the original is shown (a re-noise waits for its first draft): nothing to pin yet
        kept = self._kept_shown(session)  # for display only: `self.kept` stays on the text it was made on
        at = session.start
        return [Highlight(at + index_to_utf16(shown, a), at + index_to_utf16(shown, b), "pinned") for a, b in kept]

    def _kept_shown(self, session: RewriteSession) -> Kept:
        """The kept words in the text shown now: where a re-noise's draft says it keeps them (exact even when a
        word repeats, where finding it again by position could pin another one), with words kept meanwhile;
        otherwise the kept words found again in it."""
        shown, told = session.shown_text or "", self._told_kept(session)
        if told is None:
            return self.kept.moved_to(shown)
        return Kept(shown, merge(told.moved_to(shown).ranges + self._meanwhile.moved_to(shown).ranges))

    # -- status ------------------------------------------------------------------------------------------

    def _say(self, text: str, kind: str) -> None:
        """The status line. kind "state": true until the next line replaces it; "note": about something that
        happened, true until the text is edited next (then cleared, see _on_contents_change)."""
        self._status_kind, self.status = kind, text
        self.statusChanged.emit(text)

    def _on_contents_change(self, _position: int, _removed: int, _added: int) -> None:
        session = self.session
        if self._status_kind == "note" and not (session is not None and session.applying):
            self._status_kind = self.status = ""
            self.statusChanged.emit("")

    # -- floating widgets --------------------------------------------------------------------------------

    def _select(self, start: int, end: int) -> None:
        cursor = QTextCursor(self.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        self.setTextCursor(cursor)

    def _box_anchor(self):
        # Below the selection's end, so the box does not cover the text it is about.
        cursor = QTextCursor(self.document())
        cursor.setPosition(self.textCursor().selectionEnd())
        return self.cursorRect(cursor)

    def _place_floats(self, _value: int = 0) -> None:
        if self.box.isVisible():
            self.box.place(self._box_anchor())
        self._place_bar()

    def _place_bar(self) -> None:
        """While a review is open, the bar fills a strip reserved below the viewport: no line is ever under it."""
        showing = self.review is not None and self.review.current is not None
        view, left = self.viewport().geometry(), self.contentsRect().left()
        width = view.right() + 1 - left
        if showing:
            _history, count = self._steps()
            label = self.alternatives.label()
            text = self._scrub_status() if self._scrub is not None else describe(self.review)
            text = f"{label} · {text}" if label else text
            self.bar.set_state(text, self._position(), count, deciding=self._scrub is None)
        height = self.bar.height_for(width) if showing else 0
        margins = self.viewportMargins()
        if margins.bottom() != height:  # the line numbers' width stays as CodeEditor set it
            self.setViewportMargins(margins.left(), margins.top(), margins.right(), height)
        if not showing:
            self.bar.hide()
            return
        self.bar.show_in(QRect(left, self.viewport().geometry().bottom() + 1, width, height))

    def _current_hunk(self) -> tuple[int, int]:
        """The document positions of the review's current hunk."""
        position = self.session.start
        for text, kind in self.review.segments():
            if kind == "current":
                return position, position + utf16_len(text)
            position += utf16_len(text)
        return position, position

    def _follow(self, session: RewriteSession) -> None:
        """While the span is on screen, keep its end in view as drafts grow it (a fill at the end of the file
        grows below the view). A span scrolled away by the user is left there."""
        top, bottom = self._line_rect(session.start).top(), self._line_rect(session.end).bottom()
        if bottom >= 0 and top < self.viewport().height():
            self._reveal(session.end)

    def _line_rect(self, position: int) -> QRect:
        cursor = QTextCursor(self.document())
        cursor.setPosition(min(position, self.document().characterCount() - 1))
        return self.cursorRect(cursor)

    def _reveal(self, position: int) -> None:
        """Scroll the least that shows `position`'s line whole; the caret stays where it is (ensureCursorVisible
        would need the caret moved there)."""
        scroll = self.verticalScrollBar()
        line = max(1, self.fontMetrics().lineSpacing())
        for _ in range(4):  # the scroll bar counts layout lines; a wrapped or taller line may need another go
            rect, height = self._line_rect(position), self.viewport().height()
            if rect.top() < 0:
                step = -(-rect.top() // line + 1)
            elif rect.bottom() >= height:
                step = (rect.bottom() - height) // line + 1
            else:
                return
            before = scroll.value()
            scroll.setValue(before + step)
            if scroll.value() == before:
                return

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._place_bar()

    def _on_box_submitted(self, mode: str, instruction: str) -> None:
        self.setFocus()
        self.start_rewrite(mode, instruction)

    def _refresh(self) -> None:
        selections = []
        session = self.session
        colors = colors_for(self.palette())
        if session is not None and session.active:
            for h in [*session.highlights(), *self._pinned(session)]:  # pinned last: drawn over the others
                sel = QTextEdit.ExtraSelection()
                cursor = QTextCursor(self.document())
                cursor.setPosition(h.start)
                cursor.setPosition(h.end, QTextCursor.MoveMode.KeepAnchor)
                sel.cursor = cursor
                sel.format = _format(h.kind, colors)
                selections.append(sel)
        self.set_overlay(selections)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._refresh()  # a theme switch: the draft's and the review's highlights take the new colours

    # -- keys --------------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key == Qt.Key.Key_J and mods == Qt.KeyboardModifier.ControlModifier:
            self.open_instruction_box()
            return
        session = self.session
        if session is None or not session.active:
            super().keyPressEvent(event)
            return
        plain = mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        alt = mods == Qt.KeyboardModifier.AltModifier
        if key == Qt.Key.Key_R and alt:
            self.rerun()
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and alt:
            self.scrub(-1 if key == Qt.Key.Key_Left else 1)
        elif key in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight) and alt:
            self.cycle_alternative(-1 if key == Qt.Key.Key_BracketLeft else 1)
        elif (key, mods) in _KEEP_KEYS:  # before the edit keys: Ctrl+K deletes to the line's end on X11
            getattr(self, _KEEP_KEYS[key, mods])()
        elif self.review is not None and key in (Qt.Key.Key_Y, Qt.Key.Key_N) and plain:
            self._decide(key == Qt.Key.Key_Y)
        elif key == Qt.Key.Key_Escape:
            self.cancel_rewrite()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab) and plain:
            self.accept_rewrite()
        elif event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo):
            self._after_cancel(lambda: super(Editor, self).keyPressEvent(event))
        elif _is_edit(event):
            self._guarded(lambda: super(Editor, self).keyPressEvent(event))
        else:
            super().keyPressEvent(event)

    def context_menu(self) -> QMenu:
        """The right-click menu: Qt's standard entries, then "Rewrite selection…" (what Ctrl+J does)."""
        menu = self.createStandardContextMenu()
        menu.addSeparator()
        keys = QKeySequence("Ctrl+J").toString(QKeySequence.SequenceFormat.NativeText)
        rewrite = menu.addAction(f"Rewrite selection…\t{keys}", self.open_instruction_box)
        rewrite.setEnabled(self.textCursor().hasSelection())
        return menu

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt's name
        menu = self.context_menu()
        menu.exec(event.globalPos())
        menu.deleteLater()

    # Every other way text reaches the document goes under the draft too (DESIGN.md, "Reliability").

    def insertFromMimeData(self, source) -> None:  # noqa: N802 - Qt's name: paste, and drops
        self._guarded(lambda: super(Editor, self).insertFromMimeData(source))

    def inputMethodEvent(self, event) -> None:  # noqa: N802 - Qt's name: CJK, dead keys, ibus/fcitx commits
        # A composition (preedit) starts under the draft too: Qt commits it later where the preedit began.
        if event.commitString() or event.replacementLength() or event.preeditString():
            self._guarded(lambda: super(Editor, self).inputMethodEvent(event))
        else:
            super().inputMethodEvent(event)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()  # no drop caret: nothing will be inserted
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if paths := dropped_files(event.mimeData()):
            event.acceptProposedAction()
            self.filesDropped.emit(paths)
            return
        session = self.session
        if self._in_edit or session is None or not session.active:
            super().dropEvent(event)
            return
        # Qt drops at the event's point, laid out for the draft; once the draft is taken back that point lies
        # elsewhere. The caret marks the place instead (QTextCursors follow the take-back), and the drop is
        # made again at the caret's point in the text under the draft.
        self.setTextCursor(self.cursorForPosition(event.position().toPoint()))

        def drop() -> None:
            rect = self.cursorRect(self.textCursor())
            point = QPointF(rect.left() + 1, rect.center().y())
            again = QDropEvent(point, event.possibleActions(), event.mimeData(), event.buttons(), event.modifiers())
            super(Editor, self).dropEvent(again)
            event.setDropAction(again.dropAction())
            event.setAccepted(again.isAccepted())

        self._guarded(drop)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # A drag that moves text out of the document starts (and ends, deleting the source) in here.
        if event.buttons():
            self._guarded(lambda: super(Editor, self).mouseMoveEvent(event))
        else:
            super().mouseMoveEvent(event)

    def undo(self) -> None:
        self._after_cancel(super().undo)  # the draft is taken back first: undo then undoes the user's own history

    def redo(self) -> None:
        self._after_cancel(super().redo)

    def _after_cancel(self, action) -> None:
        """Cancel the run, then `action` (an undo or redo); the note says so after it, as the undo clears notes."""
        cancelled = self.cancel_rewrite()
        action()
        if cancelled:
            self._say("Cancelled", "note")

    def _guarded(self, edit) -> None:
        """Apply a user edit under the rewrite: inside the span it ends the run, elsewhere it goes below it."""
        session = self.session
        if self._in_edit or session is None or not session.active:
            edit()  # no draft shown (or already taken back by an outer edit: a drop inside a drag)
            return
        cursor = self.textCursor()
        lo, hi = cursor.selectionStart(), cursor.selectionEnd()
        start, end = session.start, session.end
        if session.mode == "fill" or (session.state == "running" and session.draft is None):
            # An edit at the span's edge would be glued to the model's text (a fill's, or the first draft's,
            # not shown yet): it ends the run as an edit inside does.
            inside = lo <= end and start <= hi
        else:
            inside = (lo < end and start < hi) if lo != hi else start < lo < end
        if inside:
            # Cancel (the original comes back), keep the caret at the same offset, then type there.
            offsets = (cursor.anchor() - start, cursor.position() - start)
            session.cancel()
            self._end_review()
            limit = utf16_len(session.original)
            new = QTextCursor(self.document())
            new.setPosition(session.start + min(max(offsets[0], 0), limit))
            new.setPosition(session.start + min(max(offsets[1], 0), limit), QTextCursor.MoveMode.KeepAnchor)
            self.setTextCursor(new)
            self._refresh()
            edit()
            self._say("Rewrite stopped: you edited the span", "note")  # after the edit, which clears notes
            return
        self._in_edit = True
        try:
            session.suspend()
            edit()
            session.resume()
        finally:
            self._in_edit = False
        if session.state == "interrupted":
            self._end_review()
            self._say("Rewrite stopped: you edited the span", "note")
        self._refresh()
        self._place_floats()


def dropped_files(mime) -> list[str]:
    """The local paths a drop carries when every URL in it is a local file (a link from a browser is text)."""
    urls = mime.urls() if mime is not None and mime.hasUrls() else []
    return [url.toLocalFile() for url in urls] if urls and all(url.isLocalFile() for url in urls) else []


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
