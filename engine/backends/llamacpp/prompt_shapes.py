"""How an autoregressive GGUF is asked for an edit: the prompt's shape follows what the model can use.

A 135M-270M model cannot read a 4,096-token document with markers and instructions about markers; it can
follow a short pattern. So there are three shapes, chosen per model by `shape_for` and measured by the quality
benchmark (tests/bench/quality, tuning half; docs/BENCHMARKS.md):

- "examples": a base model (no chat template, like Gemma 3 270M) continues three worked examples in plain
  completion form (`Instruction:` / `Original:` / `Edited:`) ending with the span.
- "short-chat": a small instruction-tuned model (under SMALL_MODEL_BYTES on disk, like SmolLM2-135M-Instruct)
  gets a short system turn, the same three examples as earlier turns, and the span: no markers, no document.
- "document": a large instruction-tuned model gets the marked document every backend sends
  (engine/prompt.py `PromptContext.user_message`).

A fill on a base or small model is a plain continuation of the text before the cursor: a pattern every
language model follows. Each shape stops where the span's shape ends: a line for a line, a paragraph for a
paragraph.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Literal

from engine import spelling
from engine.prompt import CORRECTION_EXAMPLES, EXAMPLES, PromptContext

Shape = Literal["examples", "short-chat", "document"]

# On disk, about 1.5B parameters at 4 bits: the models measured here that cannot use the marked document are
# far below it (SmolLM2-135M 98 MB, Gemma 3 270M 253 MB); 4B instruct models (2.5 GB at Q4) get the document.
SMALL_MODEL_BYTES = 1 << 30
# A small model's rewrite goes wrong long before its context is full (it drops and invents sentences): a span
# over this is refused with a message rather than rewritten badly or cut silently. 256 tokens is about two
# paragraphs, the longest span of the quality benchmark's prose cases.
SMALL_SPAN_TOKENS = 256
# Small models use only the nearest context: a fill continues at most this many tokens before the cursor.
SMALL_FILL_CONTEXT = 512

SENTENCE_ENDS = (". ", "! ", "? ")  # a stop that keeps its mark: the answer ends after it (output_shape.py)
_HEADER = "Each Edited text is the Original text with the Instruction applied, and nothing else.\n\n"
SYSTEM = (
    "You are a careful copy editor. Apply the instruction to the text and reply with the edited text only. "
    "Keep everything the instruction does not ask you to change."
)


def shape_for(has_chat_template: bool, small: bool) -> Shape:
    if not has_chat_template:
        return "examples"
    return "short-chat" if small else "document"


def wish(context: PromptContext) -> str:
    """The instruction as the examples phrase it; an empty one means the mode's default."""
    return context.instruction.strip() or ("fix the mistakes" if context.mode == "refine" else "improve it")


def continuation(context: PromptContext) -> tuple[str, str]:
    """A fill for a base or small model: the text before the cursor to be continued, and the whitespace
    taken off its end. A space after a word is taken off, since a BPE vocabulary spells the next word with
    its space (" dough"); a line's indentation stays, since code goes on from it."""
    before = context.before
    line = before[before.rfind("\n") + 1 :]
    at_line_end = not context.after or context.after.startswith("\n")  # (inside a line no break may come)
    if line and not line.strip() and "\n" in before and at_line_end:
        # An indented empty line: BPE vocabularies spell a line break and the next line's indentation as one
        # token, so the prompt ends before the break and the answer brings both.
        return before[: len(before) - len(line) - 1], "\n" + line
    kept = before.rstrip(" \t")
    return kept, before[len(kept) :]


def examples_for(context: PromptContext) -> tuple[tuple[str, str, str], ...]:
    return CORRECTION_EXAMPLES if _is_correction(context.mode, context.instruction) else EXAMPLES


def completion_prompt(context: PromptContext, examples: int = len(EXAMPLES)) -> str:
    """A base model continues text: a rewrite follows `examples` worked examples, then the span."""
    shown = "".join(f"Instruction: {i}\nOriginal: {o}\nEdited: {e}\n\n" for i, o, e in examples_for(context)[:examples])
    return f"{_HEADER}{shown}Instruction: {wish(context)}\nOriginal: {context.span}\nEdited:"


def short_chat(context: PromptContext, examples: int = len(EXAMPLES)) -> list[dict[str, str]]:
    """A small instruct model: a system turn, the examples as earlier turns, the span; nothing else."""
    messages = [{"role": "system", "content": SYSTEM}]
    for instruction, original, edited in examples_for(context)[:examples]:
        messages += [{"role": "user", "content": f"{instruction}:\n{original}"}, {"role": "assistant", "content": edited}]
    return [*messages, {"role": "user", "content": f"{wish(context)}:\n{context.span}"}]


def stops(context: PromptContext) -> list[str]:
    """Where the span's shape ends: a line for a line, a paragraph for a paragraph; a fill ends its line when
    the cursor is inside one, else its paragraph, and a fill between two sentences of prose ends its sentence."""
    if context.mode == "fill":
        mid_line = bool(context.before) and not context.before.endswith("\n") and not context.after.startswith("\n")
        between = mid_line and context.language in (None, "Markdown") and context.before.rstrip()[-1:] in (".", "!", "?")
        fence = ["```"] if context.language and context.language != "Markdown" else []  # code never has one
        return [*SENTENCE_ENDS, "\n"] if between else [*fence, "\n"] if mid_line else [*fence, "\n\n"]
    if "\n" not in context.span.strip("\n"):
        return ["\n", "Instruction:", "Original:"]  # one line, and no run-on into a next example
    return ["\n\n", "\nInstruction:"] if "\n\n" not in context.span else ["\nInstruction:", "\nOriginal:"]


def one_line(request) -> bool:
    """The answer stays on one line: a fill inside a line that goes on, or a rewrite of a one-line span."""
    if request.mode == "fill":
        text, at = request.text, request.start
        return at > 0 and text[at - 1] != "\n" and at < len(text) and text[at] != "\n"
    return "\n" not in request.span.strip("\n")


def sampling(request, varied: bool | None = None) -> dict:
    """llama.cpp's sampling for this request. An edit decodes greedily: a correction has one right answer
    and sampling only adds mistakes; "Try again" (a request with `varied`) samples for another answer.
    No repetition penalty: an edit copies most of its words from the span, which the penalty punishes;
    OutputShape cuts loops instead."""
    if not (request.varied if varied is None else varied):
        return {"temperature": 0.0, "repeat_penalty": 1.0}
    return {"temperature": 0.7, "top_p": 0.95, "repeat_penalty": 1.0}


_SPELLING = re.compile(r"\b(typo|spell|misspel)", re.IGNORECASE)


def is_spelling(request) -> bool:
    """A correction of spelling only ("fix the typos"): no word but a misspelled one changes."""
    return request.mode == "rewrite" and bool(_SPELLING.search(request.instruction)) and not re.search(
        r"grammar|punctuat|mistake|style|clear|short|formal", request.instruction, re.IGNORECASE)


_CORRECTION = re.compile(r"\b(fix|correct|typo|spell|grammar|proofread|punctuat|mistake)", re.IGNORECASE)


def is_correction(request) -> bool:
    return _is_correction(request.mode, request.instruction)


# A correction keeps almost every word of its span; a small model's answer that kept fewer (it summarised,
# dropped a clause, stopped early) is tried again, sampled, this many times before it is offered anyway.
KEPT_WORDS = 0.6
CORRECTION_RETRIES = 2
# A small model asked to shorten often copies the span or chats ("Thanks. ..."): an answer that is not
# shorter, or that drops or invents much, is tried again, sampled, this many times; the best is offered.
SHORTER = (0.3, 0.8)  # the answer's length in words, against the span's
SHORTEN_RETRIES = 3
_SHORTEN = re.compile(r"\b(short|concise|brief|condense|trim|tighten|cut)", re.IGNORECASE)
_FUNCTION_WORDS = frozenset(
    "a an and are as at be been but by can could did do does for from had has have he her his how i if in into is "
    "it its may might more most much must no nor not of on or our she should so such than that the their them then "
    "there these they this those to too us very was we were what when where which while who will with would you "
    "your about also just really".split()
)


def is_shortening(request) -> bool:
    return request.mode == "rewrite" and bool(_SHORTEN.search(request.instruction))


def retries(request) -> int:
    """How many sampled tries a small model's answer may get (see `fit`)."""
    if is_correction(request):
        return CORRECTION_RETRIES
    return SHORTEN_RETRIES if is_shortening(request) else 0


def fit(request, answer: str) -> tuple[float, bool]:
    """How well a small model's answer does what was asked, and whether that is good enough to stop trying.
    A correction: the share of the span's words kept. A shortening: shorter by SHORTER, with the span's
    content words kept and none invented (their shares, multiplied; invented ones count twice)."""
    if is_shortening(request):
        ratio = len(answer.split()) / max(1, len(request.span.split()))
        if not SHORTER[0] <= ratio <= SHORTER[1]:
            return 0.0, False
        had, has = _content(request.span), _content(answer)
        kept = sum(had[w] for w in has.keys() & had.keys()) / max(1e-9, sum(had.values()))
        faithful = sum(has[w] for w in has.keys() & had.keys()) / max(1e-9, sum(has.values()))
        quality = kept * faithful * faithful
        return quality, kept >= 0.6 and faithful >= 0.8
    kept = kept_share(request.span, answer)
    return kept, kept >= KEPT_WORDS


def _content(text: str) -> dict[str, float]:
    """The text's content words, by their first five letters (compare, compares), each weighed by how rare
    the word is (its information, from the dictionary's counts): "survey" carries more than "left"."""
    counts = spelling.counts()
    total = 1.6e9
    return {
        w[:5]: math.log(total / (counts.get(w, 0) + 1e3))
        for w in re.findall(r"[a-z][a-z'-]+", text.lower())
        if len(w) > 2 and w not in _FUNCTION_WORDS
    }


def kept_share(span: str, answer: str) -> float:
    """The share of `span`'s words that `answer` keeps, in order (difflib's matching words); a correction's
    answer under KEPT_WORDS is tried again, and of the tries the one that kept most is offered."""
    before, after = span.lower().split(), answer.lower().split()
    if not before:
        return 1.0
    kept = sum(block.size for block in difflib.SequenceMatcher(None, before, after, autojunk=False).get_matching_blocks())
    return kept / len(before)


def _is_correction(mode: str, instruction: str) -> bool:
    """An edit that keeps almost every word: a refine, or an instruction to fix or correct."""
    return mode == "refine" or (mode == "rewrite" and bool(_CORRECTION.search(instruction)))
