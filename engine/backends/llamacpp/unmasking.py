"""The parallel unmasking sampler for masked-diffusion models (LLaDA, Dream, ...): pure NumPy, no model.

Each denoising step the model scores every masked position; this module picks a token for each and decides
which of them to commit (unmask for good) this step:

- every position whose score reaches `threshold` (easy tokens commit together, so a step can fill many), and
- at least the best `max(1, ceil(masked / remaining_steps))` positions, so the canvas is fully unmasked by
  the last step whatever the threshold.

Scores are in 0..1, higher = surer, and always come from the model's own distribution (temperature 1), so a
threshold means the same at every sampling temperature:

- "confidence": the probability of the chosen token;
- "margin": top-1 minus top-2 probability;
- "entropy": 1 - H(p) / log(vocabulary), 1 for a one-hot distribution.

With `temperature == 0` the chosen token is the argmax and the random generator is not used; otherwise it is
sampled from softmax(logits / temperature) (Gumbel-max: one draw per row and token, a fixed number per
step), so a given seed always gives the same choices. Ties in score go to the leftmost position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Score = Literal["confidence", "margin", "entropy"]
SCORES: tuple[Score, ...] = ("confidence", "margin", "entropy")


@dataclass(frozen=True)
class UnmaskingParams:
    steps: int = 32  # forward passes at most; the canvas is fully unmasked by the last one
    score: Score = "confidence"  # how sure the model is at a position: "confidence" | "margin" | "entropy"
    threshold: float = 0.9  # commit every position scoring at least this; over 1 commits only the minimum
    temperature: float = 0.3  # 0 = greedy (argmax, the seed is unused); above 0 samples softmax(logits / T)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(SCORES)}, not {self.score!r}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be 0 or more, not {self.temperature}")


@dataclass(frozen=True)
class Commit:
    """What one step commits: `rows` index the logits rows given (ascending), with their tokens and scores."""

    rows: np.ndarray  # int64, indices into the masked positions passed in
    tokens: np.ndarray  # int64, the token committed at each
    scores: np.ndarray  # float64 in 0..1, each position's score at commit time


def minimum_commits(masked: int, remaining_steps: int) -> int:
    """How many positions must commit now so that `masked` positions are all filled in `remaining_steps`."""
    if masked == 0:
        return 0
    return masked if remaining_steps <= 1 else max(1, math.ceil(masked / remaining_steps))


def unmask_step(
    logits: np.ndarray, rng: np.random.Generator, remaining_steps: int, params: UnmaskingParams
) -> Commit:
    """Choose tokens for the masked positions (one logits row each, shape masked x vocabulary) and pick which
    to commit this step. `remaining_steps` counts this step: 1 means this is the last, so all commit."""
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 2:
        raise ValueError(f"logits must be masked x vocabulary, not shape {logits.shape}")
    masked, vocab = logits.shape
    if masked == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Commit(empty, empty, np.zeros(0))

    # 1. The model's distribution at each position (temperature 1).
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)

    # 2. A token per position: argmax, or a Gumbel-max draw at the sampling temperature.
    if params.temperature == 0:
        tokens = probs.argmax(axis=1)
    else:
        uniform = np.maximum(rng.random(logits.shape, dtype=np.float32), np.finfo(np.float32).tiny)
        gumbel = -np.log(-np.log(uniform))
        tokens = (shifted / params.temperature + gumbel).argmax(axis=1)
    rows = np.arange(masked)

    # 3. How sure the model is at each position, 0..1.
    if params.score == "confidence":
        scores = probs[rows, tokens].astype(np.float64)
    elif params.score == "margin":
        top2 = np.partition(probs, vocab - 2, axis=1)[:, -2:] if vocab > 1 else np.c_[np.zeros(masked), probs]
        scores = (top2[:, 1] - top2[:, 0]).astype(np.float64)
    else:
        entropy = -(probs * np.log(np.maximum(probs, np.finfo(np.float32).tiny))).sum(axis=1, dtype=np.float64)
        scores = 1.0 - entropy / math.log(vocab) if vocab > 1 else np.ones(masked)
    scores = np.clip(scores, 0.0, 1.0)

    # 4. Commit the scheduled minimum (best first, ties to the left) and everything over the threshold.
    quota = minimum_commits(masked, remaining_steps)
    order = np.argsort(-scores, kind="stable")
    chosen = np.zeros(masked, dtype=bool)
    chosen[order[:quota]] = True
    chosen |= scores >= params.threshold
    picked = np.flatnonzero(chosen)
    return Commit(picked.astype(np.int64), tokens[picked].astype(np.int64), scores[picked])
