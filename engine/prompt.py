"""What the model is told: the span, the instruction, and the nearest text around it within a token budget.

The context is cut at line boundaries (never inside a line, so never inside a token) and grows outward from
the span, so the text closest to the span is always kept. The one exception is a line too long to ever fit
(over CHARS_PER_TOKEN characters per token of the budget, say a 50 MB file on one line): only its part
nearest the span is tokenized, cut at a space, and shrunk until it fits, so the cost follows the budget, not
the line. The span itself is never cut: a span over the budget is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from engine.types import DEFAULT_CONTEXT_BUDGET, EditRequest, Mode, RequestError

# (DEFAULT_CONTEXT_BUDGET lives with EditRequest, whose field it defaults.)

# Generous: tokenizers average 3-5 characters per token of prose or code, so a piece of this many characters
# per token of room holds at least the room's worth of tokens.
CHARS_PER_TOKEN = 8
# A line shorter than this is taken whole or not at all, whatever the budget: cutting it would save little.
MIN_LONG_LINE = 4096
# Shrinking a cut line to fit: each try cuts it in proportion to how far over it was, so two or three do.
_FIT_TRIES = 6

SPAN_OPEN = "<redraft-span>"
SPAN_CLOSE = "</redraft-span>"
CURSOR = "<redraft-cursor/>"

# The project's own examples, none from the quality benchmark's cases (tests/bench/quality/). A correction is
# shown corrections only: a shortening example teaches a small model to drop words from a typo fix.
CORRECTION_EXAMPLES = (
    ("fix the typos", "Thank you for you're kind leter, it arived yesterday.",
     "Thank you for your kind letter, it arrived yesterday."),
    ("fix the grammar", "She don't like the apples that was on the table.",
     "She doesn't like the apples that were on the table."),
    ("fix the spelling", "We will definitly need a bigger tabel for the meeting on Wensday.",
     "We will definitely need a bigger table for the meeting on Wednesday."),
)
EXAMPLES = (
    CORRECTION_EXAMPLES[0],
    ("make it shorter", "Because the weather was really very bad, we decided that we would stay at home all day.",
     "The bad weather kept us at home all day."),
    ("make it more formal", "Hey, can you send me the report by tomorrow? Thanks a lot!",
     "Could you please send me the report by tomorrow? Thank you."),
)
EXAMPLE_TEXTS = frozenset(text for example in (*CORRECTION_EXAMPLES, *EXAMPLES) for text in example[1:])

_TASKS: dict[Mode, str] = {
    "rewrite": "Rewrite the text between {open} and {close}.",
    "refine": (
        "Refine the text between {open} and {close}: fix mistakes and improve it while keeping its meaning, "
        "length and wording as close to the original as possible."
    ),
    "fill": "Write the text that belongs at {cursor}, so that it fits what comes before and after it.",
}


@dataclass(frozen=True)
class PromptContext:
    """The pieces of a prompt; `before`/`after` are already cut to the budget."""

    before: str
    span: str
    after: str
    instruction: str
    mode: Mode
    language: str | None
    span_tokens: int
    context_tokens: int  # tokens of before + span + after, as counted line by line

    def user_message(self) -> str:
        """The one user turn every backend sends (chat templates render it in their sandbox)."""
        task = _TASKS[self.mode].format(open=SPAN_OPEN, close=SPAN_CLOSE, cursor=CURSOR)
        kind = f"a {self.language} source file" if self.language else "a document"
        lines = [f"You are editing {kind}. {task}"]
        if self.instruction.strip():
            lines.append(f"Instruction: {self.instruction.strip()}")
        lines.append("Reply with the new text only: no markers, no explanations, no code fences.")
        marked = CURSOR if self.mode == "fill" else f"{SPAN_OPEN}{self.span}{SPAN_CLOSE}"
        lines.append(f"\n<document>\n{self.before}{marked}{self.after}\n</document>")
        return "\n".join(lines)

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.user_message()}]


def build_context(
    request: EditRequest, count_tokens: Callable[[str], int], budget: int = DEFAULT_CONTEXT_BUDGET
) -> PromptContext:
    """Cut the text around the span to `budget` tokens (span included), nearest lines first.

    Each side may use half of what the span leaves; what one side does not need goes to the other.
    """
    if request.mode != "fill" and not request.span.strip():
        raise RequestError("the selection is only whitespace: select the text to rewrite")
    span_tokens = count_tokens(request.span) if request.span else 0
    if span_tokens > budget:
        raise RequestError(
            f"the selection is {span_tokens} tokens, over the context budget of {budget} tokens; "
            "select less or raise the budget"
        )
    room = budget - span_tokens
    long_line = max(budget * CHARS_PER_TOKEN, MIN_LONG_LINE)
    text, start, end = request.text, request.start, request.end
    share = room - room // 2
    before, used_before, before_whole = _take(_lines_before(text, start, long_line), count_tokens, share, True)
    after, used_after, _ = _take(_lines_after(text, end, long_line), count_tokens, room - used_before, False)
    if not before_whole and used_before + used_after < room:
        # The after side needed less than its share: give the rest to the before side.
        before, used_before, _ = _take(_lines_before(text, start, long_line), count_tokens, room - used_after, True)
    return PromptContext(
        before="".join(reversed(before)),
        span=request.span,
        after="".join(after),
        instruction=request.instruction,
        mode=request.mode,
        language=request.language,
        span_tokens=span_tokens,
        context_tokens=used_before + span_tokens + used_after,
    )


def _lines_before(text: str, start: int, long_line: int) -> Iterator[tuple[str, bool]]:
    """Lines ending at `start`, nearest first, each with whether it is whole; the first may be a partial line
    (the span's own line). A line over `long_line` characters comes as its last `long_line` only, and ends it."""
    end = start
    while end > 0:
        cut = text.rfind("\n", 0, end - 1) + 1
        if end - cut > long_line:
            yield text[end - long_line : end], False
            return
        yield text[cut:end], True
        end = cut


def _lines_after(text: str, end: int, long_line: int) -> Iterator[tuple[str, bool]]:
    """Lines starting at `end`, nearest first, each with its line ending and whether it is whole. A line over
    `long_line` characters comes as its first `long_line` only, and ends it."""
    start = end
    while start < len(text):
        nl = text.find("\n", start)
        stop = len(text) if nl < 0 else nl + 1
        if stop - start > long_line:
            yield text[start : start + long_line], False
            return
        yield text[start:stop], True
        start = stop


def _take(
    lines: Iterator[tuple[str, bool]], count_tokens: Callable[[str], int], budget: int, before: bool
) -> tuple[list[str], int, bool]:
    """As many lines as fit in `budget`; also whether every line fitted. Nothing is tokenized without room.
    `before`: the lines precede the span, so a cut line keeps its end."""
    taken: list[str] = []
    used = 0
    for line, whole in lines:
        room = budget - used
        if room <= 0:
            return taken, used, False
        if not whole:
            piece, cost = _fit(line, count_tokens, room, keep_end=before)
            if piece:
                taken.append(piece)
                used += cost
            return taken, used, False
        cost = count_tokens(line)
        if cost > room:
            return taken, used, False
        taken.append(line)
        used += cost
    return taken, used, True


def _fit(line: str, count_tokens: Callable[[str], int], room: int, keep_end: bool) -> tuple[str, int]:
    """The longest part of a cut `line` nearest the span (its end if `keep_end`) that fits in `room` tokens,
    cut at a space; ("", 0) when a few tries find none."""
    size = min(len(line), room * CHARS_PER_TOKEN)
    for _ in range(_FIT_TRIES):
        piece = _at_space(line, size, keep_end)
        if not piece:
            break
        cost = count_tokens(piece)
        if cost <= room:
            return piece, cost
        size = len(piece) * room // cost  # shorter than the piece, since cost > room
    return "", 0


_SPACE = re.compile(r"\s")
_LAST_SPACE = re.compile(r"\s(?=\S*\Z)")


def _at_space(line: str, size: int, keep_end: bool) -> str:
    """`line`'s last (keep_end) or first `size` characters, less the word the cut went through, so that no
    token is cut; text without spaces (minified, base64) is cut where it is."""
    if size <= 0:
        return ""
    if keep_end:
        cut = len(line) - size
        piece = line[cut:]
        if cut and line[cut - 1].isspace():
            return piece  # the cut fell between words already
        space = _SPACE.search(piece)
        return piece[space.end() :] if space else piece
    piece = line[:size]
    if size < len(line) and line[size].isspace():
        return piece
    space = _LAST_SPACE.search(piece)
    return piece[: space.end()] if space else piece
