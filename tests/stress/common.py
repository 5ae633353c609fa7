"""What every scenario shares: the result's shape, the command line, memory and thread readings."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

import psutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HF_HUB_OFFLINE"] = "1"  # nothing is downloaded


def check(what: str, value, want: str, ok: bool) -> dict:
    """One pass/fail line of the report: `value` is the figure, `want` what it must be (e.g. "0")."""
    return {"check": what, "value": value, "want": want, "ok": bool(ok)}


def result(title: str, how: str, figures: dict, checks: list[dict], failures: list[str], started: float) -> dict:
    """A scenario's answer. figures: name -> number (or short text); failures: details, at most 30 kept."""
    return {
        "title": title,
        "how": how,
        "figures": figures,
        "checks": checks,
        "failures": failures[:30],
        "failures_total": len(failures),
        "wall_s": round(time.monotonic() - started, 1),
    }


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def os_threads() -> int:
    return psutil.Process().num_threads()


def python_threads() -> int:
    return threading.active_count()


def main(run) -> None:
    """`python -m tests.stress.<name> [--quick] [--json]`: run the scenario, print its result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer cycles (the --quick report)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args()
    answer = run(args.quick)
    sys.stdout.flush()
    if args.json:
        print(json.dumps(answer), flush=True)
    else:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    os._exit(0)  # daemon threads of the model libraries must not delay (or abort) the exit
