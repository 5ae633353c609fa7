"""A run's time from the model's own earlier runs (engine.run_seconds): per token, per step, nothing before."""

from __future__ import annotations

import pytest

from engine import EditResult, ModelInfo, RunAverage, run_seconds

AUTOREGRESSIVE = ModelInfo(id="small.gguf", family="autoregressive", backend="llama.cpp", device="cpu",
                           dtype="Q4_K_M")  # fmt: skip
DIFFUSION = ModelInfo(id="dg", family="diffusion_gemma", backend="transformers", device="cpu", dtype="fp32",
                      canvas_length=32)  # fmt: skip


def _result(elapsed_s: float, steps: int, tokens: int, text: str, stop_reason="eos", blocks: int = 1) -> EditResult:
    return EditResult(text=text, steps=steps, tokens=tokens, first_draft_s=0.1, elapsed_s=elapsed_s,
                      tokens_per_s=tokens / elapsed_s, model_id="m", stop_reason=stop_reason, blocks=blocks)


def test_nothing_measured_is_no_estimate():
    assert run_seconds(AUTOREGRESSIVE, 100, RunAverage()) is None
    assert run_seconds(DIFFUSION, 100, RunAverage()) is None


def test_cancelled_failed_and_empty_runs_measure_nothing():
    average = RunAverage()
    for result in (_result(2.0, 10, 10, "", "eos"), _result(2.0, 10, 10, "a text", "cancelled"),
                   _result(2.0, 10, 10, "a text", "error"), _result(2.0, 0, 0, "a text")):  # fmt: skip
        average = average.add(result)
    assert average == RunAverage()
    assert run_seconds(AUTOREGRESSIVE, 100, average) is None


def test_autoregressive_time_follows_the_span_in_tokens():
    # 20 tokens of 80 characters in 2 s: 0.1 s per token, 4 characters per token.
    average = RunAverage().add(_result(2.0, 20, 20, "x" * 80))
    assert run_seconds(AUTOREGRESSIVE, 80, average) == pytest.approx(2.0)
    assert run_seconds(AUTOREGRESSIVE, 400, average) == pytest.approx(10.0)
    assert run_seconds(AUTOREGRESSIVE, 0, average) == pytest.approx(2.0)  # a fill: as long as its runs so far


def test_diffusion_time_is_steps_per_block_times_the_blocks_of_the_span():
    # 8 steps over one block in 1.6 s: 0.2 s per step; 4 characters per token, canvas of 32 tokens.
    average = RunAverage().add(_result(1.6, 8, 20, "x" * 80))
    one_block = run_seconds(DIFFUSION, 100, average)  # 25 tokens: one canvas
    assert one_block == pytest.approx(1.6)
    assert run_seconds(DIFFUSION, 4 * 32 * 3, average) == pytest.approx(3 * 1.6)  # three canvases
    long_run = RunAverage().add(_result(3.2, 16, 64, "x" * 256, blocks=2))  # two blocks of 8 steps
    assert run_seconds(DIFFUSION, 100, long_run) == pytest.approx(1.6)


def test_newer_runs_weigh_more():
    slow = _result(4.0, 20, 20, "x" * 80)  # 0.2 s per token
    fast = _result(1.0, 20, 20, "x" * 80)  # 0.05 s per token
    average = RunAverage()
    for result in (slow, slow, fast, fast, fast):
        average = average.add(result)
    estimate = run_seconds(AUTOREGRESSIVE, 80, average)
    assert 1.0 < estimate < (3 * 1.0 + 2 * 4.0) / 5  # nearer the recent runs than a plain mean


def test_masked_diffusion_time_is_its_steps_whatever_its_blocks():
    masked = ModelInfo(id="llada.gguf", family="masked_diffusion", backend="llama.cpp", device="cpu", dtype="gguf")
    average = RunAverage().add(_result(16.0, 32, 512, "x" * 2048, blocks=16))  # 32 steps shared by 16 blocks
    assert run_seconds(masked, 2048, average) == pytest.approx(16.0)  # not 1 s: a block is not a run's steps
