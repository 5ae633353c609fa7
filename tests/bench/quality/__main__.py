"""`python -m tests.bench.quality [--json] [--markdown] [--model SPEC ...] [--half tuning|held-out|both]
[--kinds K,...] [--limit N] [--steps N] [--out FILE]`

SPEC: "bundled" (the default), a .gguf file, a checkpoint folder, a server URL, or "tiny-diffusion-gemma" (a
random-weight model: every case should fail, none crash). --limit N keeps the first N cases of each kind
(after --half). Progress goes to stderr, one line per case; --json prints everything (per-case outputs
included) to stdout, --markdown the table for docs/BENCHMARKS.md; --out also writes the JSON to a file.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from tests.bench.quality import cases as case_data
from tests.bench.quality import scoring
from tests.bench.quality.runner import SEED, run_model
from tests.bench.quality.table import markdown


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",")) if args.kinds else case_data.KINDS
    unknown = [k for k in kinds if k not in case_data.KINDS]
    if unknown:
        print(f"quality: unknown kind {', '.join(unknown)} (known: {', '.join(case_data.KINDS)})", file=sys.stderr)
        return 2
    selected = [c for c in case_data.load(kinds) if args.half == "both" or c.half == args.half]
    if args.limit is not None:
        selected = [c for kind in kinds for c in [c for c in selected if c.kind == kind][: args.limit]]

    def progress(row: dict) -> None:
        mark = "pass" if row["passed"] else "FAIL"
        why = f"  ({'; '.join(row['reasons'])[:120]})" if row["reasons"] else ""
        print(f"  {mark} {row['id']:<22} {row['edit_s']:6.2f} s  {row['output'][:60]!r}{why}", file=sys.stderr)

    models = []
    for spec in args.model or ["bundled"]:
        print(f"quality: {spec}, {len(selected)} cases", file=sys.stderr)
        models.append(run_model(spec, selected, steps=args.steps, on_case=progress))
        if models[-1].get("error"):
            print(f"quality: {spec}: {models[-1]['error']}", file=sys.stderr)
    report = {
        "benchmark": "quality",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "seed": SEED,
        "steps": args.steps,
        "half": args.half,
        "kinds": list(kinds),
        "limit": args.limit,
        "thresholds": {"wer": scoring.WER_PASS, "length_ratio": scoring.RATIO_BOUNDS, "fill_words": scoring.FILL_WORDS},
        "models": models,
    }
    text = json.dumps(report, indent=1, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(report, ensure_ascii=False))  # one line: tests/bench/report.py reads the last JSON line
    if args.markdown:
        print(markdown(report))
    if not (args.json or args.markdown):
        for model in models:
            print(markdown({**report, "models": [model]}))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.quality", description=__doc__.split("\n\n")[1])
    parser.add_argument("--model", action="append", help="a model spec; repeat for several (default: bundled)")
    parser.add_argument("--half", choices=("tuning", "held-out", "both"), default="both")
    parser.add_argument("--kinds", help=f"comma-separated, of: {', '.join(case_data.KINDS)}")
    parser.add_argument("--limit", type=int, help="at most N cases of each kind")
    parser.add_argument("--steps", type=int, help="denoising steps for diffusion models (default: the model's)")
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the pass-rate table as Markdown")
    parser.add_argument("--out", help="also write the JSON to this file")
    return parser


if __name__ == "__main__":
    sys.exit(main())
