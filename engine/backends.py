"""Which backend runs a model, and which model runs: `REDRAFT_MODEL` over any setting."""

from __future__ import annotations

import os
from pathlib import Path

from .backend import Backend
from .prompt import DEFAULT_CONTEXT_BUDGET
from .types import ModelLoadError

MODEL_ENV = "REDRAFT_MODEL"


def chosen_model(setting: str | None = None) -> str | None:
    """The model to use: the environment variable wins over the caller's setting."""
    return os.environ.get(MODEL_ENV) or setting or None


def backend_for(spec: str, device: str | None = None, context_budget: int = DEFAULT_CONTEXT_BUDGET) -> Backend:
    """A not-yet-loaded backend for `spec` (a checkpoint folder, a hub id in the local cache, a .gguf file)."""
    if Path(spec).suffix.lower() == ".gguf":
        raise ModelLoadError(
            f"{Path(spec).name} is a GGUF file; this build runs DiffusionGemma checkpoints "
            "(safetensors folders) only, GGUF support comes with the llama.cpp backend"
        )
    from .diffusion_gemma import DiffusionGemmaBackend  # torch loads only when a model is used

    return DiffusionGemmaBackend(spec, device=device, context_budget=context_budget)
