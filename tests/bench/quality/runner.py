"""Runs the cases through the real engine (`Engine` + `backend_for(spec)`), one model at a time, and sums up.

Seeded (SEED for every edit), so a run repeats; the backends' own sampling applies (the autoregressive
llama.cpp backend samples at its temperature from that seed: `EditRequest` has no temperature to ask for
greedy decoding). A model that fails to load, or an edit that errors, is a recorded failure, never a crash.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from engine import EditRequest, Engine, EngineError, backend_for
from tests.bench.quality.cases import HALVES, KINDS, Case
from tests.bench.quality.scoring import score

SEED = 0
TINY = "tiny-diffusion-gemma"  # a random-weight DiffusionGemma from tests/tiny_models.py: junk in, all fail


def run_model(spec: str, cases: list[Case], steps: int | None = None, on_case=None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = _tiny_checkpoint(Path(tmp)) if spec == TINY else spec
        engine = Engine()
        try:
            started = time.perf_counter()
            try:
                info = engine.load(lambda: backend_for(path, device="cpu" if spec == TINY else None)).result()
            except EngineError as exc:
                return {"spec": spec, "error": str(exc), "cases": [], "summary": summarise([])}
            load_s = time.perf_counter() - started
            rows = []
            for case in cases:
                rows.append(run_case(engine, case, steps))
                if on_case:
                    on_case(rows[-1])
        finally:
            engine.close()
    return {
        "spec": spec,
        "model_id": f"{TINY} (random weights)" if spec == TINY else info.id,
        "backend": info.backend,
        "dtype": info.dtype,
        "load_s": round(load_s, 2),
        "summary": summarise(rows),
        "cases": rows,
    }


def run_case(engine: Engine, case: Case, steps: int | None) -> dict:
    request = EditRequest(
        case.text, case.start, case.end, instruction=case.instruction, mode=case.mode, language=case.language,
        seed=SEED, steps=steps, document_id=case.id,
    )
    started = time.perf_counter()
    result = engine.edit(request)
    wall = time.perf_counter() - started
    error = result.error if result.stop_reason == "error" else None
    if result.stop_reason == "cancelled":
        error = "cancelled"
    graded = score(case, result.text, error)
    return {
        "id": case.id,
        "kind": case.kind,
        "half": case.half,
        "format": case.format,
        "mode": case.mode,
        "instruction": case.instruction,
        "span": case.span,
        "output": result.text,
        "reference": case.reference,
        "passed": graded.passed,
        "checks": graded.checks,
        "reasons": graded.reasons,
        "metrics": graded.metrics,
        "stop_reason": result.stop_reason,
        "tokens": result.tokens,
        "edit_s": round(wall, 3),
        "first_draft_s": None if result.first_draft_s is None else round(result.first_draft_s, 3),
    }


def summarise(rows: list[dict]) -> dict:
    def rate(selected: list[dict]) -> dict:
        passed = sum(r["passed"] for r in selected)
        return {"passed": passed, "total": len(selected), "rate": round(passed / len(selected), 3) if selected else None}

    times = sorted(r["edit_s"] for r in rows)
    return {
        "all": rate(rows),
        "halves": {half: rate([r for r in rows if r["half"] == half]) for half in HALVES},
        "kinds": {
            kind: {half: rate([r for r in rows if r["kind"] == kind and r["half"] == half]) for half in HALVES}
            for kind in KINDS
            if any(r["kind"] == kind for r in rows)
        },
        "leaks": sum(not r["checks"].get("no_leak", True) for r in rows),
        "errors": sum(not r["checks"].get("no_error", True) for r in rows),
        "edit_s_p50": round(statistics.median(times), 3) if times else None,
        "edit_s_p90": round(_quantile(times, 0.9), 3) if times else None,
    }


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile: a time some edit really took."""
    index = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def _tiny_checkpoint(folder: Path) -> str:
    from transformers.utils import logging as hf_logging

    from tests.tiny_models import save_checkpoint  # torch and transformers load only for this model

    hf_logging.disable_progress_bar()
    return str(save_checkpoint(folder / "tiny", seed=0, vocab_size=512, canvas_length=256))
