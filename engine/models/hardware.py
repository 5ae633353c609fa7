"""Will a model fit? The machine's memory, GPUs and free disk, and a verdict in words before anything loads.

The estimate is deliberately simple and says so: the catalog's memory figure for the chosen dtype or
quantisation, plus the key/value cache for the context, plus a fixed runtime overhead. It errs on the high
side; the point is to stop a user from starting a 50 GB load on a 16 GB laptop, not to predict to the MB.
A verdict is only given for what the backend really loads on this machine (see `loadable`): a GPU with room
for int4 but not bf16 is told "does not fit" unless 4-bit loading is possible there. RAM comes from psutil;
CUDA memory from torch, imported lazily and only when installed; nothing here touches a model.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from engine.models.catalog import GB, CatalogEntry

RUNTIME_OVERHEAD_GB = 0.5  # the runtime itself, buffers, the tokenizer
KV_GB_PER_1K_TOKENS = 0.1  # a rough upper bound for these models' caches (most are MoE or small)


@dataclass(frozen=True)
class Gpu:
    name: str
    kind: str  # "cuda" or "mps"
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class Hardware:
    ram_total_bytes: int
    ram_available_bytes: int
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)
    disk_free_bytes: int | None = None  # where models are stored
    bitsandbytes: bool = False  # installed: the transformers backend can load 4-bit on CUDA

    @property
    def best_gpu_bytes(self) -> int:
        return max((g.total_bytes for g in self.gpus), default=0)

    def to_dict(self) -> dict:
        return {
            "ram_total_bytes": self.ram_total_bytes,
            "ram_available_bytes": self.ram_available_bytes,
            "gpus": [g.__dict__ for g in self.gpus],
            "disk_free_bytes": self.disk_free_bytes,
            "bitsandbytes": self.bitsandbytes,
        }


@dataclass(frozen=True)
class Fit:
    verdict: str  # "fits", "cpu-only" or "no"
    message: str  # one line for the user
    need_gb: float
    dtype: str
    suggestion: str | None = None  # the id of the nearest smaller catalog option, when it does not fit
    where: str = "cpu"  # where the chosen option loads: "gpu" or "cpu" (the speed estimate depends on it)


def detect(models_dir: str | Path | None = None) -> Hardware:
    memory = psutil.virtual_memory()  # `available` is right on macOS too (the page-size sum there was total)
    disk = None
    if models_dir is not None:
        disk = free_disk_bytes(models_dir)
    return Hardware(
        ram_total_bytes=memory.total,
        ram_available_bytes=memory.available,
        gpus=_gpus(memory),
        disk_free_bytes=disk,
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,  # found, not imported: it is slow
    )


def free_disk_bytes(path: str | Path) -> int:
    """Free bytes on the volume holding `path` (or its nearest existing parent)."""
    path = Path(path).expanduser().absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return 0


def need_gb(entry: CatalogEntry, dtype: str, context_tokens: int) -> float:
    return entry.memory_gb[dtype] + context_tokens / 1024 * KV_GB_PER_1K_TOKENS + RUNTIME_OVERHEAD_GB


def loadable(entry: CatalogEntry, hardware: Hardware) -> list[tuple[str, str]]:
    """(dtype, "gpu" or "cpu") pairs the entry's backend really loads on this machine, best quality first.

    The transformers backend (engine/backends/diffusion_gemma.py, which engine.models may not import) loads bf16
    on CUDA or MPS and fp32 on a CPU; 4-bit needs bitsandbytes, which needs CUDA. llama.cpp loads a GGUF as stored,
    on a GPU when there is one, else on the CPU. Options the catalog has no memory figure for are left out.
    """
    if entry.backend == "diffusion_gemma":
        kinds = {g.kind for g in hardware.gpus}
        on_gpu = ["bf16"] if kinds else []
        if "cuda" in kinds and hardware.bitsandbytes:
            on_gpu.append("int4")
        options = [(d, "gpu") for d in on_gpu] + [("fp32", "cpu")]
    else:
        stored = sorted(entry.memory_gb, key=entry.memory_gb.get, reverse=True)  # bigger is closer to the original
        options = [(d, "gpu") for d in stored if hardware.gpus] + [(d, "cpu") for d in stored]
    return [(d, where) for d, where in options if d in entry.memory_gb]


def fit(entry: CatalogEntry, hardware: Hardware, catalog: tuple[CatalogEntry, ...], context_tokens: int = 4096) -> Fit:
    """The best option the backend can load here: on a GPU (or the CPU for small models), on CPU only (slow),
    or none (and what would)."""
    options = [(d, where, need_gb(entry, d, context_tokens)) for d, where in loadable(entry, hardware)]
    if not options:
        what = ", ".join(entry.memory_gb)
        return Fit("no", f"does not fit: this machine cannot load {entry.name} as {what}", 0.0, what)
    return _verdict(options, entry.cpu_ok, entry.family, hardware, catalog, context_tokens)


def fit_weights(
    weight_bytes: int,
    hardware: Hardware,
    catalog: tuple[CatalogEntry, ...],
    context_tokens: int = 4096,
    cpu_factor: float = 1.0,
) -> Fit:
    """For a model the catalog does not know: its weights as they are on disk (a GGUF is loaded as stored).
    `cpu_factor`: how much bigger it gets on a CPU (2 for a bf16 checkpoint the backend loads at fp32 there)."""
    need = weight_bytes / GB + context_tokens / 1024 * KV_GB_PER_1K_TOKENS + RUNTIME_OVERHEAD_GB
    cpu_need = weight_bytes * cpu_factor / GB + context_tokens / 1024 * KV_GB_PER_1K_TOKENS + RUNTIME_OVERHEAD_GB
    cpu_dtype = "as stored" if cpu_factor == 1.0 else "fp32"
    options = [("as stored", "gpu", need)] * bool(hardware.gpus) + [(cpu_dtype, "cpu", cpu_need)]
    return _verdict(options, cpu_need <= 2, None, hardware, catalog, context_tokens)


def _verdict(
    options: list[tuple[str, str, float]],
    cpu_ok: bool,
    family: str | None,
    hardware: Hardware,
    catalog: tuple[CatalogEntry, ...],
    context_tokens: int,
) -> Fit:
    """The first option, best first, that fits where it would load; else the smallest one, with what would fit."""
    gpu_gb = hardware.best_gpu_bytes / GB
    ram_gb = hardware.ram_total_bytes / GB
    for dtype, where, need in options:
        if where == "gpu" and need <= gpu_gb:
            return Fit("fits", f"fits: needs {need:.1f} GB ({dtype}), the GPU has {gpu_gb:.1f} GB", need, dtype, where="gpu")
    for dtype, where, need in options:
        if where == "cpu" and need <= ram_gb:
            if cpu_ok:  # small enough for a CPU
                return Fit("fits", f"fits: needs {need:.1f} GB ({dtype}), this machine has {ram_gb:.1f} GB", need, dtype)
            return Fit(
                "cpu-only",
                f"fits on CPU only (slow): needs {need:.1f} GB ({dtype}), {ram_gb:.1f} GB of RAM, no GPU big enough",
                need,
                dtype,
            )
    dtype, where, need = min(options, key=lambda o: o[2])
    have = f"the GPU has {gpu_gb:.1f} GB" if where == "gpu" else f"this machine has {ram_gb:.1f} GB of RAM"
    smaller = _nearest_smaller(family, hardware, catalog, context_tokens)
    hint = f"; try {smaller[0].name} ({smaller[1]}, {smaller[2]:.1f} GB)" if smaller else ""
    return Fit(
        "no",
        f"does not fit: needs {need:.1f} GB ({dtype}), {have}{hint}",
        need,
        dtype,
        suggestion=smaller[0].id if smaller else None,
        where=where,
    )


def _nearest_smaller(
    family: str | None, hardware: Hardware, catalog: tuple[CatalogEntry, ...], context_tokens: int
) -> tuple[CatalogEntry, str, float] | None:
    """The largest loadable option that fits where it loads, preferring the same family (a smaller
    quantisation of the same model); never one that cannot run here (`unavailable`)."""
    room = {"gpu": hardware.best_gpu_bytes / GB, "cpu": hardware.ram_total_bytes / GB}
    fitting = [
        (e, dtype, need_gb(e, dtype, context_tokens))
        for e in catalog
        if e.unavailable is None
        for dtype, where in loadable(e, hardware)
        if need_gb(e, dtype, context_tokens) <= room[where]
    ]
    if not fitting:
        return None
    return max(fitting, key=lambda o: (o[0].family == family, o[2]))


def _gpus(memory) -> tuple[Gpu, ...]:
    """CUDA devices through torch, imported only here and only if installed (a llama.cpp-only install has none);
    an Apple GPU shares the RAM, so it reports psutil's figures."""
    if importlib.util.find_spec("torch") is None:
        return ()
    import torch

    gpus = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            gpus.append(Gpu(torch.cuda.get_device_name(index), "cuda", total, free))
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        gpus.append(Gpu("Apple GPU", "mps", memory.total, memory.available))
    return tuple(gpus)
