"""The values that cross the engine's boundary (requests in, drafts and results out) and the Backend protocol.

All are frozen dataclasses so they can be handed between threads without copying.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

Mode = Literal["rewrite", "refine", "fill"]
# eos: the model ended the text; converged: nothing changed any more; max_steps: out of steps; length: cut by the
# canvas, the block budget or the context with no end token; cancelled; error (see EditResult.error).
StopReason = Literal["converged", "max_steps", "eos", "length", "cancelled", "error"]

MODES: tuple[Mode, ...] = ("rewrite", "refine", "fill")
# What the app and the engine say to a keep-and-re-noise request on a model without a canvas of positions.
KEEP_NOT_AVAILABLE = "keeping words and re-noising the rest is not available with this model (it needs a diffusion model)"
PLACEHOLDER = "\u2591"  # a light shade block: a piece still masked (masked-diffusion backends)
DEFAULT_CONTEXT_BUDGET = 4096  # tokens of the document a prompt carries, span included


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
    # Another answer than the best guess ("Try again"): a backend that decodes a rewrite greedily samples instead.
    varied: bool = False
    context_budget: int = DEFAULT_CONTEXT_BUDGET  # tokens of text around the span (span included); capped per model
    document_id: str = ""  # a new request for the same document supersedes the running one
    # Diffusion-native edits: start the canvas from `warm_start` (a draft's text) instead of noise and keep the
    # character ranges `keep` (start, end offsets into `warm_start`) fixed at their positions in every step.
    # Only backends whose `ModelInfo.can_keep` is true serve them; the others refuse with a one-line reason.
    warm_start: str | None = None
    keep: tuple[tuple[int, int], ...] = ()
    alternatives: int = 1  # answers wanted from this run (different seeds; batched where the backend can)

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
        if self.context_budget < 1:
            raise ValueError(f"context_budget must be at least 1 token, not {self.context_budget}")
        if self.keep and self.warm_start is None:
            raise ValueError("kept ranges need the warm start they point into")
        for keep_start, keep_end in self.keep:
            if not 0 <= keep_start < keep_end <= len(self.warm_start or ""):
                raise ValueError(
                    f"kept range {keep_start}:{keep_end} is outside the warm start (0..{len(self.warm_start or '')})"
                )
        if any(PLACEHOLDER in (self.warm_start or "")[a:b] for a, b in self.keep):
            raise ValueError("a kept range holds a masked piece: only text can be kept")
        if self.alternatives < 1:
            raise ValueError(f"alternatives must be at least 1, not {self.alternatives}")

    @property
    def span(self) -> str:
        return self.text[self.start : self.end]

    def splice(self, replacement: str) -> str:
        """The document with the span replaced; the text outside it is untouched."""
        return self.text[: self.start] + replacement + self.text[self.end :]



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
    # Long spans run block by block: this draft's block (from 1) of `blocks`; `step`/`max_steps` count within it.
    # `settled` pieces at the front belong to committed blocks: they never change again in this run.
    block: int = 1
    blocks: int = 1
    settled: int = 0
    # Aligned with `pieces` on a run with kept ranges: the piece is kept text (fixed at its place in every step).
    kept: tuple[bool, ...] = ()

    @property
    def progress(self) -> str:
        """Where the run is, as the status bar and the CLI say it: "block 2/3 · step 7/16" (one block: no block)."""
        step = f"step {self.step}/{self.max_steps}"
        return f"block {self.block}/{self.blocks} · {step}" if self.blocks > 1 else step

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
    blocks: int = 1  # blocks the run denoised (long spans: more than one)
    alternatives: tuple[str, ...] = ()  # the other answers of a run asked for several, best first

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
    can_keep: bool = False  # serves warm starts with kept ranges (diffusion backends)
    can_batch: bool = False  # makes a request's alternatives in one batch (else the engine runs them in turn)
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


class Backend(Protocol):
    """The one interface every model backend implements (DiffusionGemma, llama.cpp, remote)."""

    def load(self) -> ModelInfo:
        """Load the model; raise `ModelLoadError` with a one-line reason."""

    def edit(
        self, request: EditRequest, on_draft: Callable[[Draft], None], cancel_event: threading.Event
    ) -> EditResult:
        """Run one edit, calling `on_draft` after each step; stop within one step of `cancel_event`."""

    def info(self) -> ModelInfo: ...

    def close(self) -> None: ...
