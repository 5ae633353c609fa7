"""DiffusionGemma 26B-A4B vs Gemma 4 26B-A4B at full size on a GPU, random weights, bf16, one run.

`python -m tests.bench.gpu_full_size --json [--scaled-down] [--variants eager,compiled] [--repeats R]`

Both models are built from configurations (nothing downloaded) straight on the device, one after the other
(two 50 GB models do not fit one 80 GB GPU together), and measured with the same prompt token ids:

- device bandwidth: the best of several copies of a large on-device buffer (bytes read + bytes written / time).
- diffusion: ms per denoising step at canvas 64 and 256 = (generate with 16 steps - generate with 4 steps) / 12,
  so prefill and per-call costs cancel; adaptive stopping off. The time of a whole 256-token rewrite at 16
  steps, prefill of a 512-token prompt included.
- autoregressive: ms per token = (generate 64 tokens - generate 16 tokens) / 48, greedy; the time of a whole
  256-token rewrite (512-token prompt, 256 new tokens).
- long span (eager): a 512-token rewrite as 2 blocks of 256 at 16 steps each (end tokens off, so both blocks
  run), vs the AR model writing 512 tokens.
- alternatives (eager): 4 canvases of 256 as one batch at 16 steps vs one canvas; on a GPU a step is bound by
  reading the weights, so the batch of 4 should cost about one.
- prefill ms for 512 / 2048 / 8192-token prompts (the diffusion encoder pass; the causal model's prompt forward).
- peak device memory of each model's run.
- roofline fraction = (bytes of weights one step reads) / bandwidth / measured step time. The bytes are counted
  from the model itself: every text weight once (the decoder shares the encoder's weights; the tied embedding
  is read once, as the output projection), except expert weights, counted for the experts the routers really
  picked in that step (recorded by hooks on the routers; with random weights routing is near uniform, so a
  256-token canvas touches nearly all 128 experts, a 64-token one ~98%, one AR token 8).
- variants: `eager` (dynamic cache) and `compiled` (static cache: DiffusionGemma's `generate` then compiles
  its encoder, decoder and sampler with torch.compile; the causal model's `generate` auto-compiles its forward
  on CUDA only, so on a CPU the AR side of `compiled` is static cache without compile).

`--scaled-down` keeps the layout (5 sliding : 1 global layers, MoE in every layer, dense MLP beside the
experts, fewer KV heads on the global layer, twice as wide) at a size a CPU runs in seconds, with shorter
prompts, canvases and rewrites (`SCALED_DOWN`); that is how the script is checked without a GPU.
Targets (full size, GPU): a 256-token rewrite at 16 steps >= 4x faster than the AR model
writing 256 tokens; each denoising step >= 70% of the memory roofline.

Where the full-size numbers come from (see `full_size_text_config`): the installed transformers 5.23 gives
the vocabulary (262,144), head width 256, global head width 512, 2 global KV heads (a comment on
gemma-4-26B-A4B in configuration_diffusion_gemma.py), 30 layers with the 5:1 sliding/global pattern, the
RoPE settings, logit soft-capping 30 and the 256-token canvas (class defaults). Its defaults have no experts
and a 2304 width, so the MoE sizes come from public model pages (not from a downloaded config.json):
128 experts, top 8 (vast.ai's Gemma 4 26B A4B page; NVIDIA Megatron-Bridge's gemma4_provider docs),
16 query heads, 8 KV heads, sliding window 1024, expert FFN 704 (apxml.com's Gemma 4 26B A4B page). The
width 2816 and dense FFN 2112 are inferred: apxml lists 2,112 as the width, but that gives ~18.5B
parameters; width 2816 with a 2112 dense FFN gives 25.25B text parameters and 3.84B active, the published
25.2B / 3.8B. The real config.json may differ in details the parameter count cannot see.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import resource
import statistics
import time
from dataclasses import dataclass

import torch
from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion, DynamicCache, Gemma4ForCausalLM
from transformers.utils import logging as hf_logging

from tests.tiny_models import gemma4_causal_config

DTYPE = torch.bfloat16
STEPS_FEW, STEPS_MANY = 4, 16


@dataclass(frozen=True)
class Plan:
    prompts: tuple[int, ...]  # prefill lengths; the first is the prompt of every generate call
    canvases: tuple[int, ...]
    rewrite: int  # the span both models rewrite end to end (the last canvas)
    tokens_few: int
    tokens_many: int


FULL = Plan(prompts=(512, 2048, 8192), canvases=(64, 256), rewrite=256, tokens_few=16, tokens_many=64)
# The CPU check: every code path once, in seconds (a CPU runs bf16 slowly and 8k-token prompts for minutes).
SCALED_DOWN = Plan(prompts=(64, 128, 256), canvases=(32, 64), rewrite=64, tokens_few=4, tokens_many=12)


def full_size_text_config() -> dict:
    """DiffusionGemma 26B-A4B's text model; every value not set here is transformers 5.23's default."""
    return dict(
        hidden_size=2816,  # inferred from the published 25.2B total / 3.8B active (see the module docstring)
        intermediate_size=2112,  # the dense MLP beside the experts; inferred as above
        num_hidden_layers=30,  # transformers default; public pages: 30 layers, 25 sliding + 5 global
        num_attention_heads=16,  # apxml.com
        num_key_value_heads=8,  # apxml.com; Megatron-Bridge docs: 8 KV heads on sliding layers
        num_global_key_value_heads=2,  # transformers: configuration_diffusion_gemma.py, base_model_ep_plan comment
        sliding_window=1024,  # apxml.com, vast.ai
        num_experts=128,  # vast.ai, Megatron-Bridge docs
        top_k_experts=8,  # vast.ai, Megatron-Bridge docs
        moe_intermediate_size=704,  # apxml.com
    )


def scaled_down_text_config() -> dict:
    """The same layout in miniature: 6 layers (5 sliding + 1 global), 8 experts top 2, a 4k vocabulary."""
    return dict(
        vocab_size=4096, hidden_size=128, intermediate_size=96, moe_intermediate_size=64, num_hidden_layers=6,
        num_attention_heads=4, num_key_value_heads=2, num_global_key_value_heads=1, head_dim=32,
        global_head_dim=64, sliding_window=128, num_experts=8, top_k_experts=2,
    )


def build(cls, config, device: str):
    """Random weights allocated and initialised on the device itself, in bf16."""
    with torch.device(device):
        model = cls._from_config(config, dtype=DTYPE)
    return model.eval()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device: str, fn) -> float:
    sync(device)
    started = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - started


def bandwidth_gb_s(device: str, repeats: int) -> float:
    """Best of `repeats` copies of a large buffer: each copy reads and writes every byte once."""
    nbytes = 4 * 2**30 if device.startswith("cuda") else 256 * 2**20
    src = torch.empty(nbytes, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up
    best = min(timed(device, lambda: dst.copy_(src)) for _ in range(max(repeats, 3)))
    del src, dst
    return 2 * nbytes / best / 1e9


@contextlib.contextmanager
def expert_tally(model, tokens: int):
    """Which experts each layer's router picked in its first call over exactly `tokens` tokens: the canvas's
    first decoder step, or the first AR decode step (not the prompt's prefill, nor the encoder pass that
    appends a finished canvas to the cache). Hooks live only inside this block and must see eager calls:
    torch.compile would trace them into its graph (and fail on `.tolist()`)."""
    picked: dict[int, set[int]] = {}

    def hook(layer: int):
        def record(module, args, output):
            index = output[2]  # (tokens, top_k) expert ids
            if index.shape[0] == tokens and layer not in picked:  # the first such call: the step itself
                picked[layer] = set(index.flatten().tolist())
        return record

    # By the layer number in the module's name, which the weights' names share: DiffusionGemma's decoder
    # layers are separate modules holding the encoder layers' tensors.
    handles = [
        module.register_forward_hook(hook(int(name.split(".layers.")[1].split(".")[0])))
        for name, module in model.named_modules()
        if type(module).__name__.endswith("TextRouter")
    ]
    try:
        yield picked
    finally:
        for handle in handles:
            handle.remove()


def step_weight_bytes(model, picked: dict[int, set[int]], num_experts: int) -> int:
    """Bytes of weights one forward reads: each text weight once, experts only where picked.

    `named_parameters` lists a tied tensor once (DiffusionGemma's decoder layers are its encoder's; the
    output projection is the embedding), which is what one step reads. The embedding lookup itself reads a
    few rows; the output projection reads the whole matrix, so the embedding counts once, in full.
    """
    total = 0
    for name, param in model.named_parameters():
        if "vision" in name:
            continue
        nbytes = param.numel() * param.element_size()
        if ".experts." in name:
            layer = int(name.split(".layers.")[1].split(".")[0])
            nbytes = nbytes * len(picked.get(layer, ())) // num_experts
        total += nbytes
    return total


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def peak_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # process high-water mark, in bytes


def prompt_ids(length: int, vocab: int, device: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(length)
    return torch.randint(10, vocab, (1, length), generator=generator).to(device)


@torch.no_grad()
def diffusion_prefill(model, prompt: torch.Tensor) -> None:
    """The encoder pass over the prompt alone, as step 1.a of `generate` runs it."""
    length = prompt.shape[1]
    canvas = model.config.canvas_length
    cache = model._prepare_cache_for_generation(model.generation_config, batch_size=1, max_length=length + canvas)
    positions = torch.arange(length, dtype=torch.int32, device=prompt.device).unsqueeze(0)
    ids, masks = model._prepare_encoder_inputs(
        input_ids=prompt, attention_mask=torch.ones_like(prompt, dtype=torch.bool), encoder_position_ids=positions,
        past_key_values=cache, is_prefill=True, canvas_length=canvas, batch_size=1,
    )
    model.model.encoder(input_ids=ids, attention_mask=masks, past_key_values=cache, position_ids=positions)


@torch.no_grad()
def ar_prefill(model, prompt: torch.Tensor) -> None:
    model(input_ids=prompt, past_key_values=DynamicCache(config=model.config), use_cache=True, logits_to_keep=1)


def forget_compiled(model) -> None:
    """Drop the compiled functions DiffusionGemma's `generate` caches on the model.

    transformers 5.23 compiles the *bound methods of the first call's sampler* and keeps them on the model, so
    a later call with another canvas length still renoises a canvas of the first length (seen: a broadcast
    error, 32 vs 64, inside `renoise_canvas`). Each canvas length therefore gets its own compile here.
    """
    for name in [n for n in vars(model) if n.startswith("_compiled_")]:
        delattr(model, name)


def measure_diffusion(config, plan: Plan, device: str, variants: list[str], repeats: int, bandwidth: float) -> dict:
    model = build(DiffusionGemmaForBlockDiffusion, config, device)
    vocab, experts = config.text_config.vocab_size, config.text_config.num_experts
    prompt = prompt_ids(plan.prompts[0], vocab, device)
    reset_peak(device)
    out: dict = {"prefill_ms": {}, "variants": {}, "step_weight_bytes": {}}
    for canvas in plan.canvases:  # eager, before anything is compiled: routing does not depend on compiling
        model.config.canvas_length = canvas
        torch.manual_seed(0)
        with expert_tally(model, canvas) as picked:  # one single-step call: the experts a canvas touches
            model.generate(prompt, max_new_tokens=canvas, max_denoising_steps=1, confidence_threshold=None)
        out["step_weight_bytes"][str(canvas)] = step_weight_bytes(model, picked, experts)
    for length in plan.prompts:
        ids = prompt_ids(length, vocab, device)
        diffusion_prefill(model, ids)  # warm-up
        out["prefill_ms"][str(length)] = 1e3 * statistics.median(
            timed(device, lambda: diffusion_prefill(model, ids)) for _ in range(repeats)
        )
    for variant in variants:
        cache = {"cache_implementation": "static"} if variant == "compiled" else {}

        def generate(canvas: int, steps: int) -> None:
            model.config.canvas_length = canvas
            torch.manual_seed(0)
            model.generate(prompt, max_new_tokens=canvas, max_denoising_steps=steps, confidence_threshold=None, **cache)

        row: dict = {"step_ms": {}, "roofline_fraction": {}}
        for canvas in plan.canvases:
            forget_compiled(model)
            compile_s = timed(device, lambda: generate(canvas, STEPS_FEW))  # warm-up; compiles on first use
            row.setdefault("first_call_s", {})[str(canvas)] = compile_s
            many = [timed(device, lambda: generate(canvas, STEPS_MANY)) for _ in range(repeats)]
            few = [timed(device, lambda: generate(canvas, STEPS_FEW)) for _ in range(repeats)]
            step_s = (statistics.median(many) - statistics.median(few)) / (STEPS_MANY - STEPS_FEW)
            weight_bytes = out["step_weight_bytes"][str(canvas)]
            row["step_ms"][str(canvas)] = 1e3 * step_s
            row["roofline_fraction"][str(canvas)] = weight_bytes / (bandwidth * 1e9) / step_s if step_s > 0 else None
            if canvas == plan.rewrite:
                row["rewrite_ms"] = 1e3 * statistics.median(many)
        if variant == "eager":
            long_span(model, prompt, plan, device, repeats, row)
        out["variants"][variant] = row
    out["peak_memory_bytes"] = peak_bytes(device)
    out["text_params"] = sum(p.numel() for n, p in model.named_parameters() if "vision" not in n)
    del model
    free(device)
    return out


ALTERNATIVES = 4


def long_span(model, prompt, plan: Plan, device: str, repeats: int, row: dict) -> None:
    """Two blocks of the rewrite canvas chained (end tokens off) and a batch of ALTERNATIVES canvases."""
    canvas = plan.rewrite
    model.config.canvas_length = canvas

    def run(batch: int, tokens: int) -> None:
        torch.manual_seed(0)
        model.generate(prompt.repeat(batch, 1), max_new_tokens=tokens, max_denoising_steps=STEPS_MANY,
                       confidence_threshold=None, eos_token_id=None)

    run(ALTERNATIVES, canvas)  # warm-up: a new batch size
    row["long_span_ms"] = 1e3 * statistics.median(timed(device, lambda: run(1, 2 * canvas)) for _ in range(repeats))
    row["batch_ms"] = 1e3 * statistics.median(timed(device, lambda: run(ALTERNATIVES, canvas)) for _ in range(repeats))
    row["batch_over_one"] = row["batch_ms"] / row["rewrite_ms"]


def measure_autoregressive(
    config, plan: Plan, device: str, variants: list[str], repeats: int, bandwidth: float
) -> dict:
    model = build(Gemma4ForCausalLM, gemma4_causal_config(config), device)
    vocab, experts = config.text_config.vocab_size, config.text_config.num_experts
    prompt = prompt_ids(plan.prompts[0], vocab, device)
    reset_peak(device)
    with expert_tally(model, 1) as picked:  # the decode step after the prefill: the experts one token picks
        model.generate(prompt, max_new_tokens=2, min_new_tokens=2, do_sample=False)
    out: dict = {"prefill_ms": {}, "variants": {}, "token_weight_bytes": step_weight_bytes(model, picked, experts)}
    for length in plan.prompts:
        ids = prompt_ids(length, vocab, device)
        ar_prefill(model, ids)
        out["prefill_ms"][str(length)] = 1e3 * statistics.median(
            timed(device, lambda: ar_prefill(model, ids)) for _ in range(repeats)
        )
    for variant in variants:
        cache = {"cache_implementation": "static"} if variant == "compiled" else {}

        def generate(tokens: int) -> None:
            model.generate(prompt, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, **cache)

        row: dict = {"first_call_s": timed(device, lambda: generate(plan.tokens_few))}
        many = [timed(device, lambda: generate(plan.tokens_many)) for _ in range(repeats)]
        few = [timed(device, lambda: generate(plan.tokens_few)) for _ in range(repeats)]
        token_s = (statistics.median(many) - statistics.median(few)) / (plan.tokens_many - plan.tokens_few)
        row["token_ms"] = 1e3 * token_s
        rewrites = [timed(device, lambda: generate(plan.rewrite)) for _ in range(repeats)]
        row["rewrite_ms"] = 1e3 * statistics.median(rewrites)
        if variant == "eager":  # the long-span row: twice the rewrite
            row["long_rewrite_ms"] = 1e3 * statistics.median(
                timed(device, lambda: generate(2 * plan.rewrite)) for _ in range(repeats)
            )
        row["roofline_fraction"] = out["token_weight_bytes"] / (bandwidth * 1e9) / token_s if token_s > 0 else None
        out["variants"][variant] = row
    out["peak_memory_bytes"] = peak_bytes(device)
    out["params"] = sum(p.numel() for p in model.parameters())
    del model
    free(device)
    return out


def free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def measure(scaled_down: bool, variants: list[str], repeats: int) -> dict:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not scaled_down:
        raise SystemExit("no GPU here: the full-size run needs CUDA (use --scaled-down to check the script)")
    hf_logging.set_verbosity_error()
    text = scaled_down_text_config() if scaled_down else full_size_text_config()
    config = DiffusionGemmaConfig(text_config=text)
    if scaled_down:  # the default vision tower alone is 170M parameters; it plays no part in text speed
        config = DiffusionGemmaConfig(
            text_config=text,
            vision_config={"model_type": "gemma4_vision", "hidden_size": 16, "intermediate_size": 32,
                           "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 8},
        )
    plan = SCALED_DOWN if scaled_down else FULL
    bandwidth = bandwidth_gb_s(device, repeats)
    diffusion = measure_diffusion(config, plan, device, variants, repeats, bandwidth)
    autoregressive = measure_autoregressive(config, plan, device, variants, repeats, bandwidth)
    ratios = {
        variant: autoregressive["variants"][variant]["rewrite_ms"] / diffusion["variants"][variant]["rewrite_ms"]
        for variant in variants
    }
    return {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "scaled_down": scaled_down,
        "dtype": str(DTYPE).removeprefix("torch."),
        "bandwidth_gb_s": bandwidth,
        "diffusion": diffusion,
        "autoregressive": autoregressive,
        "rewrite_speedup": ratios,  # AR writing `rewrite` tokens / diffusion, that canvas, 16 steps
        "speedup_ok": {v: r >= 4.0 for v, r in ratios.items()},
        "long_span_speedup": (
            autoregressive["variants"]["eager"]["long_rewrite_ms"] / diffusion["variants"]["eager"]["long_span_ms"]
            if "eager" in variants else None
        ),
        "batch_over_one": diffusion["variants"]["eager"]["batch_over_one"] if "eager" in variants else None,
        "roofline_ok": {
            v: all(f is not None and f >= 0.70 for f in diffusion["variants"][v]["roofline_fraction"].values())
            for v in variants
        },
        "text_config": config.text_config.to_diff_dict(),
        "plan": plan.__dict__,
        "repeats": repeats,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--scaled-down", action="store_true", help="a small model of the same layout (CPU check)")
    parser.add_argument("--variants", default="eager,compiled", help="comma-separated: eager, compiled")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if not variants or set(variants) - {"eager", "compiled"} or args.repeats < 1:
        parser.error("--variants takes eager and/or compiled; --repeats must be >= 1")

    started = time.perf_counter()
    report = measure(args.scaled_down, variants, args.repeats)
    report["bench_s"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(report))
        return
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
