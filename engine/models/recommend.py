"""Which catalog model to suggest on this machine, and why a row cannot be downloaded.

The recommendation is the best-quality entry (the catalog's `quality` rank) that runs here, fits in memory
and edits fast enough: on a GPU, or on the CPU with an estimated 64-token rewrite within MAX_EDIT_S. A rank
tie goes to the faster one. It is a suggestion for the model manager, never applied by itself.
"""

from __future__ import annotations

from engine.models.catalog import CatalogEntry
from engine.models.hardware import Fit, Hardware
from engine.models.speed import Estimate

MAX_EDIT_S = 10.0  # "a few seconds per edit": slower than this is not recommended, though it may be chosen


def why_not_downloadable(entry: CatalogEntry, fit: Fit, hardware: Hardware) -> str | None:
    """One line saying why Download cannot help with `entry` here, or None when it can."""
    if entry.repo is None:
        return "comes with Redraft: nothing to download" if entry.id == "bundled" else "no known repository"
    if entry.unavailable:
        return f"cannot run here: {entry.unavailable}"
    if fit.verdict == "no":
        if entry.backend == "diffusion_gemma" and not hardware.gpus:
            return f"needs a GPU: {fit.message}"
        return fit.message
    return None


def recommend(
    catalog: tuple[CatalogEntry, ...], fits: dict[str, Fit], estimates: dict[str, Estimate]
) -> CatalogEntry | None:
    candidates = [
        e
        for e in catalog
        if e.unavailable is None
        and fits[e.id].verdict == "fits"
        and (fits[e.id].where == "gpu" or _seconds(estimates.get(e.id)) <= MAX_EDIT_S)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda e: (e.quality, -_seconds(estimates.get(e.id), on_gpu=fits[e.id].where == "gpu")))


def _seconds(estimate: Estimate | None, on_gpu: bool = False) -> float:
    if on_gpu:
        return 0.0
    return estimate.seconds if estimate is not None and estimate.seconds is not None else float("inf")
