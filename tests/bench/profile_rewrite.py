"""Where the time of one rewrite goes, on the CPU: torch.profiler's top operators, and Redraft's own share.

`python -m tests.bench.profile_rewrite --json [--steps N] [--scale bench|tiny]`

The engine_overhead model (77M parameters, 256-token canvas, 16k vocabulary) is saved and loaded by the real
`DiffusionGemmaBackend`; one rewrite of the engine_overhead span runs through `backend.edit` (adaptive
stopping off, so every run has N steps):

1. Unprofiled, with Redraft's own per-step code timed in place (the class methods wrapped with a clock):
   `_DraftTap.__call__` (the per-step confidence, a logits processor) and `_DraftTap.put_draft` (EOS cut,
   detokenising into pieces, changed flags, per-piece confidence, the `Draft`), of which
   `Detokenizer.pieces` is reported apart. Each as ms per step and as a share of the step (edit time after
   the first draft / (steps - 1)). Target: each <= 5% of a step.
2. The same rewrite under torch.profiler: the operators with the most self CPU time.
3. The per-step confidence two ways on a random canvas x vocabulary tensor of the model's size: the
   current `softmax(...).amax(-1)` and the earlier `exp(max - logsumexp)`.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import threading
import time
import timeit
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from transformers.utils import logging as hf_logging

from engine import EditRequest
from engine.backends import diffusion_gemma
from engine.detokenize import Detokenizer
from engine.backends.diffusion_gemma import DiffusionGemmaBackend
from tests.bench.engine_overhead import CONFIG, DOCUMENT, SPAN
from tests.tiny_models import save_checkpoint

SCALES = {
    "bench": CONFIG,
    "tiny": dict(
        vocab_size=512, hidden_size=64, layers=2, heads=2, intermediate_size=128,
        canvas_length=64, num_experts=4, top_k_experts=2,
    ),
}
TOP = 12
SPANS = {"bench": SPAN, "tiny": (DOCUMENT.index("Paragraph 4"), DOCUMENT.index("Paragraph 5"))}  # 55 tokens


class Clock:
    """Wraps methods of a class with a timer: total seconds and calls per method, while installed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._saved: list[tuple[type, str, object]] = []

    def wrap(self, cls: type, name: str, label: str) -> None:
        original = getattr(cls, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
                self.calls[label] = self.calls.get(label, 0) + 1

        self._saved.append((cls, name, original))
        setattr(cls, name, timed)

    def restore(self) -> None:
        for cls, name, original in reversed(self._saved):
            setattr(cls, name, original)
        self._saved.clear()


def confidence_ms(canvas: int, vocab: int) -> dict:
    logits = torch.randn(1, canvas, vocab)

    def softmax_amax():
        return torch.softmax(logits[0].float(), -1).amax(-1)

    def exp_logsumexp():
        x = logits[0].float()
        return torch.exp(x.max(-1).values - torch.logsumexp(x, -1))

    return {
        fn.__name__: 1e3 * min(timeit.repeat(fn, number=10, repeat=5)) / 10 for fn in (softmax_amax, exp_logsumexp)
    }


def measure(scale: str, steps: int) -> dict:
    config = SCALES[scale]
    hf_logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_checkpoint(Path(tmp) / "model", max_denoising_steps=steps, **config)
        backend = DiffusionGemmaBackend(str(folder), device="cpu")
        backend.load()
    model = backend.model
    model.generate = functools.partial(model.generate, confidence_threshold=None)  # N steps every run
    request = EditRequest(DOCUMENT, *SPANS[scale], max_new_tokens=config["canvas_length"], steps=steps, seed=0)
    drafts: list[float] = []

    def edit():
        drafts.clear()
        result = backend.edit(request, lambda draft: drafts.append(time.perf_counter()), threading.Event())
        if result.steps != steps:
            raise RuntimeError(f"the rewrite ran {result.steps} steps, not {steps}")
        return result

    edit()  # warm-up
    clock = Clock()
    clock.wrap(diffusion_gemma._DraftTap, "__call__", "confidence")
    clock.wrap(diffusion_gemma._DraftTap, "put_draft", "draft")
    clock.wrap(Detokenizer, "pieces", "detokenize")
    try:
        edit()
    finally:
        clock.restore()
    step_s = (drafts[-1] - drafts[0]) / (steps - 1)
    own = {
        label: {
            "ms_per_step": 1e3 * clock.seconds[label] / clock.calls[label],
            "share_of_step": clock.seconds[label] / clock.calls[label] / step_s,
        }
        for label in ("confidence", "draft", "detokenize")
    }

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = edit()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_us = sum(e.self_cpu_time_total for e in events)
    top = [
        {
            "name": e.key,
            "self_ms": e.self_cpu_time_total / 1e3,
            "calls": e.count,
            "share": e.self_cpu_time_total / total_us,
        }
        for e in events[:TOP]
    ]
    return {
        "step_ms": 1e3 * step_s,
        "own_code": own,
        "own_code_ok": all(v["share_of_step"] <= 0.05 for v in own.values()),
        "profiled_elapsed_s": result.elapsed_s,
        "profiled_self_cpu_ms": total_us / 1e3,
        "top_ops": top,
        "confidence_ms": confidence_ms(config["canvas_length"], config["vocab_size"]),
        "steps": steps,
        "scale": scale,
        "config": config,
        "tokens": result.tokens,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--steps", type=int, default=8, help="denoising steps (>= 3)")
    parser.add_argument("--scale", choices=sorted(SCALES), default="bench", help="tiny: a seconds-long check")
    args = parser.parse_args()
    if args.steps < 3:
        parser.error("--steps must be >= 3")
    report = measure(args.scale, args.steps)
    if args.json:
        print(json.dumps(report))
        return
    print(f"step {report['step_ms']:.1f} ms")
    for label, value in report["own_code"].items():
        print(f"  {label:>10}: {value['ms_per_step']:.2f} ms/step ({100 * value['share_of_step']:.1f}%)")
    for op in report["top_ops"]:
        print(f"  {op['self_ms']:9.1f} ms {100 * op['share']:5.1f}%  {op['calls']:6d}x  {op['name']}")


if __name__ == "__main__":
    main()
