"""What the model is told: the span, the instruction, and the nearest text around it within a token budget.

The context is cut at line boundaries (never inside a line, so never inside a token) and grows outward from
the span, so the text closest to the span is always kept. The span itself is never cut: a span over the
budget is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from engine.types import DEFAULT_CONTEXT_BUDGET, EditRequest, Mode, RequestError

# (DEFAULT_CONTEXT_BUDGET lives with EditRequest, whose field it defaults.)

SPAN_OPEN = "<redraft-span>"
SPAN_CLOSE = "</redraft-span>"
CURSOR = "<redraft-cursor/>"

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
    span_tokens = count_tokens(request.span) if request.span else 0
    if span_tokens > budget:
        raise RequestError(
            f"the selection is {span_tokens} tokens, over the context budget of {budget} tokens; "
            "select less or raise the budget"
        )
    room = budget - span_tokens
    before, used_before, before_whole = _take(_lines_before(request.text, request.start), count_tokens, room - room // 2)
    after, used_after, _ = _take(_lines_after(request.text, request.end), count_tokens, room - used_before)
    if not before_whole and used_before + used_after < room:
        # The after side needed less than its share: give the rest to the before side.
        before, used_before, _ = _take(_lines_before(request.text, request.start), count_tokens, room - used_after)
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


def _lines_before(text: str, start: int) -> Iterator[str]:
    """Lines ending at `start`, nearest first; the first may be a partial line (the span's own line)."""
    end = start
    while end > 0:
        cut = text.rfind("\n", 0, end - 1) + 1
        yield text[cut:end]
        end = cut


def _lines_after(text: str, end: int) -> Iterator[str]:
    """Lines starting at `end`, nearest first, each with its line ending."""
    start = end
    while start < len(text):
        nl = text.find("\n", start)
        stop = len(text) if nl < 0 else nl + 1
        yield text[start:stop]
        start = stop


def _take(lines: Iterator[str], count_tokens: Callable[[str], int], budget: int) -> tuple[list[str], int, bool]:
    """As many lines as fit in `budget`; also whether every line fitted."""
    taken: list[str] = []
    used = 0
    for line in lines:
        cost = count_tokens(line)
        if used + cost > budget:
            return taken, used, False
        taken.append(line)
        used += cost
    return taken, used, True
