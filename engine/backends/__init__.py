"""The backends, one per model library, and `backend_for`, which picks the one that runs a model.

diffusion_gemma (transformers), llamacpp/ (GGUF files through llama.cpp: masked diffusion and
autoregressive), remote (OpenAI-compatible servers). They do not import each other; each imports the model
library it wraps only when it is built, so importing this package costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.models.bundled import BUNDLED, NAME, bundled_model_path
from engine.types import Backend

REMOTE_MODEL_ENV = "REDRAFT_REMOTE_MODEL"  # which of a server's models to use (default: the first it lists)
# Architectures this llama.cpp runs as masked diffusion (`llama_model_is_diffusion`), and the one it
# will once it learns it; the diffusion backend explains what to do about the latter.
DIFFUSION_ARCHITECTURES = {"llada", "llada-moe", "dream", "rnd1", "diffusion-gemma"}


def backend_for(spec: str, device: str | None = None) -> Backend:
    """A not-yet-loaded backend for `spec`: "bundled", a server URL, a .gguf file, a checkpoint folder, or a
    cached hub id. (The context budget is not the backend's: it comes with each request.)

    Runs on the engine's worker thread (it reads file headers and imports the model libraries).
    """
    if spec == BUNDLED:
        from engine.backends.llamacpp.autoregressive import LlamaAutoregressiveBackend

        return LlamaAutoregressiveBackend(str(bundled_model_path()), model_id=NAME)
    if spec.startswith(("http://", "https://")):
        from engine.backends.remote import RemoteBackend

        return RemoteBackend(spec, model=os.environ.get(REMOTE_MODEL_ENV) or None)
    if Path(spec).suffix.lower() == ".gguf":
        from engine.models.gguf_header import read_gguf

        if read_gguf(spec).architecture in DIFFUSION_ARCHITECTURES:
            from engine.backends.llamacpp.masked_diffusion import LlamaDiffusionBackend

            return LlamaDiffusionBackend(spec)  # the request's context budget, capped there
        from engine.backends.llamacpp.autoregressive import LlamaAutoregressiveBackend

        return LlamaAutoregressiveBackend(spec)
    from engine.backends.diffusion_gemma import DiffusionGemmaBackend  # torch loads only when a model is used

    return DiffusionGemmaBackend(spec, device=device)  # its context budget comes with each request
