"""Redraft's engine: requests in, drafts and results out. No Qt here; used by app/ and the CLI."""

from .backend import Backend
from .backends import MODEL_ENV, backend_for, chosen_model
from .engine import Engine, Job
from .prompt import DEFAULT_CONTEXT_BUDGET, PromptContext, build_context
from .types import (
    MODES,
    Cancelled,
    Draft,
    EditRequest,
    EditResult,
    EngineError,
    ModelInfo,
    ModelLoadError,
    Mode,
    RequestError,
    StopReason,
)

__all__ = [
    "Backend",
    "Cancelled",
    "DEFAULT_CONTEXT_BUDGET",
    "Draft",
    "EditRequest",
    "EditResult",
    "Engine",
    "EngineError",
    "Job",
    "MODEL_ENV",
    "MODES",
    "Mode",
    "ModelInfo",
    "ModelLoadError",
    "PromptContext",
    "RequestError",
    "StopReason",
    "backend_for",
    "build_context",
    "chosen_model",
]
