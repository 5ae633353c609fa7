"""Redraft's engine: requests in, drafts and results out. No Qt here; used by app/ and the CLI.

This module is the engine's public API: app/ imports nothing else of it (import-linter checks).
"""

from engine.backends import REMOTE_MODEL_ENV, backend_for
from engine.documents import DocumentError, read_text_file, write_text_file_atomic
from engine.engine import Engine, Job
from engine.models.bundled import ABOUT as BUNDLED_ABOUT
from engine.models.bundled import BUNDLED
from engine.models.bundled import NAME as BUNDLED_NAME
from engine.models.bundled import summary as bundled_summary
from engine.models.catalog import GB, CatalogEntry
from engine.models.choice import MODEL_ENV, chosen_model
from engine.models.discovery import FoundModel, Survey, survey
from engine.models.download import DownloadCancelled, DownloadProgress, download
from engine.models.recommend import recommend, why_not_downloadable
from engine.models.room import must_unload_first
from engine.models.speed import Estimate, RunAverage, Throughput, run_seconds
from engine.models.speed import estimate as estimate_speed
from engine.models.speed import measured as measured_throughput
from engine.offsets import index_to_utf16, utf16_to_index
from engine.prompt import DEFAULT_CONTEXT_BUDGET, PromptContext, build_context
from engine.self_check import CheckResult, run_checks, write_tiny_llama_gguf
from engine.types import (
    KEEP_NOT_AVAILABLE,
    MODES,
    PLACEHOLDER,
    Backend,
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
    one_line,
)

__all__ = [
    "BUNDLED", "BUNDLED_ABOUT", "KEEP_NOT_AVAILABLE", "BUNDLED_NAME", "DEFAULT_CONTEXT_BUDGET", "GB", "MODEL_ENV", "MODES", "PLACEHOLDER",
    "REMOTE_MODEL_ENV", "Backend", "Cancelled", "CatalogEntry", "CheckResult", "DocumentError", "DownloadCancelled",
    "DownloadProgress", "Draft", "EditRequest", "EditResult", "Engine", "EngineError", "Estimate", "FoundModel", "Job",
    "Mode", "ModelInfo", "ModelLoadError", "PromptContext", "RequestError", "RunAverage", "StopReason", "Survey", "Throughput",
    "backend_for", "build_context", "bundled_summary", "chosen_model", "download", "estimate_speed", "measured_throughput",
    "recommend", "why_not_downloadable", "index_to_utf16", "run_seconds", "must_unload_first", "one_line", "read_text_file",
    "run_checks", "survey", "utf16_to_index", "write_text_file_atomic",
]
