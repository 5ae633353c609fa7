"""The pass-rate table for docs/BENCHMARKS.md: a row per kind, for each model its tuning and held-out rates."""

from __future__ import annotations

from tests.bench.quality.cases import HALVES


def _cell(rate: dict) -> str:
    if not rate["total"]:
        return "–"
    return f"{rate['passed']}/{rate['total']} ({100 * rate['rate']:.0f}%)"


def markdown(report: dict) -> str:
    models = report["models"]
    head = ["kind"] + [f"{m['spec']} {half}" for m in models for half in HALVES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    kinds = [k for k in report["kinds"] if any(k in m["summary"]["kinds"] for m in models)]
    for kind in kinds:
        cells = [_cell(m["summary"]["kinds"][kind][half]) if kind in m["summary"]["kinds"] else "–"
                 for m in models for half in HALVES]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append("| **all** | " + " | ".join(f"**{_cell(m['summary']['halves'][h])}**" for m in models for h in HALVES) + " |")
    notes = []
    for m in models:
        s = m["summary"]
        if m.get("error"):
            notes.append(f"- {m['spec']}: did not load: {m['error']}")
            continue
        notes.append(
            f"- {m['spec']} ({m.get('model_id', '')}): time per edit p50 {s['edit_s_p50']} s, p90 {s['edit_s_p90']} s;"
            f" leaks {s['leaks']}, errors {s['errors']}; load {m.get('load_s')} s"
        )
    t = report["thresholds"]
    notes.append(
        f"- seed {report['seed']}; corrections pass at WER <= {t['wer']} and below the original's; "
        f"`python -m tests.bench.quality --markdown`, {report['date']}"
    )
    return "\n".join(lines + [""] + notes)
