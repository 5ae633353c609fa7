"""What the engine adds to a DiffusionGemma denoising step, measured side by side in one run.

`python -m tests.bench.engine_overhead --json [--steps N] [--repeats R] [--out FILE]`

A random-weight DiffusionGemma-shaped model (canvas 256, MoE layers) is saved to a temporary folder and
loaded once, by a `DiffusionGemmaBackend` inside an `Engine`. The same weights and prompt token ids then run
two ways, alternated (raw, engine, raw, engine, ...), both on the engine's worker thread, both seeded with 0
(the same canvases, so the same MoE routing), both with adaptive stopping off (see `measure`):

- raw: `model.generate` with no streamer and no logits processor: model forward + the released sampler.
  prefill_s: the encoder pass over the prompt alone, as `generate` runs it.
- engine: an `EditRequest` through `Engine.edit` (the backend builds the prompt, computes each step's
  confidence, detokenises, hands a `Draft` to a callback); first_draft_s is the result's own figure.

raw_step_s / engine_step_s: the median of all single step times of all repeats, a step running from one
decoder forward's start to the next's (the same stamp on both paths; steps 2..N-1): single steps, because
other work on a shared machine comes in bursts. Cross-checks (medians over repeats): raw_step_mean_s =
(generate(N) - prefill_s) / N, engine_draft_interval_s = (last draft - first draft) / (N - 1).

Targets: overhead_ratio <= 1.05; first_draft_s <= 1.10 x (prefill_s + raw_step_s).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from engine import EditRequest, EditResult, Engine, build_context
from engine.backends.diffusion_gemma import DiffusionGemmaBackend
from tests.tiny_models import save_checkpoint

# Chosen by measurement on the project's 2-core CPU machines (torch 2.13): one raw step (decoder forward over
# the 256-token canvas + the entropy-bound sampler) takes ~0.26 s, 5x the 50 ms floor, so per-step engine
# costs of a few ms show as a few percent. (hidden 256 / 2 layers: ~0.15 s; vocabulary 32k: ~0.4 s.)
# 16k vocabulary: the sampler and the engine's confidence pass scale with it, as in the real model; 8 experts,
# top 2, in every layer, like the released model. 77M parameters, ~1 s to build and save.
CONFIG = dict(
    vocab_size=16384, hidden_size=512, layers=4, heads=8, intermediate_size=2048,
    canvas_length=256, num_experts=8, top_k_experts=2,
)
CANVAS = CONFIG["canvas_length"]
MIN_RAW_STEP_S = 0.05
# ~900 prompt tokens (the test tokenizer is byte-level): a realistic context, prefill ~0.35 s.
DOCUMENT = "".join(f"Paragraph {i}: the fox ran over the hill and back again.\n" for i in range(12))
SPAN = (DOCUMENT.index("Paragraph 4"), DOCUMENT.index("Paragraph 7"))  # 165 tokens: a 256-token canvas
RAW = "\0raw"  # the instruction that makes `BenchBackend` run a raw call instead of an edit


class BenchBackend(DiffusionGemmaBackend):
    """The real backend, plus raw calls run through the engine, so they run on the engine's worker thread
    too: on the 2-core machines the same `generate` ran a few % faster or slower on one thread than another."""

    raw_call = None
    raw_value = None

    def edit(self, request, on_draft, cancel_event) -> EditResult:
        if request.instruction != RAW:
            return super().edit(request, on_draft, cancel_event)
        self.raw_value = self.raw_call()
        # Not empty: the engine offers no empty answer as an edit (engine/usable.py) and would report an error.
        return EditResult("raw", 0, 0, None, 0.0, 0.0, self.spec, "max_steps")


@torch.no_grad()
def prefill_s(model, prompt: torch.Tensor, canvas: int = CANVAS) -> float:
    """The encoder pass over the prompt alone, as step 1.a of `generate` runs it."""
    started = time.perf_counter()
    length = prompt.shape[1]
    cache = model._prepare_cache_for_generation(model.generation_config, batch_size=1, max_length=length + canvas)
    positions = torch.arange(length, dtype=torch.int32).unsqueeze(0)
    ids, masks = model._prepare_encoder_inputs(
        input_ids=prompt, attention_mask=torch.ones_like(prompt, dtype=torch.bool), encoder_position_ids=positions,
        past_key_values=cache, is_prefill=True, canvas_length=canvas, batch_size=1,
    )
    model.model.encoder(input_ids=ids, attention_mask=masks, past_key_values=cache, position_ids=positions)
    return time.perf_counter() - started


def raw_generate_s(model, prompt: torch.Tensor, steps: int) -> float:
    torch.manual_seed(0)
    started = time.perf_counter()
    model.generate(prompt, max_new_tokens=CANVAS, max_denoising_steps=steps, confidence_threshold=None)
    return time.perf_counter() - started


def stamp_forwards(model, stamps: list[float]) -> None:
    """Record when each decoder forward starts (`generate` calls `self.forward`, so hooks would not fire)."""
    forward = model.forward

    def stamped(*args, **kwargs):
        stamps.append(time.perf_counter())
        return forward(*args, **kwargs)

    model.forward = stamped


def step_intervals(stamps: list[float]) -> list[float]:
    """Step k (k >= 2): forward k start -> forward k+1 start, so its forward, the sampler and, on the engine
    path, the logits processor and the draft. Step 1 is left out: with no self-conditioning logits yet its
    forward skips a canvas x vocabulary x hidden matmul, so it is the cheapest step."""
    return [later - earlier for earlier, later in zip(stamps[1:], stamps[2:])]


def measure(steps: int, repeats: int) -> dict:
    runs: dict[str, list[float]] = {k: [] for k in ("prefill", "raw_mean", "draft_interval", "first_draft")}
    raw_steps, engine_steps, stamps = [], [], []  # single step times, pooled; forward start times
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar in the output
    with tempfile.TemporaryDirectory() as tmp, Engine() as engine:
        folder = save_checkpoint(Path(tmp) / "model", max_denoising_steps=steps, **CONFIG)
        backend = BenchBackend(str(folder), device="cpu")
        engine.load(lambda: backend).result()
        model = backend.model
        # Adaptive stopping off on the engine path too. Not by `generation_config.confidence_threshold = None`:
        # `generate` fills None fields from its global defaults (0.005), so the stopping test would still run
        # each step (a canvas x vocabulary entropy, ~8% of this model's step). Only a `generate` argument works.
        model.generate = functools.partial(model.generate, confidence_threshold=None)
        stamp_forwards(model, stamps)  # on both paths alike

        request = EditRequest(DOCUMENT, *SPAN, max_new_tokens=CANVAS, steps=steps, seed=0)
        context = build_context(request, backend.count_tokens, request.context_budget)
        prompt = backend.tokenizer.apply_chat_template(
            context.messages(), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]

        def raw(fn, *args) -> float:
            backend.raw_call = functools.partial(fn, model, prompt, *args)
            result = engine.edit(EditRequest(DOCUMENT, *SPAN, instruction=RAW))
            if not result.ok:
                raise RuntimeError(f"the raw call failed: {result.error}")
            return backend.raw_value

        def edit() -> tuple[float, float]:
            drafts: list[float] = []
            result = engine.edit(request, lambda draft: drafts.append(time.perf_counter()))
            if not (result.ok and result.steps == steps == len(drafts)):
                raise RuntimeError(f"the engine did not run {steps} steps: {result}")
            return (drafts[-1] - drafts[0]) / (steps - 1), result.first_draft_s

        raw(raw_generate_s, 2)  # warm-up: the first calls allocate and pick kernels
        edit()
        for _ in range(repeats):  # alternated, so drift on a shared machine hits both paths alike
            runs["prefill"].append(raw(prefill_s))
            stamps.clear()
            runs["raw_mean"].append((raw(raw_generate_s, steps) - runs["prefill"][-1]) / steps)
            raw_steps += step_intervals(stamps)
            stamps.clear()
            interval, first = edit()
            engine_steps += step_intervals(stamps)
            runs["draft_interval"].append(interval)
            runs["first_draft"].append(first)

    raw_step, engine_step = statistics.median(raw_steps), statistics.median(engine_steps)
    prefill, first_draft = statistics.median(runs["prefill"]), statistics.median(runs["first_draft"])
    first_target = 1.10 * (prefill + raw_step)
    return {
        "raw_step_s": raw_step,
        "engine_step_s": engine_step,
        "overhead_ratio": engine_step / raw_step,
        "first_draft_s": first_draft,
        "prefill_s": prefill,
        "first_draft_target_s": first_target,
        "overhead_ok": engine_step / raw_step <= 1.05,
        "first_draft_ok": first_draft <= first_target,
        "raw_step_mean_s": statistics.median(runs["raw_mean"]),
        "engine_draft_interval_s": statistics.median(runs["draft_interval"]),
        "warning": None if raw_step >= MIN_RAW_STEP_S else (
            f"raw step {raw_step * 1e3:.0f} ms < {MIN_RAW_STEP_S * 1e3:.0f} ms: per-step engine costs weigh "
            "more here than on a real model; enlarge CONFIG for this machine"
        ),
        "steps": steps,
        "repeats": repeats,
        "canvas_length": CANVAS,
        "prompt_tokens": int(prompt.shape[1]),
        "config": CONFIG,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--steps", type=int, default=8, help="denoising steps per edit (>= 3)")
    parser.add_argument("--repeats", type=int, default=5, help="alternated repetitions")
    parser.add_argument("--out", type=Path, help="also write the JSON object to this file")
    args = parser.parse_args()
    if args.steps < 3 or args.repeats < 1:
        parser.error("--steps must be >= 3 and --repeats >= 1")

    started = time.perf_counter()
    report = measure(args.steps, args.repeats)
    report["bench_s"] = time.perf_counter() - started
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:>24}  {f'{value:.4f}' if isinstance(value, float) else value}")
    print(f"overhead_ratio x{report['overhead_ratio']:.3f} (target <= 1.05), first_draft_s "
          f"{report['first_draft_s']:.3f} (target <= {report['first_draft_target_s']:.3f})")


if __name__ == "__main__":
    main()
