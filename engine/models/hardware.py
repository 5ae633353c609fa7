"""Will a model fit? The machine's memory, GPUs and free disk, and a verdict in words before anything loads.

The estimate is deliberately simple and says so: the catalog's memory figure for the chosen dtype or
quantisation, plus the key/value cache for the context, plus a fixed runtime overhead. It errs on the high
side; the point is to stop a user from starting a 50 GB load on a 16 GB laptop, not to predict to the MB.
GPUs are read through torch only when torch is installed and already the engine's dependency; nothing here
touches a model.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

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

    @property
    def best_gpu_bytes(self) -> int:
        return max((g.total_bytes for g in self.gpus), default=0)

    def to_dict(self) -> dict:
        return {
            "ram_total_bytes": self.ram_total_bytes,
            "ram_available_bytes": self.ram_available_bytes,
            "gpus": [g.__dict__ for g in self.gpus],
            "disk_free_bytes": self.disk_free_bytes,
        }


@dataclass(frozen=True)
class Fit:
    verdict: str  # "fits", "cpu-only" or "no"
    message: str  # one line for the user
    need_gb: float
    dtype: str
    suggestion: str | None = None  # the id of the nearest smaller catalog option, when it does not fit


def detect(models_dir: str | Path | None = None) -> Hardware:
    total, available = _ram()
    disk = None
    if models_dir is not None:
        disk = free_disk_bytes(models_dir)
    return Hardware(ram_total_bytes=total, ram_available_bytes=available, gpus=_gpus(), disk_free_bytes=disk)


def free_disk_bytes(path: str | Path) -> int:
    """Free bytes on the volume holding `path` (or its nearest existing parent)."""
    path = Path(path).expanduser().absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return 0


def need_gb(entry: CatalogEntry, dtype: str, context_tokens: int) -> float:
    return entry.memory_gb[dtype] + context_tokens / 1024 * KV_GB_PER_1K_TOKENS + RUNTIME_OVERHEAD_GB


def fit(
    entry: CatalogEntry,
    hardware: Hardware,
    catalog: tuple[CatalogEntry, ...],
    dtype: str | None = None,
    context_tokens: int = 4096,
) -> Fit:
    """Fits on a GPU (or the CPU for small models), fits on CPU only (slow), or does not fit (and what would)."""
    dtype = dtype or min(entry.memory_gb, key=entry.memory_gb.get)
    if dtype not in entry.memory_gb:
        raise ValueError(f"{entry.id} has no {dtype!r} option (it has {', '.join(entry.memory_gb)})")
    return _verdict(need_gb(entry, dtype, context_tokens), dtype, entry, hardware, catalog, context_tokens)


def fit_weights(
    weight_bytes: int, hardware: Hardware, catalog: tuple[CatalogEntry, ...], context_tokens: int = 4096
) -> Fit:
    """For a model the catalog does not know: its weights as they are on disk (a GGUF is loaded as stored)."""
    need = weight_bytes / GB + context_tokens / 1024 * KV_GB_PER_1K_TOKENS + RUNTIME_OVERHEAD_GB
    return _verdict(need, "as stored", None, hardware, catalog, context_tokens)


def _verdict(
    need: float,
    dtype: str,
    entry: CatalogEntry | None,
    hardware: Hardware,
    catalog: tuple[CatalogEntry, ...],
    context_tokens: int,
) -> Fit:
    gpu_gb = hardware.best_gpu_bytes / GB
    ram_gb = hardware.ram_total_bytes / GB
    if gpu_gb >= need:
        return Fit("fits", f"fits: needs {need:.1f} GB, the GPU has {gpu_gb:.1f} GB", need, dtype)
    if ram_gb >= need:
        if entry is None and need <= 2 or entry is not None and entry.cpu_ok:  # small enough for a CPU
            return Fit("fits", f"fits: needs {need:.1f} GB, this machine has {ram_gb:.1f} GB", need, dtype)
        return Fit(
            "cpu-only", f"fits on CPU only (slow): needs {need:.1f} GB, {ram_gb:.1f} GB of RAM, no GPU big enough", need, dtype
        )
    have = max(gpu_gb, ram_gb)
    smaller = _nearest_smaller(entry.family if entry else None, have, catalog, context_tokens)
    hint = f"; try {smaller[0].name} ({smaller[1]}, {smaller[2]:.1f} GB)" if smaller else ""
    return Fit(
        "no",
        f"does not fit: needs {need:.1f} GB, you have {have:.1f} GB{hint}",
        need,
        dtype,
        suggestion=smaller[0].id if smaller else None,
    )


def _nearest_smaller(
    family: str | None, have: float, catalog: tuple[CatalogEntry, ...], context_tokens: int
) -> tuple[CatalogEntry, str, float] | None:
    """The largest option that fits, preferring the same family (a smaller quantisation of the same model)."""
    options = [(e, dtype, need_gb(e, dtype, context_tokens)) for e in catalog for dtype in e.memory_gb]
    fitting = [o for o in options if o[2] <= have]
    if not fitting:
        return None
    return max(fitting, key=lambda o: (o[0].family == family, o[2]))


def _ram() -> tuple[int, int]:
    if sys.platform.startswith("linux"):
        info = {}
        try:
            with open("/proc/meminfo", encoding="ascii") as f:
                for line in f:
                    key, value = line.split(":", 1)
                    info[key] = int(value.split()[0]) * 1024
            return info["MemTotal"], info.get("MemAvailable", info["MemFree"])
        except (OSError, KeyError, ValueError):
            pass
    if sys.platform == "win32":
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong)] + [
                (name, ctypes.c_ulonglong)
                for name in ("total", "avail", "page_total", "page_avail", "virt_total", "virt_avail", "ext")
            ]

        status = MemoryStatus()
        status.length = ctypes.sizeof(MemoryStatus)
        ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))
        return status.total, status.avail
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")  # macOS and other POSIX
    return total, total


def _gpus() -> tuple[Gpu, ...]:
    try:
        import torch
    except ImportError:  # a llama.cpp-only install
        return ()
    gpus = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            gpus.append(Gpu(torch.cuda.get_device_name(index), "cuda", total, free))
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        total, available = _ram()  # unified memory: the GPU shares the RAM
        gpus.append(Gpu("Apple GPU", "mps", total, available))
    return tuple(gpus)
