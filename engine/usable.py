"""Whether a model's finished text may be offered as an edit at all.

A small model often answers with nothing, or with the prompt's own scaffolding (the span markers, chat-turn
tokens, a worked example's sentence). Offered as an edit, nothing becomes a hunk that deletes the span: one Enter would lose the user's
text. So an empty result is refused unless the instruction asked for a deletion, and so is a result holding a
marker or chat token the document itself does not contain (a document about chat templates may hold them),
or a masked piece's placeholder (a mask kept from a warm start is no text).
"""

from __future__ import annotations

import re

from engine.prompt import CURSOR, EXAMPLE_TEXTS, SPAN_CLOSE, SPAN_OPEN
from engine.types import PLACEHOLDER, EditRequest

NOTHING = "the model returned nothing usable; the text is unchanged"
# Prompt scaffolding and the chat-turn tokens of the model families Redraft runs (Gemma, ChatML, Llama 3).
SCAFFOLDING = (
    SPAN_OPEN, SPAN_CLOSE, CURSOR, "<document>", "</document>", "<start_of_turn>", "<end_of_turn>",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|start_header_id|>", "<|eot_id|>",
    "Reply with the new text only",
)
# A small model that cannot make sense of the span echoes a worked example, or a sentence of one.
EXAMPLE_SENTENCES = frozenset(
    sentence for example in EXAMPLE_TEXTS for sentence in re.split(r"(?<=[.!?])\s+", example) if len(sentence) >= 20
)
ECHO_WORDS = 0.5  # ...unless the span itself holds this share of the sentence's words: then it is the span, fixed
_DELETION = re.compile(r"\b(delete|remove|drop|erase|cut)\b", re.IGNORECASE)


def unusable(request: EditRequest, text: str) -> str | None:
    """Why `text` cannot replace `request`'s span (one line), or None when it can."""
    if not text.strip():
        asked = request.mode != "fill" and bool(_DELETION.search(request.instruction))
        if not (asked and text == ""):
            return NOTHING
    if PLACEHOLDER in text and PLACEHOLDER not in request.text:
        return "the model's answer still holds masked pieces; the text is unchanged"
    leaked = [piece for piece in SCAFFOLDING if piece in text and piece not in request.text]
    leaked += [s for s in EXAMPLE_SENTENCES if s in text and s not in request.text and not _from_span(s, request.span)]
    if leaked:
        return f"the model's answer holds prompt text ({leaked[0]!r}); the text is unchanged"
    return None


def _from_span(sentence: str, span: str) -> bool:
    """Whether the span holds most of the sentence's words: "Could you please send me the reprot by
    tomorrow?" fixed is the span, not an echo of the example it now equals."""
    words = re.findall(r"\w+", sentence.lower())
    have = set(re.findall(r"\w+", span.lower()))
    return sum(w in have for w in words) >= ECHO_WORDS * len(words)
