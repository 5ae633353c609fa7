"""The values that cross the engine's boundary: requests in, drafts and results out.

All are frozen dataclasses so they can be handed between threads without copying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["rewrite", "refine", "fill"]
StopReason = Literal["converged", "max_steps", "eos", "cancelled", "error"]

MODES: tuple[Mode, ...] = ("rewrite", "refine", "fill")


@dataclass(frozen=True)
class EditRequest:
    """One edit: rewrite `text[start:end]` using the text around it.

    `start`/`end` are offsets in Unicode code points into `text` (Python str indices).
    """

    text: str
    start: int
    end: int
    instruction: str = ""
    mode: Mode = "rewrite"
    language: str | None = None  # a Pygments lexer name, for code-aware prompting
    max_new_tokens: int | None = None
    steps: int | None = None
    seed: int | None = None
    document_id: str = ""  # a new request for the same document supersedes the running one

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 0 <= self.start <= self.end <= len(self.text):
            raise ValueError(
                f"selection {self.start}..{self.end} is outside the document (0..{len(self.text)})"
            )
        if self.mode == "fill" and self.start != self.end:
            raise ValueError("fill inserts at the cursor: start and end must be equal")
        if self.mode != "fill" and self.start == self.end:
            raise ValueError(f"{self.mode} needs a selection: start and end are equal")

    @property
    def span(self) -> str:
        return self.text[self.start : self.end]

    def splice(self, replacement: str) -> str:
        """The document with the span replaced; the text outside it is untouched."""
        return self.text[: self.start] + replacement + self.text[self.end :]


PLACEHOLDER = "\u2591"  # a light shade block: a piece still masked (masked-diffusion backends)


@dataclass(frozen=True)
class Draft:
    """The span's replacement as it stands after one denoising step.

    `pieces` are the decoded tokens, in order: ``"".join(pieces) == text``; a position not yet decided is
    `PLACEHOLDER`. `confidence` (0..1) and `changed` (differs from the previous step) are aligned with `pieces`.
    """

    step: int
    max_steps: int
    text: str
    pieces: tuple[str, ...] = ()
    confidence: tuple[float, ...] = ()
    changed: tuple[bool, ...] = ()
    elapsed_s: float = 0.0

    @classmethod
    def streamed(cls, pieces: list[str], max_steps: int, elapsed_s: float) -> Draft:
        """A left-to-right draft: one step per piece, only the newest changed, streamed tokens are final."""
        n = len(pieces)
        return cls(
            step=n,
            max_steps=max_steps,
            text="".join(pieces),
            pieces=tuple(pieces),
            confidence=(1.0,) * n,
            changed=(False,) * (n - 1) + (True,),
            elapsed_s=elapsed_s,
        )


@dataclass(frozen=True)
class EditResult:
    """How an edit ended. `error` is a one-line message when `stop_reason == "error"`."""

    text: str
    steps: int
    tokens: int
    first_draft_s: float | None
    elapsed_s: float
    tokens_per_s: float
    model_id: str
    stop_reason: StopReason
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.stop_reason not in ("cancelled", "error")


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded backend reports about itself."""

    id: str
    family: str
    backend: str
    device: str
    dtype: str
    memory_bytes: int = 0
    canvas_length: int | None = None
    details: dict[str, str] = field(default_factory=dict)


def one_line(value: object) -> str:
    """Any message (an exception, a server's words) as one line of at most 300 characters."""
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class EngineError(Exception):
    """An error the user can act on; its message is one clear line."""


class ModelLoadError(EngineError):
    """The model could not be loaded (missing, refused, corrupt, unsupported, out of memory)."""


class RequestError(EngineError):
    """The request cannot be served as given (for example the span is over the context budget)."""


class Cancelled(Exception):
    """Raised inside a backend's loop when the cancel event is set; never escapes the engine."""
