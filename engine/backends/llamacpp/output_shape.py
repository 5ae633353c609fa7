"""Where a streamed answer ends, decided here rather than by llama.cpp's stop strings.

Three things llama.cpp's `stop=` cannot do: ignore a stop string in the answer's leading whitespace (a small
model often opens with a line break, which would end a one-line fill before it began), remove the
whitespace the document already has before the cursor (the prompt ends without it, so that the model's
next token carries its own space, as BPE vocabularies spell words: " dough", not "dough"), and cut a runaway
loop (the same phrase over and over) down to one copy. While the answer streams, a tail that may be the start
of a stop string is held back, so a draft never shows "\\nInstr" on its way to a stop.
"""

from __future__ import annotations

import re

# The same 12-80 characters four times in a row at the end: a loop, not prose (prose repeats words, not runs).
# Shorter units are real text too often: a table's "| --- ", a "=====" rule, "0, 0, 0", indentation.
_LOOP = re.compile(r"(.{12,80}?)\1{3,}\Z", re.DOTALL)
_LOOP_MIN_KINDS = 4  # different characters the repeated unit holds (a run of one or two is a rule, not a loop)
_LOOP_TAIL = 640  # characters of the answer's end searched for a loop


_LEAD_BREAK = re.compile(r"\A[ \t]*\n[ \t]*")
_LEAD_BLANK = re.compile(r"\A\s*\n")
# What chat-tuned models say before the text itself: "Sure, I'd be happy to help.", "Here is the corrected
# text:", "The docstring is:". Only at the very start, one sentence or line, and only with text after it.
_PREAMBLE = re.compile(
    r"\A(?:(?:sure|certainly|of course|okay|ok|thanks|thank you|hello|hi|hey|no worries|no problem|great)\b"
    r"[^\n.!:]{0,80}[.!:]"  # a courtesy
    r"|(?:here(?:'s| is| are)|the (?:\w+ ){0,3}(?:is|are|would be))\b[^\n.!:]{0,80}:)"  # a presentation, with its colon
    r"[ \t]*\n?[ \t]*(?=\S)",  # and only with text after it
    re.IGNORECASE,
)

_THANKS = re.compile(r"[ \t]+(?:thanks|thank you|cheers)\b[^\n.!?]{0,40}[.!]\s*\Z", re.IGNORECASE)


def _kept(stop: str) -> int:
    """How much of a stop string stays in the answer: a sentence's mark (". ") stays, its space goes."""
    return len(stop.rstrip()) if stop.endswith(" ") and stop.strip() else 0


class OutputShape:
    """Feed the streamed pieces to `add`; `text` is what may be shown, `done` says the answer ended."""

    def __init__(self, stops: list[str], prefix: str = "", chat: bool = False, source: str = "") -> None:
        self.stops = [s for s in stops if s]
        self.prefix = prefix  # whitespace the document already has where the answer goes
        self.chat = chat  # a chat model's answer: its opening courtesy ("Sure! Here is...:") is not the text
        self.source = source.lower()  # the span: a courtesy it has itself ("Of course, we...") is the text
        self.raw = ""
        self.done = False
        self.answer = ""  # all of it so far, held-back tail included
        self.text = ""  # what may be shown

    def fresh(self) -> OutputShape:
        """The same shape with nothing fed yet (another answer to the same prompt)."""
        return OutputShape(self.stops, self.prefix, self.chat, self.source)

    def add(self, piece: str) -> bool:
        """Take one piece; True once the answer has ended (a stop string or a loop)."""
        if self.done:
            return True
        self.raw += piece
        answer = _LEAD_BLANK.sub("", self._answer())  # a line break before the answer is not the answer's
        for _ in range(2 if self.chat else 0):  # "Sure! Here is the corrected text:" is two
            said = _PREAMBLE.match(answer)
            if said is None or said.group(0).strip().lower() in self.source:
                break
            answer = answer[said.end() :]
        body = len(answer) - len(answer.lstrip())  # stops count only after the leading whitespace
        cut = min((i + _kept(s) for s in self.stops if (i := answer.find(s, body)) >= 0), default=-1)
        if cut >= 0:
            answer, self.done = answer[:cut], True
        elif (loop := self._loop(answer)) is not None:
            answer = answer[: len(answer) - len(loop.group(0)) + len(loop.group(1))]
            self.done = True
        self.answer = answer
        if self.done:
            self.text = answer
        elif body < len(answer):  # nothing but whitespace yet: nothing to show
            self.text = answer[: len(answer) - self._held(answer, body)]
        return self.done

    def finish(self) -> str:
        """The answer when the model ended it (an end token, the token limit): the held-back tail too, less
        a closing courtesy ("... Thank you.") when the span thanks no one."""
        if not self.done:
            self.text = self.answer if self.answer.strip() else ""
        if self.chat and (said := _THANKS.search(self.text)) and said.start() and not re.search(r"thank|cheers", self.source):
            self.text = self.text[: said.start()]
        return self.text

    @staticmethod
    def _loop(answer: str):
        # The regex only when the last 12 characters came before: ~2 ms a token otherwise, 20% of a step.
        if answer[-12:] not in answer[-_LOOP_TAIL:-12]:
            return None
        loop = _LOOP.search(answer[-_LOOP_TAIL:])
        return loop if loop and len(set(loop.group(1).strip())) >= _LOOP_MIN_KINDS else None

    def cut_short(self) -> str:
        """The answer when the token limit ended it: back to its last whole line, else its last whole sentence,
        so a fill never ends inside a statement or a word (the text as it is when it has neither)."""
        text = self.finish()
        if text.rstrip()[-1:] in (".", "!", "?"):
            return text.rstrip()
        line = text.rstrip().rfind("\n")
        if line > 0:
            return text[:line]
        sentence = max(text.rfind(mark) for mark in (". ", "! ", "? "))
        return text[: sentence + 1] if sentence > 0 else text

    def _answer(self) -> str:
        """The answer so far, less the document's own whitespace before it."""
        if not self.prefix:
            return self.raw
        if self.prefix.startswith(self.raw):  # still inside what the document has
            return ""
        if self.raw.startswith(self.prefix):
            return self.raw[len(self.prefix) :]
        # Other whitespace than the document's: the document's stays, the answer's own is dropped (its line
        # break too, when the document's whitespace ends a line that the answer would otherwise break again).
        return _LEAD_BREAK.sub("", self.raw) if self.prefix.startswith("\n") else self.raw.lstrip()

    def _held(self, answer: str, body: int) -> int:
        """How much of the end may be the start of a stop string (shown once it is known not to be)."""
        longest = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(answer) - body), longest, -1):
                if answer.endswith(stop[:n]):
                    longest = n
                    break
        return longest
