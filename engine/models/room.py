"""Whether a model fits beside the one loaded now, or must replace it (unloaded first).

Judged before the load from what is on disk: the weights' bytes (a GGUF file, a folder's safetensors) with
a margin for the runtime, against the memory free now, which already excludes the active model. On CUDA the
free GPU memory decides (read only when torch is already imported: this check never loads it). A remote
model needs no local memory. Unknown sizes (a hub id not in the cache) never unload: the load then decides.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

from engine.types import ModelInfo

MARGIN = 1.2  # runtime buffers, KV cache and activations on top of the weights


def weights_bytes(spec: str) -> int | None:
    """The bytes of the weights `spec` names on disk, or None when that is not known here."""
    if spec.startswith(("http://", "https://")):
        return 0
    path = Path(spec)
    try:
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():
            return sum(f.stat().st_size for f in path.glob("*.safetensors"))
    except OSError:
        return None
    return None


def free_bytes(device: str) -> int:
    if device.startswith("cuda") and "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            index = int(device.partition(":")[2] or 0)
            return int(torch.cuda.mem_get_info(index)[0])
    return int(psutil.virtual_memory().available)


def must_unload_first(spec: str, device: str | None, active: ModelInfo | None) -> bool:
    """True when loading `spec` beside `active` would not fit, so `active` should be unloaded first."""
    if active is None:
        return False
    needed = weights_bytes(spec)
    if not needed:
        return False
    return needed * MARGIN > free_bytes(device or active.device)
