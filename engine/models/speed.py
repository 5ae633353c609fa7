"""How long an edit takes here: a throughput probe measured once per machine, and an estimate per model.

The probe times two things NumPy does at close to the hardware's limit: a large array copy (memory
bandwidth: a token of an autoregressive model reads every active weight once) and a float32 matrix product
(the matrix rate: a prompt, or a diffusion step over a whole canvas, is matrix products). It takes well under
a second and is cached as JSON in the user cache folder, keyed by the CPU's model and core count, so it runs
once per machine, not once per start.

The estimate is a model of the work, not a measurement of the model: bytes per token = active parameters x
bytes per weight of the quantisation; FLOPs per token = 2 x active parameters; each phase takes whichever of
the two limits is slower, scaled by how much of the probe's rate llama.cpp reaches (EFFICIENCY, chosen so the
bundled Gemma 3 270M comes out near its measured ~49 tokens/s on 2 cores). A diffusion model costs steps x a
forward pass over its canvas (masked diffusion without a KV cache: over the prompt too). A model that loads on
a GPU is not estimated: the probe measures the CPU.

Once a model has run, its own runs say more than the probe: `RunAverage` is a running average of what a
model's finished runs took, and `run_seconds` turns it and a span's length into the time the next run should
take: steps x seconds per step for a diffusion model (steps per block times the span's blocks), tokens x
seconds per token for an autoregressive or remote one. Nothing measured, nothing estimated (None).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import asdict, astuple, dataclass
from pathlib import Path

import numpy as np

from engine.models.catalog import CatalogEntry
from engine.types import EditResult, ModelInfo

EDIT_TOKENS = 64  # "a 64-token rewrite": about two sentences
PROMPT_TOKENS = 128  # the span plus the instruction and the nearest context a model is given
COPY_BYTES = 64_000_000  # two arrays of this exceed the CPU caches; small enough to keep the probe under a second
MATRIX_SIZE = 1024
EFFICIENCY = {"bandwidth": 0.4, "decode_flops": 0.5, "batch_flops": 0.8}
# Bytes per weight as llama.cpp stores them (block scales included); unknown names count as 4-bit.
BYTES_PER_WEIGHT = {"Q8_0": 1.0625, "Q6_K": 0.82, "Q5_K_M": 0.71, "Q4_K_M": 0.61, "UD-Q4_K_M": 0.61,
                    "Q4_1": 0.625, "Q4_0": 0.5625, "bf16": 2.0, "fp16": 2.0, "fp32": 4.0, "int4": 0.56}  # fmt: skip
CACHE_NAME = "throughput.json"
DIFFUSION_FAMILIES = ("diffusion_gemma", "masked_diffusion")  # ModelInfo.family of the backends that step
RUN_DECAY = 0.7  # each newer run weighs an older one down by this: a change of load shows within a few runs


@dataclass(frozen=True)
class Throughput:
    bandwidth_gbps: float  # GB/s moved by a large copy (read + write)
    matmul_gflops: float  # float32 matrix product rate
    cpu: str
    cores: int
    probe_s: float  # how long the probe took


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: not estimated (on a GPU, or no parameter count)
    text: str  # "about 4 s for a 64-token rewrite"


def machine_key() -> str:
    return f"{cpu_model()} x{os.cpu_count() or 1}"


def cpu_model() -> str:
    """The CPU's marketing name where the OS gives it (Linux: /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux, or /proc not mounted: platform's name below
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def probe() -> Throughput:
    """Measure now (a few tenths of a second): the best of three runs each, as interruptions only slow a run."""
    started = time.perf_counter()
    source = np.ones(COPY_BYTES, dtype=np.uint8)
    target = np.empty_like(source)
    np.copyto(target, source)  # touch the pages first: the first copy pays for page faults
    copy_s = _best(lambda: np.copyto(target, source))
    del source, target
    a = np.random.default_rng(0).standard_normal((MATRIX_SIZE, MATRIX_SIZE), dtype=np.float32)
    a @ a  # warm the BLAS threads
    matmul_s = _best(lambda: a @ a)
    return Throughput(
        bandwidth_gbps=2 * COPY_BYTES / copy_s / 1e9,
        matmul_gflops=2 * MATRIX_SIZE**3 / matmul_s / 1e9,
        cpu=cpu_model(),
        cores=os.cpu_count() or 1,
        probe_s=time.perf_counter() - started,
    )


def measured(cache_dir: str | Path | None = None) -> Throughput:
    """This machine's throughput: from the cache when this CPU was probed before, else probed now and cached.
    A cache that cannot be read or written only costs a new probe."""
    path = _cache_dir(cache_dir) / CACHE_NAME
    key = machine_key()
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    try:
        return Throughput(**known[key])
    except (KeyError, TypeError):  # not measured on this machine yet, or an entry of another shape: probe
        pass
    result = probe()
    known[key] = asdict(result)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(known, indent=1), encoding="utf-8")
        temporary.replace(path)
    except OSError:  # a read-only cache: the result still serves this run, the next run probes again
        pass
    return result


def estimate(entry: CatalogEntry, dtype: str, where: str, throughput: Throughput, tokens: int = EDIT_TOKENS) -> Estimate:
    """The time for a `tokens`-long rewrite of `entry` loaded as `dtype` on `where` ("cpu" or "gpu")."""
    if where == "gpu":
        return Estimate(None, "speed on the GPU not estimated (the probe measures the CPU)")
    if not entry.active_params_b:
        return Estimate(None, "speed not estimated (parameter count unknown)")
    seconds = edit_seconds(entry, dtype, throughput, tokens)
    return Estimate(seconds, f"about {_duration(seconds)} for a {tokens}-token rewrite")


def edit_seconds(entry: CatalogEntry, dtype: str, throughput: Throughput, tokens: int = EDIT_TOKENS) -> float:
    params = entry.active_params_b * 1e9
    weights_s = params * BYTES_PER_WEIGHT.get(dtype, 0.61) / (throughput.bandwidth_gbps * 1e9 * EFFICIENCY["bandwidth"])
    decode_rate = throughput.matmul_gflops * 1e9 * EFFICIENCY["decode_flops"]
    batch_rate = throughput.matmul_gflops * 1e9 * EFFICIENCY["batch_flops"]

    def forward(n: int, rate: float) -> float:  # n positions through the model, its weights read once
        return max(weights_s, n * 2 * params / rate)

    if entry.family in ("llada", "dream"):  # masked diffusion: no KV cache, every step reads the whole sequence
        steps = entry.steps or 32
        return steps * forward(PROMPT_TOKENS + tokens, batch_rate)
    if entry.backend == "diffusion_gemma" or entry.canvas_length:  # block diffusion: prompt once, steps over the canvas
        canvas = min(entry.canvas_length or tokens, 32 * math.ceil(tokens / 32))
        return forward(PROMPT_TOKENS, batch_rate) + (entry.steps or 48) * forward(canvas, batch_rate)
    return forward(PROMPT_TOKENS, batch_rate) + tokens * forward(1, decode_rate)  # autoregressive


@dataclass(frozen=True)
class RunAverage:
    """What one model's finished runs took, as decayed sums (each run counts RUN_DECAY times less for each run
    after it); their ratios are the averages: seconds per step or per token, steps per block, characters per
    token. Plain numbers, so the app can store it."""

    runs: float = 0.0
    seconds: float = 0.0
    steps: float = 0.0
    tokens: float = 0.0
    blocks: float = 0.0
    chars: float = 0.0

    def add(self, result: EditResult) -> RunAverage:
        """With `result` counted; a cancelled, failed or empty run measures nothing and leaves it as it is."""
        if not result.ok or result.steps <= 0 or result.tokens <= 0 or result.elapsed_s <= 0 or not result.text:
            return self
        new = (1, result.elapsed_s, result.steps, result.tokens, max(result.blocks, 1), len(result.text))
        return RunAverage(*(RUN_DECAY * old + value for old, value in zip(astuple(self), new)))


def run_seconds(info: ModelInfo, span_chars: int, average: RunAverage) -> float | None:
    """The seconds a run of the model `info` over a span of `span_chars` characters (0: a fill at the cursor,
    as long as its runs so far) should take, from `average` of its earlier runs; None when nothing is measured."""
    if average.runs <= 0 or average.tokens <= 0 or average.steps <= 0:
        return None
    chars_per_token = average.chars / average.tokens
    tokens = span_chars / chars_per_token if span_chars > 0 else average.tokens / average.runs
    if info.family == "masked_diffusion":  # its steps are shared among the blocks: a run is its steps
        return average.seconds / average.runs
    if info.family in DIFFUSION_FAMILIES:
        blocks = math.ceil(tokens / info.canvas_length) if info.canvas_length else 1
        return average.seconds / average.blocks * max(blocks, 1)  # seconds per step x steps per block x blocks
    return average.seconds / average.tokens * max(tokens, 1.0)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "1 s" if seconds >= 0.5 else "under a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _best(run, repeats: int = 3) -> float:
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return max(best, 1e-9)


def _cache_dir(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from platformdirs import user_cache_path

    return user_cache_path("Redraft", appauthor=False)
