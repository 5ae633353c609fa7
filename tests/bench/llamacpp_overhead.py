"""llama.cpp through the engine vs raw llama-cpp-python, side by side in one run.

`python -m tests.bench.llamacpp_overhead --json`

1. The bundled Gemma 3 270M, autoregressive: the same prompt, sampling settings and seed, once through
   `Engine` (drafts built and delivered per token) and once straight through the same `Llama` object's
   streaming `create_completion`, alternated, medians reported. tokens/s counts generated tokens over the
   time from the first token to the last (decode speed; prompt evaluation is the same work in both).
   Target: ratio = engine_tok_s / raw_tok_s >= 0.95.
2. The tiny random-weight masked-diffusion GGUF the tests write: tokens committed per forward pass with the
   threshold sampler (confidence >= 0.6) vs one token per step (`tokens_per_forward`,
   `tokens_per_forward_one_per_step`). Random weights: this shows the sampler at work, not a real LLaDA.
3. The unmasking sampler's cost next to the forward pass it follows, at a 32,000-token vocabulary (a tiny
   random-weight LLaDA whose vocabulary is padded to 32,000, hidden size SAMPLER_HIDDEN): median ms per step
   of each, measured inside the same real edits (default sampler settings, and greedy). Target:
   sampler_ms / forward_ms < 0.05. Random weights give peaked logits; a trained model's flatter rows cost more.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

from engine import EditRequest, Engine, backend_for
from engine.backends.llamacpp import prompt_shapes
from engine.models.bundled import BUNDLED

TOKENS = 64
SAMPLER_VOCAB = 32_000
SAMPLER_HIDDEN = 256  # LLaDA-8B's is 4,096: its forward pass dwarfs the sampler far more than this one's
DOCUMENT = "Dear team,\nThe quarterly report is attached. Revenue grew in every region"  # a fill inside a line


def raw_run(llm, prompt: str, request: EditRequest) -> tuple[int, float]:
    """Tokens streamed and the time from the first to the last, with the engine's sampling for `request`."""
    stamps = []
    stream = llm.create_completion(
        prompt, max_tokens=TOKENS, stream=True, seed=request.seed, **prompt_shapes.sampling(request)
    )
    for chunk in stream:
        if chunk["choices"][0]["text"]:
            stamps.append(time.perf_counter())
    return len(stamps), stamps[-1] - stamps[0]


def engine_run(engine: Engine, request: EditRequest) -> tuple[int, float]:
    """Tokens of the result and the time from the first draft to the last. Tokens, not drafts: a draft can
    hold two tokens when the first might have begun a stop string (output_shape.py holds it back)."""
    stamps: list[float] = []
    result = engine.edit(request, lambda draft: stamps.append(time.perf_counter()))
    return result.tokens, stamps[-1] - stamps[0]


def decode_tok_s(run: tuple[int, float]) -> float:
    tokens, seconds = run
    return (tokens - 1) / seconds


def autoregressive(repeats: int) -> dict:
    with Engine() as engine:
        engine.load(lambda: backend_for(BUNDLED)).result()
        backend = engine._backend  # the benchmark drives the engine's own Llama for the raw side
        # `fill` continues the line, to its end at most (the engine stops there, the raw call goes on to TOKENS):
        # rates are per token, so the two lengths need not match.
        request = EditRequest(DOCUMENT, len(DOCUMENT), len(DOCUMENT), mode="fill", max_new_tokens=TOKENS, seed=11)
        prompt, _, _ = backend._fit(request)  # the very tokens the engine evaluates
        raw_run(backend.llm, prompt, request)  # warm-up
        engine_rates, raw_rates, counts = [], [], []
        for _ in range(repeats):
            raw = raw_run(backend.llm, prompt, request)
            eng = engine_run(engine, request)
            raw_rates.append(decode_tok_s(raw))
            engine_rates.append(decode_tok_s(eng))
            counts.append((raw[0], eng[0]))
    engine_tok_s, raw_tok_s = statistics.median(engine_rates), statistics.median(raw_rates)
    return {
        "engine_tok_s": engine_tok_s,
        "raw_tok_s": raw_tok_s,
        "ratio": engine_tok_s / raw_tok_s,
        "ratio_ok": engine_tok_s / raw_tok_s >= 0.95,
        "tokens_generated": counts[0],
        "threads": backend.threads,
    }


def masked_diffusion(masks: int = 24, seeds: int = 5) -> dict:
    """`fill` with exactly `masks` masks: tokens per forward pass = masks / steps taken."""
    import tempfile

    from engine.backends.llamacpp.masked_diffusion import LlamaDiffusionBackend
    from engine.backends.llamacpp.unmasking import UnmaskingParams
    from tests.llada_gguf import write_llada_gguf

    text = "The quick brown fox jumps over the lazy dog. " * 4
    settings = {
        "tokens_per_forward": UnmaskingParams(steps=masks, threshold=0.6, temperature=0.0),
        "tokens_per_forward_one_per_step": UnmaskingParams(steps=masks, threshold=1.01, temperature=0.0),
    }
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_llada_gguf(Path(tmp) / "tiny-llada.gguf")
        for key, params in settings.items():
            with Engine() as engine:
                engine.load(lambda: LlamaDiffusionBackend(str(path), params=params)).result()
                steps = [
                    engine.edit(EditRequest(text, at, at, mode="fill", max_new_tokens=masks, seed=seed)).steps
                    for seed in range(seeds)
                    for at in (text.index("fox"), text.index("lazy"))
                ]
            report[key] = masks * len(steps) / sum(steps)
    return report


def sampler_cost(masks: int = 32, seeds: int = 3) -> dict:
    """Median ms per step of the forward pass and of the sampler, inside real `fill` edits at a 32k vocabulary."""
    import tempfile

    import engine.backends.llamacpp.masked_diffusion as md
    from engine.backends.llamacpp.unmasking import UnmaskingParams
    from tests.llada_gguf import write_llada_gguf

    text = "The quick brown fox jumps over the lazy dog. " * 4
    report = {"sampler_vocab": SAMPLER_VOCAB, "sampler_hidden": SAMPLER_HIDDEN}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_llada_gguf(Path(tmp) / "llada-32k.gguf", vocab_size=SAMPLER_VOCAB, hidden=SAMPLER_HIDDEN)
        settings = {"": UnmaskingParams(steps=masks), "_greedy": UnmaskingParams(steps=masks, temperature=0.0)}
        for key, params in settings.items():
            backend = md.LlamaDiffusionBackend(str(path), params=params)
            backend.load()
            forward_s, sampler_s = [], []
            real_forward, real_sampler = backend._forward, md.unmask_step

            def forward(*args):
                started = time.perf_counter()
                try:
                    return real_forward(*args)
                finally:
                    forward_s.append(time.perf_counter() - started)

            def sampler(*args):
                started = time.perf_counter()
                try:
                    return real_sampler(*args)
                finally:
                    sampler_s.append(time.perf_counter() - started)

            backend._forward, md.unmask_step = forward, sampler
            try:
                at = text.index("lazy")
                for seed in range(seeds):
                    request = EditRequest(text, at, at, mode="fill", max_new_tokens=masks, seed=seed)
                    backend.edit(request, lambda draft: None, threading.Event())
            finally:
                md.unmask_step = real_sampler
                backend.close()
            forward_ms, sampler_ms = statistics.median(forward_s) * 1e3, statistics.median(sampler_s) * 1e3
            report[f"forward_ms{key}"] = forward_ms
            report[f"sampler_ms{key}"] = sampler_ms
            report[f"sampler_share{key}"] = sampler_ms / forward_ms
            report[f"sampler_share_ok{key}"] = sampler_ms / forward_ms < 0.05
    return report


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sampler-only", action="store_true", help="only the sampler's cost (no bundled model)")
    args = parser.parse_args()
    if args.sampler_only:
        report = sampler_cost()
    else:
        report = {**autoregressive(args.repeats), **masked_diffusion(), **sampler_cost()}
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>34}: {value}")
    return report


if __name__ == "__main__":
    main()
