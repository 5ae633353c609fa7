"""The unmasking sampler alone, on synthetic logits: determinism, the minimum per step, the threshold, and a
canvas always fully unmasked by the last step."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backends.llamacpp.unmasking import SCORES, UnmaskingParams, block_steps, minimum_commits, unmask_step


def run_to_the_end(logits_for, masked: int, params: UnmaskingParams, seed: int = 0) -> list[np.ndarray]:
    """Drive the sampler like a backend does; the canvas positions committed at each step."""
    rng = np.random.default_rng(seed)
    left = np.arange(masked)
    per_step = []
    for step in range(params.steps):
        if not len(left):
            break
        commit = unmask_step(logits_for(left), rng, params.steps - step, params)
        assert np.all(np.diff(commit.rows) > 0) and len(commit.rows) >= 1
        per_step.append(left[commit.rows])
        left = np.delete(left, commit.rows)
    assert not len(left), "masks left after the last step"
    return per_step


def random_logits(vocab: int = 50, spread: float = 3.0, seed: int = 1):
    table = np.random.default_rng(seed).standard_normal((10_000, vocab)).astype(np.float32) * spread
    return lambda positions: table[positions]


@settings(max_examples=60, deadline=None)
@given(
    masked=st.integers(1, 60),
    steps=st.integers(1, 40),
    threshold=st.floats(0.0, 1.5),
    score=st.sampled_from(SCORES),
    temperature=st.sampled_from([0.0, 0.5, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_every_mask_is_committed_by_the_last_step(masked, steps, threshold, score, temperature, seed):
    params = UnmaskingParams(steps=steps, score=score, threshold=threshold, temperature=temperature)
    per_step = run_to_the_end(random_logits(seed=seed), masked, params, seed)
    assert len(per_step) <= steps
    assert sorted(np.concatenate(per_step).tolist()) == list(range(masked))


@settings(max_examples=40, deadline=None)
@given(masked=st.integers(1, 80), remaining=st.integers(1, 50))
def test_the_minimum_spreads_the_masks_over_the_steps_left(masked, remaining):
    k = minimum_commits(masked, remaining)
    assert k == (masked if remaining == 1 else max(1, math.ceil(masked / remaining)))
    assert 1 <= k <= masked
    assert k * remaining >= masked  # committing k now, and as many later, empties the canvas in time


def test_an_impossible_threshold_commits_exactly_the_minimum():
    params = UnmaskingParams(steps=12, threshold=1.01, score="confidence")
    assert [len(p) for p in run_to_the_end(random_logits(), 12, params)] == [1] * 12
    params = UnmaskingParams(steps=4, threshold=1.01)
    assert [len(p) for p in run_to_the_end(random_logits(), 10, params)] == [3, 3, 2, 2]


def test_a_threshold_commits_every_easy_position_at_once():
    logits = np.zeros((6, 10), dtype=np.float32)
    logits[[0, 2, 5], [3, 4, 7]] = 20.0  # three near one-hot rows; the rest uniform
    params = UnmaskingParams(steps=6, threshold=0.9, temperature=0.0)
    commit = unmask_step(logits, np.random.default_rng(0), 6, params)
    assert commit.rows.tolist() == [0, 2, 5] and commit.tokens.tolist() == [3, 4, 7]
    assert np.all(commit.scores > 0.99)
    # Nothing easy: only the scheduled one, the leftmost of the equally unsure rows.
    commit = unmask_step(np.zeros((6, 10), dtype=np.float32), np.random.default_rng(0), 6, params)
    assert commit.rows.tolist() == [0] and math.isclose(commit.scores[0], 0.1, rel_tol=1e-5)


@pytest.mark.parametrize("score", SCORES)
def test_scores_are_in_0_1_and_rank_a_sure_position_first(score):
    logits = np.zeros((3, 8), dtype=np.float32)
    logits[1, 2] = 6.0  # sure
    logits[2, 2:4] = 3.0  # torn between two tokens
    commit = unmask_step(logits, np.random.default_rng(0), 3, UnmaskingParams(score=score, threshold=2.0))
    assert commit.rows.tolist() == [1] and 0.0 <= commit.scores[0] <= 1.0
    every = unmask_step(logits, np.random.default_rng(0), 3, UnmaskingParams(score=score, threshold=0.0))
    assert every.rows.tolist() == [0, 1, 2] and np.all((every.scores >= 0) & (every.scores <= 1))
    if score != "confidence":  # a uniform row is the least sure there is
        assert every.scores[0] == pytest.approx(0.0, abs=1e-6)


def test_same_seed_same_choices_other_seed_other_choices():
    params = UnmaskingParams(steps=8, threshold=0.5, temperature=1.0)
    logits = random_logits(vocab=200, spread=1.0)
    runs = [run_to_the_end(logits, 40, params, seed) for seed in (7, 7, 8)]
    tokens = []
    for seed in (7, 7, 8):
        rng = np.random.default_rng(seed)
        tokens.append(unmask_step(logits(np.arange(40)), rng, 1, params).tokens.tolist())
    assert tokens[0] == tokens[1] != tokens[2]
    assert [p.tolist() for p in runs[0]] == [p.tolist() for p in runs[1]]


def test_greedy_ignores_the_seed_and_bans_nothing_itself():
    logits = random_logits()(np.arange(5))
    params = UnmaskingParams(temperature=0.0, threshold=0.0)
    a = unmask_step(logits, np.random.default_rng(1), 4, params)
    b = unmask_step(logits, np.random.default_rng(2), 4, params)
    assert a.tokens.tolist() == b.tokens.tolist() == logits.argmax(axis=1).tolist()


def test_a_banned_token_never_wins():
    logits = np.zeros((4, 5), dtype=np.float32)
    logits[:, 2] = 50.0
    logits[:, 2] = -np.inf  # what a backend does to the mask token
    for temperature in (0.0, 2.0):
        params = UnmaskingParams(temperature=temperature, threshold=0.0, score="entropy")
        commit = unmask_step(logits, np.random.default_rng(0), 1, params)
        assert 2 not in commit.tokens.tolist() and np.all(np.isfinite(commit.scores))


def test_bad_params_are_refused():
    with pytest.raises(ValueError, match="score must be one of"):
        UnmaskingParams(score="luck")
    with pytest.raises(ValueError, match="steps must be at least 1"):
        UnmaskingParams(steps=0)
    with pytest.raises(ValueError, match="temperature"):
        UnmaskingParams(temperature=-1)


def draw_counts(logits: np.ndarray, temperature: float, seed: int = 0) -> np.ndarray:
    """Sample every row once (all commit at the last step); how often each token was chosen."""
    params = UnmaskingParams(temperature=temperature, threshold=0.0)
    commit = unmask_step(logits, np.random.default_rng(seed), 1, params)
    assert commit.rows.tolist() == list(range(len(logits)))
    return np.bincount(commit.tokens, minlength=logits.shape[1])


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_a_sample_follows_softmax_of_logits_over_temperature(temperature):
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    rows = 20_000
    logits = np.tile(np.log(probs).astype(np.float32), (rows, 1))
    expected = probs ** (1 / temperature) / (probs ** (1 / temperature)).sum() * rows
    counts = draw_counts(logits, temperature)
    sigma = np.sqrt(expected)
    assert np.all(np.abs(counts - expected) < 5 * sigma), (counts, expected)


def test_a_sample_over_many_candidates_in_a_large_vocabulary():
    """600 equally likely tokens spread over a 5,000-token vocabulary, the rest far below: every draw lands on
    one of the 600 (several partial-sum chunks per row), about evenly."""
    rng = np.random.default_rng(3)
    likely = np.sort(rng.choice(5000, 600, replace=False))
    logits = np.full((3000, 5000), -100.0, dtype=np.float32)
    logits[:, likely] = 5.0
    counts = draw_counts(logits, 0.7)
    assert counts.sum() == 3000 and counts[np.setdiff1d(np.arange(5000), likely)].sum() == 0
    per_hundred = counts[likely].reshape(6, 100).sum(axis=1)  # 500 expected each, sigma ~20
    assert np.all(np.abs(per_hundred - 500) < 100), per_hundred


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("spread", [1.0, 12.0])  # a flat row (every token a candidate) and a peaked one
def test_scores_match_a_full_softmax(score, spread):
    logits = (np.random.default_rng(5).standard_normal((40, 3000)) * spread).astype(np.float32)
    logits[:, 7] = -np.inf  # a banned token
    params = UnmaskingParams(score=score, threshold=0.0, temperature=0.0)
    commit = unmask_step(logits, np.random.default_rng(0), 1, params)
    exact = logits.astype(np.float64)
    probs = np.exp(exact - exact.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    assert commit.tokens.tolist() == logits.argmax(axis=1).tolist()
    if score == "confidence":
        reference = probs.max(axis=1)
    elif score == "margin":
        top2 = np.sort(probs, axis=1)[:, -2:]
        reference = top2[:, 1] - top2[:, 0]
    else:
        entropy = -(probs * np.log(np.where(probs > 0, probs, 1.0))).sum(axis=1)
        reference = 1 - entropy / math.log(3000)
    assert np.allclose(commit.scores, reference, rtol=1e-4, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(masks=st.lists(st.integers(1, 64), min_size=1, max_size=20), steps=st.integers(1, 300))
def test_block_steps_share_the_runs_steps_by_masks_at_least_one_each(masks, steps):
    shares = block_steps(masks, steps)
    assert len(shares) == len(masks) and min(shares) >= 1
    if steps >= len(masks) and steps * min(masks) >= sum(masks):  # every block's fair share is at least 1
        assert sum(shares) == steps
    for a, b, share_a, share_b in zip(masks, masks[1:], shares, shares[1:]):
        if a == b:
            assert abs(share_a - share_b) <= 1


def test_block_steps_as_llama_cpps_diffusion_example_for_equal_blocks():
    assert block_steps([32] * 16, 256) == [16] * 16  # --diffusion-steps 256 --diffusion-block-length 32
    assert block_steps([32] * 4, 10) == [2, 3, 2, 3]
    assert block_steps([32] * 5, 3) == [1] * 5  # fewer steps than blocks: one each
    assert block_steps([20], 7) == [7]


def test_the_block_length_must_be_positive():
    with pytest.raises(ValueError, match="block_length must be at least 1"):
        UnmaskingParams(block_length=0)
