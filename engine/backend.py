"""The one interface every model backend implements (DiffusionGemma, llama.cpp, remote)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from .types import Draft, EditRequest, EditResult, ModelInfo


class Backend(Protocol):
    def load(self) -> ModelInfo:
        """Load the model; raise `ModelLoadError` with a one-line reason."""

    def edit(
        self, request: EditRequest, on_draft: Callable[[Draft], None], cancel_event: threading.Event
    ) -> EditResult:
        """Run one edit, calling `on_draft` after each step; stop within one step of `cancel_event`."""

    def info(self) -> ModelInfo: ...

    def close(self) -> None: ...
