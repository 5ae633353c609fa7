"""Which model runs: `REDRAFT_MODEL` over any setting, the bundled model when nothing is chosen."""

from __future__ import annotations

import os

from engine.models.bundled import BUNDLED

MODEL_ENV = "REDRAFT_MODEL"


def chosen_model(setting: str | None = None) -> str:
    """The model to use: the environment variable, else the caller's setting, else the bundled model."""
    return os.environ.get(MODEL_ENV) or setting or BUNDLED
