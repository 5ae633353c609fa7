"""Run every stress scenario and write docs/RELIABILITY.md and docs/reliability.json.

`python -m tests.stress.report [--quick]`

Each scenario runs as its own subprocess (`python -m tests.stress.<name> --json`), one after another, under a
time limit: one scenario's Qt application, model threads or crash cannot touch the next, and one that fails
is reported with its last error line while the others still run. The document only formats what the
scenarios returned.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "RELIABILITY.md"
JSON = ROOT / "docs" / "reliability.json"
# name, time limit in seconds (quick, full)
SCENARIOS = [
    ("draft_leaks", (240, 420)),
    ("sigkill", (240, 420)),
    ("cancel_storm", (180, 300)),
    ("header_fuzz", (180, 360)),
    ("remote_server", (120, 240)),
    ("disk_faults", (60, 120)),
]


def run_one(name: str, quick: bool, limit: int) -> dict:
    started = time.monotonic()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", f"tests.stress.{name}", "--json", *(["--quick"] if quick else [])]
    try:
        proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return _broken(name, f"did not finish within {limit} s", started)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        errors = [line for line in proc.stderr.splitlines() if line.strip() and "qt.text.font" not in line]
        return _broken(name, errors[-1] if errors else f"exit status {proc.returncode}", started)
    return json.loads(lines[-1])


def _broken(name: str, why: str, started: float) -> dict:
    return {
        "title": name, "how": "", "figures": {}, "failures": [why], "failures_total": 1,
        "checks": [{"check": "the scenario ran to the end", "value": why, "want": "ran", "ok": False}],
        "wall_s": round(time.monotonic() - started, 1),
    }


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def render(results: dict[str, dict], quick: bool, wall: float) -> str:
    checks = [(r["title"], c) for r in results.values() for c in r["checks"]]
    failed = [(t, c) for t, c in checks if not c["ok"]]
    lines = [
        "# Reliability: stress and fault figures",
        "",
        f"Written by `python -m tests.stress.report{' --quick' if quick else ''}` on "
        f"{datetime.date.today().isoformat()}, commit {_commit()}, {platform.machine()} Linux, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {wall:.0f} s in all. Every figure below is a count or a measurement "
        "from that run (machine-readable: docs/reliability.json). Loopback only; tiny random-weight models.",
        "",
        f"**{len(checks) - len(failed)} of {len(checks)} checks pass.**" + (
            " Failing: " + "; ".join(f"{c['check']} = {c['value']} (want {c['want']})" for _, c in failed) + "."
            if failed else ""
        ),
        "",
        "| Scenario | Check | Figure | Required | |",
        "|---|---|---|---|---|",
    ]
    for title, c in checks:
        lines.append(f"| {title} | {c['check']} | {c['value']} | {c['want']} | {'pass' if c['ok'] else '**FAIL**'} |")
    for name, r in results.items():
        lines += ["", f"## {r['title']}", "", f"`python -m tests.stress.{name}` ({r['wall_s']} s). {r['how'].strip()}", ""]
        if r["figures"]:
            lines += ["| Figure | Value |", "|---|---|"]
            for key, value in r["figures"].items():
                text = str(value).replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {key} | {text} |")
        if r["failures"]:
            more = r.get("failures_total", len(r["failures"])) - len(r["failures"])
            lines += ["", f"Failures ({r.get('failures_total', len(r['failures']))}):", ""]
            lines += [f"- {f}".replace("\n", " ") for f in r["failures"]]
            if more > 0:
                lines.append(f"- … and {more} more (docs/reliability.json)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer cycles: about 3 minutes instead of 15")
    parser.add_argument("--only", nargs="*", help="run only these scenarios")
    args = parser.parse_args()
    started = time.monotonic()
    results = {}
    for name, limits in SCENARIOS:
        if args.only and name not in args.only:
            continue
        print(f"{name} ...", flush=True)
        results[name] = run_one(name, args.quick, limits[0] if args.quick else limits[1])
        ok = all(c["ok"] for c in results[name]["checks"])
        print(f"  {results[name]['wall_s']} s, {'all checks pass' if ok else 'FAILING checks'}", flush=True)
    wall = time.monotonic() - started
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(results, args.quick, wall), encoding="utf-8")
    payload = {"quick": args.quick, "commit": _commit(), "wall_s": round(wall, 1), "scenarios": results}
    JSON.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)} and {JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
