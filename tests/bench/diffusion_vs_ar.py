"""Diffusion vs autoregressive at equal size: time to rewrite a span, side by side in one run, on the CPU.

`python -m tests.bench.diffusion_vs_ar --json [--repeats R] [--scale bench|tiny] [--plot FILE]`

Two random-weight models built from configs in memory (nothing downloaded), of the same width, depth,
heads and expert layout (`tests.tiny_models.build_model` / `build_causal_model`), fp32, the same torch
threads, the same prompt token ids:

- diffusion: `DiffusionGemmaForBlockDiffusion.generate` with a canvas as long as the span; `fixed16` runs
  exactly 16 denoising steps (adaptive stopping off through the `generate` argument, see FACTS.md);
  `adaptive16` keeps the released confidence threshold (0.005, `generate`'s default) with the same 16-step
  cap; the other sampler settings are `generate`'s defaults, which are the released ones (FACTS.md).
- autoregressive: `Gemma4ForCausalLM.generate`, greedy, exactly `span` new tokens (`min_new_tokens`), with
  its default dynamic KV cache.

Per span length: total time (prefill included), prefill alone (the encoder pass / the prompt forward, each
timed the way `generate` runs it), time after prefill, tokens/s, forward passes (counted by wrapping each
model's `forward`) and tokens per forward. Order within a repeat alternates (diffusion first on even
repeats, autoregressive first on odd) so drift on a shared machine hits both alike. Times are the best of
the repeats: on 2 cores shared with other jobs a run is only ever slowed, by bursts that hit one run and not
the next (seen: the same call 3x slower), so the fastest run is the closest to the work itself; `median_s`
is kept too, and `spread` gives min..max of the per-repeat ratios.

Two rows beyond one canvas, same models, same prompt (`long_span_and_batch`):

- long span: LONG_SPAN (512) new tokens as blocks of the model's canvas (2 x 256 at the bench scale), 16
  steps a block, end tokens off so every block runs (random weights end at random), vs the autoregressive
  model writing 512 tokens.
- alternatives: ALTERNATIVES (4) answers of one canvas as one batch of canvases vs the same 4 one after the
  other. On a CPU a forward is compute-bound, so a batch of 4 costs about 4 singles; on a GPU a step is
  bound by reading the weights, so a batch should cost about one (gpu_full_size measures that).

ratio = autoregressive time / diffusion time (> 1: diffusion is faster). On a CPU a forward over a 256-token
canvas costs far more than a one-token forward (compute, not memory bandwidth, bounds it), so the CPU result
says little about the GPU, where a step's cost is mostly reading the weights once; gpu_full_size measures
that.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from transformers import DynamicCache
from transformers.utils import logging as hf_logging

from tests.bench.engine_overhead import prefill_s as diffusion_prefill_s
from tests.tiny_models import build_causal_model, build_model

# The engine_overhead model (77M parameters, 8 experts top 2, 16k vocabulary): a step is ~0.25 s on the
# project's 2-core machines, large enough that Python overheads do not decide the comparison.
SCALES = {
    "bench": dict(
        vocab_size=16384, hidden_size=512, layers=4, heads=8, intermediate_size=2048,
        canvas_length=256, num_experts=8, top_k_experts=2,
    ),
    "tiny": dict(
        vocab_size=512, hidden_size=64, layers=2, heads=2, intermediate_size=128,
        canvas_length=64, num_experts=4, top_k_experts=2,
    ),
}
STEPS = 16
PROMPT_TOKENS = 512
SPANS = (32, 64, 128, 256)
DETAIL_SPANS = (64, 256)  # the two lengths the issue asks about


def count_forwards(model, counter: list[int]) -> None:
    """`generate` calls `self.forward` (not `__call__`), so wrap the bound method; one count per pass."""
    forward = model.forward

    def counted(*args, **kwargs):
        counter[0] += 1
        return forward(*args, **kwargs)

    model.forward = counted


@torch.no_grad()
def ar_prefill_s(model, prompt: torch.Tensor) -> float:
    """One forward over the prompt into a fresh dynamic cache, logits for the last position only (as generate)."""
    started = time.perf_counter()
    model(input_ids=prompt, past_key_values=DynamicCache(config=model.config), use_cache=True, logits_to_keep=1)
    return time.perf_counter() - started


def diffusion_run(model, prompt, span: int, adaptive: bool, counter: list[int]) -> dict:
    model.config.canvas_length = span
    counter[0] = 0
    torch.manual_seed(0)
    started = time.perf_counter()
    threshold = {} if adaptive else {"confidence_threshold": None}
    model.generate(prompt, max_new_tokens=span, max_denoising_steps=STEPS, **threshold)
    return {"total_s": time.perf_counter() - started, "forwards": counter[0]}


def ar_run(model, prompt, span: int, counter: list[int]) -> dict:
    counter[0] = 0
    started = time.perf_counter()
    out = model.generate(prompt, max_new_tokens=span, min_new_tokens=span, do_sample=False)
    total = time.perf_counter() - started
    if out.shape[1] - prompt.shape[1] != span:
        raise RuntimeError(f"autoregressive generate made {out.shape[1] - prompt.shape[1]} tokens, not {span}")
    return {"total_s": total, "forwards": counter[0]}


def summarise(runs: list[dict], prefills: list[float], span: int) -> dict:
    total = min(r["total_s"] for r in runs)
    prefill = min(prefills)
    forwards = statistics.median(r["forwards"] for r in runs)
    return {
        "total_s": total,
        "median_s": statistics.median(r["total_s"] for r in runs),
        "prefill_s": prefill,
        "after_prefill_s": total - prefill,
        "tokens_per_s": span / total,
        "tokens_per_s_after_prefill": span / (total - prefill),
        "forward_passes": forwards,
        "tokens_per_forward": span / forwards,
    }


def measure(scale: str, repeats: int, spans: tuple[int, ...]) -> dict:
    config = SCALES[scale]
    spans = tuple(s for s in spans if s <= config["canvas_length"])
    hf_logging.set_verbosity_error()
    diffusion, autoregressive = build_model(**config), build_causal_model(**config)
    d_count, a_count = [0], [0]
    count_forwards(diffusion, d_count)
    count_forwards(autoregressive, a_count)
    generator = torch.Generator().manual_seed(1)
    prompt = torch.randint(10, config["vocab_size"], (1, PROMPT_TOKENS), generator=generator)

    kinds = ("diffusion_fixed16", "diffusion_adaptive16", "autoregressive")
    runs = {(k, s): [] for k in kinds for s in spans}
    prefills = {(k, s): [] for k in ("diffusion", "autoregressive") for s in spans}
    for span in spans[:1]:  # warm-up: the first calls allocate and pick kernels
        diffusion_run(diffusion, prompt, span, False, d_count)
        ar_run(autoregressive, prompt, span, a_count)
    with torch.no_grad():
        for repeat in range(repeats):
            for span in spans:
                def diffusion_side():
                    prefills["diffusion", span].append(diffusion_prefill_s(diffusion, prompt, span))
                    runs["diffusion_fixed16", span].append(diffusion_run(diffusion, prompt, span, False, d_count))
                    runs["diffusion_adaptive16", span].append(diffusion_run(diffusion, prompt, span, True, d_count))

                def ar_side():
                    prefills["autoregressive", span].append(ar_prefill_s(autoregressive, prompt))
                    runs["autoregressive", span].append(ar_run(autoregressive, prompt, span, a_count))

                for side in ((diffusion_side, ar_side) if repeat % 2 == 0 else (ar_side, diffusion_side)):
                    side()

    results = {}
    for span in spans:
        row = {
            kind: summarise(runs[kind, span], prefills[kind.split("_")[0], span], span) for kind in kinds
        }
        per_repeat = [
            a["total_s"] / d["total_s"] for a, d in zip(runs["autoregressive", span], runs["diffusion_fixed16", span])
        ]
        ar, fixed, adaptive = row["autoregressive"], row["diffusion_fixed16"], row["diffusion_adaptive16"]
        row["ratio_fixed16"] = ar["total_s"] / fixed["total_s"]
        row["ratio_fixed16_after_prefill"] = ar["after_prefill_s"] / fixed["after_prefill_s"]
        row["ratio_adaptive16"] = ar["total_s"] / adaptive["total_s"]
        row["ratio_fixed16_spread"] = [min(per_repeat), max(per_repeat)]
        results[str(span)] = row

    d_params = sum(p.numel() for n, p in diffusion.named_parameters() if "vision" not in n)
    a_params = sum(p.numel() for p in autoregressive.parameters())
    return {
        "spans": results,
        "detail_spans": [s for s in DETAIL_SPANS if s in spans],
        "steps": STEPS,
        "prompt_tokens": PROMPT_TOKENS,
        "repeats": repeats,
        "scale": scale,
        "config": config,
        "diffusion_text_params": d_params,
        "autoregressive_params": a_params,
        "dtype": "float32",
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


LONG_SPAN = 512
ALTERNATIVES = 4


def long_span_and_batch(scale: str, repeats: int) -> dict:
    """A 512-token rewrite as blocks of one canvas vs autoregressive, and 4 alternatives batched vs in turn."""
    config = SCALES[scale]
    hf_logging.set_verbosity_error()
    diffusion, autoregressive = build_model(**config), build_causal_model(**config)
    canvas = config["canvas_length"]
    tokens = LONG_SPAN if scale == "bench" else 2 * canvas
    generator = torch.Generator().manual_seed(1)
    prompt = torch.randint(10, config["vocab_size"], (1, PROMPT_TOKENS), generator=generator)
    diffusion.config.canvas_length = canvas

    def blocks(batch: int = 1, new: int = tokens) -> float:
        torch.manual_seed(0)
        started = time.perf_counter()
        diffusion.generate(prompt.repeat(batch, 1), max_new_tokens=new, max_denoising_steps=STEPS,
                           confidence_threshold=None, eos_token_id=None)
        return time.perf_counter() - started

    def ar() -> float:
        started = time.perf_counter()
        autoregressive.generate(prompt, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        return time.perf_counter() - started

    times: dict[str, list[float]] = {"diffusion_blocks": [], "autoregressive": [], "batched": [], "sequential": []}
    with torch.no_grad():
        blocks(new=canvas)  # warm-up
        ar()
        for repeat in range(repeats):
            sides = [lambda: times["diffusion_blocks"].append(blocks()), lambda: times["autoregressive"].append(ar())]
            for side in sides if repeat % 2 == 0 else sides[::-1]:
                side()
            batch = [lambda: times["batched"].append(blocks(ALTERNATIVES, canvas)),
                     lambda: times["sequential"].append(sum(blocks(1, canvas) for _ in range(ALTERNATIVES)))]
            for side in batch if repeat % 2 == 0 else batch[::-1]:
                side()
    best = {k: min(v) for k, v in times.items()}
    return {
        "long_span": {
            "tokens": tokens, "blocks": -(-tokens // canvas), "canvas": canvas, "steps_per_block": STEPS,
            "diffusion_s": best["diffusion_blocks"], "autoregressive_s": best["autoregressive"],
            "ratio": best["autoregressive"] / best["diffusion_blocks"],
        },
        "alternatives": {
            "n": ALTERNATIVES, "canvas": canvas, "steps": STEPS, "batched_s": best["batched"],
            "sequential_s": best["sequential"], "batched_over_one": best["batched"] / (best["sequential"] / ALTERNATIVES),
            "sequential_over_batched": best["sequential"] / best["batched"],
        },
    }


def plot(report: dict, path: Path) -> None:
    """Time to the final text against span length: where the lines cross, diffusion starts to win."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    spans = [int(s) for s in report["spans"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for kind, label, style in (
        ("diffusion_fixed16", f"DiffusionGemma-shaped, {report['steps']} steps", "o-"),
        ("diffusion_adaptive16", "DiffusionGemma-shaped, adaptive (cap 16)", "^:"),
        ("autoregressive", "Gemma-4-shaped autoregressive", "s-"),
    ):
        ax.plot(spans, [report["spans"][str(s)][kind]["total_s"] for s in spans], style, label=label)
    ax.set_xlabel("span length (tokens)")
    ax.set_ylabel("time to final text (s, prefill included)")
    ax.set_xticks(spans)
    ax.set_title(f"Equal size, random weights, CPU ({report['torch_threads']} threads, {report['dtype']})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=3, help="alternated repetitions")
    parser.add_argument("--scale", choices=sorted(SCALES), default="bench", help="tiny: a seconds-long check")
    parser.add_argument("--plot", type=Path, help="write the time-to-final plot (PNG) here")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    started = time.perf_counter()
    report = measure(args.scale, args.repeats, SPANS)
    report.update(long_span_and_batch(args.scale, args.repeats))
    report["bench_s"] = time.perf_counter() - started
    if args.plot:
        plot(report, args.plot)
        report["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(report))
        return
    for span, row in report["spans"].items():
        print(f"span {span:>3}: AR {row['autoregressive']['total_s']:.2f} s, diffusion 16 steps "
              f"{row['diffusion_fixed16']['total_s']:.2f} s, ratio x{row['ratio_fixed16']:.2f} "
              f"(after prefill x{row['ratio_fixed16_after_prefill']:.2f})")
    long, alt = report["long_span"], report["alternatives"]
    print(f"{long['tokens']} tokens as {long['blocks']} blocks of {long['canvas']}: ratio x{long['ratio']:.2f}; "
          f"{alt['n']} alternatives batched cost x{alt['batched_over_one']:.2f} of one")


if __name__ == "__main__":
    main()
