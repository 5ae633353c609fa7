"""How long the active model's runs take here, for the instruction box's estimate ("≈ 1.2 s").

Measured, not modelled: after each run the editor hands its EditResult over and it joins the model's running
average (engine.RunAverage, newest runs weighing most); engine.run_seconds turns that and the selection's
length into seconds. A model and device that never ran here give no estimate. With a QSettings the averages
are kept there (one JSON value, the MAX_MODELS last used), so the first Ctrl+J after a restart has one.
"""

from __future__ import annotations

import json
from dataclasses import astuple

from PySide6.QtCore import QSettings

from engine import EditResult, ModelInfo, RunAverage, run_seconds

KEY = "instructionBox/runTimes"
MAX_MODELS = 20


class RunTimes:
    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store
        self._averages: dict[str, list[float]] = {}

    def record(self, info: ModelInfo | None, result: EditResult) -> None:
        """Count `result` for `info`, the model loaded now (a result of another model, loaded before, is not its)."""
        if info is None or result.model_id != info.id:
            return
        averages = self._load()
        key = _key(info)
        old = averages.pop(key, None)
        average = (_average(old) or RunAverage()).add(result)
        if average.runs:
            averages[key] = list(astuple(average))  # the newest last, so the oldest go first
        self._save(dict(list(averages.items())[-MAX_MODELS:]))

    def seconds(self, info: ModelInfo | None, span_chars: int) -> float | None:
        if info is None:
            return None
        average = _average(self._load().get(_key(info)))
        return None if average is None else run_seconds(info, span_chars, average)

    def _load(self) -> dict[str, list[float]]:
        if self.store is None:
            return dict(self._averages)
        try:
            value = json.loads(str(self.store.value(KEY, "{}")))
        except ValueError:  # hand-edited or another version: measured anew
            return {}
        return value if isinstance(value, dict) else {}

    def _save(self, averages: dict[str, list[float]]) -> None:
        if self.store is None:
            self._averages = averages
        else:
            self.store.setValue(KEY, json.dumps(averages))
            self.store.sync()


def describe(seconds: float | None) -> str:
    """The label's text: "" when nothing is measured."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"≈ {seconds:.1f} s"
    if seconds < 90:
        return f"≈ {seconds:.0f} s"
    return f"≈ {seconds / 60:.0f} min"


def _key(info: ModelInfo) -> str:
    return f"{info.id} on {info.device}"  # the same file runs at another speed on another device


def _average(values) -> RunAverage | None:
    try:
        return RunAverage(*(float(v) for v in values))
    except (TypeError, ValueError):  # absent, or stored by another version
        return None
