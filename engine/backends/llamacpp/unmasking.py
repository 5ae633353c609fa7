"""The parallel unmasking sampler for masked-diffusion models (LLaDA, Dream, ...): pure NumPy, no model.

Each denoising step the model scores every masked position; this module picks a token for each and decides
which of them to commit (unmask for good) this step:

- every position whose score reaches `threshold` (easy tokens commit together, so a step can fill many), and
- at least the best `max(1, ceil(masked / remaining_steps))` positions, so the canvas is fully unmasked by
  the last step whatever the threshold.

Long canvases run in semi-autoregressive blocks of `block_length` positions (LLaDA's scheme, and llama.cpp's
diffusion example's `--diffusion-block-length`): the backend passes only the current block's masks here, and
`block_steps` splits the run's `steps` between the blocks.

Scores are in 0..1, higher = surer, and always come from the model's own distribution (temperature 1), so a
threshold means the same at every sampling temperature:

- "confidence": the probability of the chosen token;
- "margin": top-1 minus top-2 probability;
- "entropy": 1 - H(p) / log(vocabulary), 1 for a one-hot distribution.

With `temperature == 0` the chosen token is the argmax and the random generator is not used; otherwise it is
sampled from softmax(logits / temperature) by inverse CDF, one uniform draw per row (fixed per step), so a given
seed always gives the same choices. Ties in score go to the leftmost position.

Cost: this runs once per denoising step over masked x vocabulary logits, so it makes three cheap passes over
them (argmax, subtract, compare) and exponentiates only the candidates within `CUT` of each row's best (for a
peaked row, a handful; when most tokens are, all of them, without an index list); a draw is one uniform
number per row, never noise per token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

# A token CUT below its row's best logit weighs under e^-30 of the best one: a whole 262k vocabulary of them adds
# under 3e-8 to the sum, below float32's rounding of it, so leaving them out changes no score and no draw.
# (At temperature T > 1 the cut widens to CUT * T, the same bound on the tempered weights.)
CUT = 30.0
CHUNK = 256  # candidates per partial sum of a draw's two-level search

Score = Literal["confidence", "margin", "entropy"]
SCORES: tuple[Score, ...] = ("confidence", "margin", "entropy")


@dataclass(frozen=True)
class UnmaskingParams:
    steps: int = 32  # forward passes at most; the canvas is fully unmasked by the last one
    score: Score = "confidence"  # how sure the model is at a position: "confidence" | "margin" | "entropy"
    threshold: float = 0.9  # commit every position scoring at least this; over 1 commits only the minimum
    temperature: float = 0.3  # 0 = greedy (argmax, the seed is unused); above 0 samples softmax(logits / T)
    # Positions per semi-autoregressive block: a longer canvas commits block by block, left to right (LLaDA's
    # 32). Here rather than on the backend because it is part of the schedule `steps` is spread over.
    block_length: int = 32

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, not {self.steps}")
        if self.block_length < 1:
            raise ValueError(f"block_length must be at least 1, not {self.block_length}")
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


def block_steps(masks: list[int], steps: int) -> list[int]:
    """Each block's share of a run's `steps`, in proportion to the masks it holds (`masks`, one count per
    block, each at least 1): the shares add up to `steps` and differ by at most one between equal blocks, as
    llama.cpp's diffusion example does it (steps / blocks), but a block always gets at least one step, so a
    run with fewer steps than blocks takes one per block."""
    total, done, shares = sum(masks), 0, []
    for count in masks:
        bound = steps * (done + count) // total
        shares.append(max(1, bound - steps * done // total))
        done += count
    return shares


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

    # 1. The model's distribution (temperature 1) at each position, over the candidates only: the tokens within
    #    CUT of the row's best (see CUT), listed row by row, left to right. Unnormalised: the top token weighs 1.
    rows = np.arange(masked)
    top = logits.argmax(axis=1)
    shifted = logits - logits[rows, top][:, None]  # 0 at the top, <= 0 elsewhere, -inf for a banned token
    near = shifted >= np.float32(-CUT * max(1.0, params.temperature))
    if np.count_nonzero(near) * 4 > near.size:  # most tokens are candidates: take them all, no index list
        flat, kept = None, shifted.ravel()
    else:
        flat = np.flatnonzero(near)  # 1-D: far faster than 2-D nonzero
        kept = shifted.ravel()[flat]
    starts = rows * vocab if flat is None else np.searchsorted(flat, rows * vocab)  # each row's first candidate
    w = np.exp(kept)
    total = np.add.reduceat(w, starts, dtype=np.float64)
    top_at = rows * vocab + top
    if flat is not None:
        top_at = np.searchsorted(flat, top_at)  # the top's index among the candidates

    # 2. A token per position: argmax, or one inverse-CDF draw at the sampling temperature.
    if params.temperature == 0:
        at = top_at
    else:
        tempered = w if params.temperature == 1 else np.exp(kept / np.float32(params.temperature))
        at = _draw(tempered, starts, rng)
    tokens = (at if flat is None else flat[at]) - rows * vocab

    # 3. How sure the model is at each position, 0..1.
    if params.score == "confidence":
        scores = w[at] / total
    elif params.score == "margin":
        w[top_at] = 0.0  # the runner-up is the largest weight left (0 when the top is the only candidate)
        scores = (1.0 - np.maximum.reduceat(w, starts)) / total
    else:  # H = log(total) - sum(w * shifted) / total; a banned token (w = 0, shifted = -inf) adds nothing
        spread = np.add.reduceat(w * np.maximum(kept, np.float32(-1e4)), starts, dtype=np.float64)
        entropy = np.log(total) - spread / total
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


def _draw(weights: np.ndarray, starts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One inverse-CDF draw per row: `weights` (> 0) are the candidates of all rows, row i's from `starts[i]`;
    the index of each row's pick. One uniform number per row; the cumulative sum runs over chunks of CHUNK
    candidates (never across a row's start), then inside the one chunk each draw lands in."""
    n = len(weights)
    bounds = np.union1d(starts, np.arange(0, n, CHUNK))
    cumulative = np.cumsum(np.add.reduceat(weights, bounds), dtype=np.float64)
    first = np.searchsorted(bounds, starts)  # each row's first chunk; its last is the next row's first - 1
    last = np.r_[first[1:], len(bounds)] - 1
    before = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
    target = before + rng.random(len(starts)) * (cumulative[last] - before)
    chunk = np.clip(np.searchsorted(cumulative, target, side="right"), first, last)
    within = target - np.where(chunk > 0, cumulative[np.maximum(chunk - 1, 0)], 0.0)
    low, high = bounds[chunk], np.r_[bounds[1:], n][chunk]
    index = low[:, None] + np.arange(CHUNK)
    inner = np.cumsum(np.where(index < high[:, None], weights[np.minimum(index, n - 1)], 0.0), axis=1)
    return low + np.minimum((inner <= within[:, None]).sum(axis=1), high - low - 1)
