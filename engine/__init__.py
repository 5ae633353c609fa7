"""Redraft's engine: requests in, drafts and results out. No Qt here; used by app/ and the CLI."""

from .backend import Backend
from .backends import MODEL_ENV, REMOTE_MODEL_ENV, backend_for, chosen_model
from .bundled import BUNDLED
from .engine import Engine, Job
from .prompt import DEFAULT_CONTEXT_BUDGET, PromptContext, build_context
from .types import (
    MODES,
    PLACEHOLDER,
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
    "BUNDLED",
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
    "PLACEHOLDER",
    "Mode",
    "ModelInfo",
    "ModelLoadError",
    "PromptContext",
    "REMOTE_MODEL_ENV",
    "RequestError",
    "StopReason",
    "backend_for",
    "build_context",
    "chosen_model",
]
