"""The benchmarks are not timed in CI, but they must keep running: each once, tiny, end to end.

Checks structure and invariants that hold at any speed (counts, shapes, ratios consistent with the times),
not speeds themselves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench import diffusion_vs_ar, gpu_full_size, report
from tests import ROOT



def test_diffusion_vs_ar_tiny_counts_forwards_and_plots(tmp_path):
    result = diffusion_vs_ar.measure("tiny", repeats=1, spans=(32,))
    assert set(result["spans"]) == {"32"}
    for span, row in result["spans"].items():
        span = int(span)
        # 16 fixed steps are 16 decoder forwards, whatever the span; the AR model makes one forward per token.
        assert row["diffusion_fixed16"]["forward_passes"] == diffusion_vs_ar.STEPS
        assert 1 <= row["diffusion_adaptive16"]["forward_passes"] <= diffusion_vs_ar.STEPS
        assert row["autoregressive"]["forward_passes"] == span
        assert row["diffusion_fixed16"]["tokens_per_forward"] == span / diffusion_vs_ar.STEPS
        ar, fixed = row["autoregressive"], row["diffusion_fixed16"]
        assert row["ratio_fixed16"] == pytest.approx(ar["total_s"] / fixed["total_s"])
        # Prefill and total come from separate runs: under load either can be the longer, so only both exist.
        assert fixed["prefill_s"] > 0 and fixed["total_s"] > 0
        lo, hi = row["ratio_fixed16_spread"]
        assert lo <= hi
    # Same width, depth and experts: the parameter counts differ only by the self-conditioning block.
    assert 0.8 < result["autoregressive_params"] / result["diffusion_text_params"] <= 1.0
    png = tmp_path / "plot.png"
    diffusion_vs_ar.plot(result, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_masked_diffusion_long_span_row_runs_blocks_one_block_and_autoregressive():
    tiny = dict(hidden=64, layers=2, heads=4, ffn=128, vocab_size=None, context_length=256)
    result = diffusion_vs_ar.long_span_masked_diffusion(
        repeats=1, new_tokens=64, block_length=32, steps=4, prompt_tokens=16, model=tiny
    )
    # Fixed: no score reaches the threshold, so each schedule runs exactly its steps (2 + 2, and 4).
    assert result["blocks_fixed"]["forward_passes"] == result["one_block_fixed"]["forward_passes"] == 4
    assert result["blocks_fixed"]["blocks"] == result["blocks_adaptive"]["blocks"] == 2
    assert result["one_block_fixed"]["blocks"] == result["one_block_adaptive"]["blocks"] == 1
    assert 1 <= result["blocks_adaptive"]["forward_passes"] <= 4
    assert result["autoregressive"]["forward_passes"] == 64 and result["prompt_tokens"] <= 16
    for setting in ("fixed", "adaptive"):
        blocks, one = result[f"blocks_{setting}"], result[f"one_block_{setting}"]
        assert result[f"ratio_one_block_over_blocks_{setting}"] == pytest.approx(one["total_s"] / blocks["total_s"])
    json.dumps(result)


def test_full_size_config_matches_the_published_parameter_counts():
    """25.2B total / 3.8B active (public figures): the inferred width must reproduce both."""
    import torch
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion

    config = DiffusionGemmaConfig(text_config=gpu_full_size.full_size_text_config())
    with torch.device("meta"):  # shapes only, no memory
        model = DiffusionGemmaForBlockDiffusion(config)
    text = sum(p.numel() for n, p in model.named_parameters() if "vision" not in n)
    experts = sum(p.numel() for n, p in model.named_parameters() if ".experts." in n)
    active = text - experts + experts * config.text_config.top_k_experts // config.text_config.num_experts
    assert text / 1e9 == pytest.approx(25.2, abs=0.1)
    assert active / 1e9 == pytest.approx(3.8, abs=0.1)
    assert config.text_config.layer_types.count("full_attention") == 5


def test_gpu_full_size_scaled_down_runs_end_to_end_on_cpu(monkeypatch):
    small = gpu_full_size.Plan(prompts=(16, 32), canvases=(32,), rewrite=32, tokens_few=2, tokens_many=4)
    monkeypatch.setattr(gpu_full_size, "SCALED_DOWN", small)
    result = gpu_full_size.measure(scaled_down=True, variants=["eager"], repeats=1)
    assert result["device"] == "cpu" and result["scaled_down"]
    assert result["bandwidth_gb_s"] > 0
    d, a = result["diffusion"], result["autoregressive"]
    assert set(d["prefill_ms"]) == set(a["prefill_ms"]) == {"16", "32"}
    # A 32-token canvas with top-2 of 8 experts touches more expert weights than one AR token, never all of
    # the text weights more than once.
    total = d["text_params"] * 2  # bf16
    assert a["token_weight_bytes"] < d["step_weight_bytes"]["32"] <= total
    assert result["rewrite_speedup"]["eager"] == pytest.approx(
        a["variants"]["eager"]["rewrite_ms"] / d["variants"]["eager"]["rewrite_ms"]
    )
    eager = d["variants"]["eager"]  # the long span (2 blocks) and the batch of alternatives
    assert result["long_span_speedup"] == pytest.approx(a["variants"]["eager"]["long_rewrite_ms"] / eager["long_span_ms"])
    assert result["batch_over_one"] == pytest.approx(eager["batch_ms"] / eager["rewrite_ms"])
    assert "Long span (eager)" in "\n".join(report.gpu({"ok": True, "result": result}))


def test_gpu_full_size_refuses_full_size_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.gpu_full_size", "--json"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "no GPU here" in proc.stderr


def test_report_formats_what_the_benchmarks_returned():
    result = diffusion_vs_ar.measure("tiny", repeats=1, spans=(32,))
    text = "\n".join(report.diffusion_vs_ar({"ok": True, "result": result}))
    row = result["spans"]["32"]
    assert f"x{row['ratio_fixed16']:.2f}" in text
    assert "| 32 |" in text
    assert "Not measured: `x` failed: `boom`" in "\n".join(report.failed("x", {"error": "boom"}))
    json.dumps(result)  # what report writes to bench-results.json


def test_perceived_speed_runs_the_gui_path_with_the_bundled_model_and_reports_it():
    """One run per case through the real window and the bundled model: counts and structure, never times."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.perceived_speed", "--json", "--repeats", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    from engine.models.bundled import NAME

    assert result["benchmark"] == "perceived_speed" and result["model"]["name"] == NAME
    assert set(result["cases"]) == {"sentence", "paragraph"}
    for case in result["cases"].values():
        assert case["runs"] == case["finished"] == case["restored"] == 1  # each run ended; Esc put the original back
        assert len(case["final_ms"]["values"]) == 1
        # A first paint is measured exactly for the runs that showed a draft.
        assert len(case["first_paint_ms"]["values"]) == case["runs"] - case["runs_without_draft"]
        assert case["warmup"]["finished"] and case["warmup"]["restored"]
    assert set(result["met"]) == {"first_paint", "sentence_final"}
    assert all(v in (True, False, None) for v in result["met"].values())
    entry = {"ok": True, "result": result}
    section = "\n".join(report.perceived_speed(entry))
    assert "| sentence |" in section and "| paragraph |" in section
    assert "Enter to first draft painted" in "\n".join(report.targets({"perceived_speed": entry}))
    assert "perceived_speed" in dict(report.benchmarks())


def test_engine_overhead_runs_its_raw_and_engine_calls(tmp_path):
    """Structure only: the raw calls go through the engine (a broken one failed the whole benchmark unseen)."""
    out = tmp_path / "overhead.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.engine_overhead", "--json", "--steps", "3", "--repeats", "1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {"overhead_ratio", "first_draft_s", "first_draft_target_s"} <= result.keys()


def test_the_long_span_and_batch_rows_run_blocks_and_a_batch():
    result = diffusion_vs_ar.long_span_and_batch("tiny", repeats=1)
    long, alt = result["long_span"], result["alternatives"]
    assert long["blocks"] == 2 and long["tokens"] == 2 * long["canvas"]
    assert long["ratio"] == pytest.approx(long["autoregressive_s"] / long["diffusion_s"])
    assert alt["n"] == diffusion_vs_ar.ALTERNATIVES and alt["batched_s"] > 0 and alt["sequential_s"] > 0
    lines = report.long_spans({**result, "long_span_masked_diffusion": None})
    assert any(line.startswith("**Long span**") for line in lines)
    json.dumps(result)
