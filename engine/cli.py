"""`redraft-cli`: rewrite a span of a file from a terminal or a script, and list the models on disk.

Exit codes: 0 done, 2 bad input or a failed edit (one line on stderr, nothing written), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import TextIO

from .backends import MODEL_ENV, backend_for, chosen_model
from .bundled import ABOUT, BUNDLED, NAME
from .documents import DocumentError, read_text_file, write_text_file_atomic
from .engine import Engine
from .language import language_for
from .prompt import DEFAULT_CONTEXT_BUDGET
from .types import MODES, Draft, EditRequest, EditResult, EngineError


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "models":
            return _models(args, sys.stdout)
        return _rewrite(args, sys.stdout)
    except (UsageError, DocumentError, EngineError) as exc:
        print(f"redraft-cli: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("redraft-cli: interrupted; nothing was written", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="redraft-cli", description="Rewrite a span of a file in place.")
    sub = parser.add_subparsers(dest="command", required=True)
    rw = sub.add_parser("rewrite", help="rewrite FILE[start:end] using the text around it")
    rw.add_argument("file")
    rw.add_argument("--start", type=int, required=True, help="offset in Unicode code points (CRLF counts as 2)")
    rw.add_argument("--end", type=int, required=True, help="offset in Unicode code points, exclusive")
    rw.add_argument("--instruction", default="")
    rw.add_argument("--mode", choices=MODES, help="default: rewrite, or fill when start == end")
    rw.add_argument(
        "--model", help=f"checkpoint folder, cached hub id, .gguf file or 'bundled' (default: ${MODEL_ENV}, else bundled)"
    )
    rw.add_argument("--steps", type=int)
    rw.add_argument("--seed", type=int)
    rw.add_argument("--max-new-tokens", type=int)
    rw.add_argument("--context-budget", type=int, default=DEFAULT_CONTEXT_BUDGET, help="tokens of context")
    rw.add_argument("--device", help="cuda, mps or cpu (default: the fastest present)")
    rw.add_argument("--in-place", action="store_true", help="write the edited file back (atomically)")
    rw.add_argument("--json", action="store_true", help="one JSON object per line: drafts, then the result")
    models = sub.add_parser("models", help="list the models found on disk")
    models.add_argument("--json", action="store_true")
    return parser


def _rewrite(args: argparse.Namespace, out: TextIO) -> int:
    document = read_text_file(args.file)
    text = document.text
    if not (0 <= args.start <= len(text) and 0 <= args.end <= len(text)):
        raise UsageError(
            f"--start {args.start} --end {args.end} is outside {args.file} "
            f"(0..{len(text)} code points)"
        )
    if args.start > args.end:
        raise UsageError(f"--start {args.start} is after --end {args.end}")
    mode = args.mode or ("fill" if args.start == args.end else "rewrite")
    for name in ("steps", "max_new_tokens", "context_budget"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive number")
    try:
        request = EditRequest(
            text=text,
            start=args.start,
            end=args.end,
            instruction=args.instruction,
            mode=mode,
            language=language_for(args.file, text),
            max_new_tokens=args.max_new_tokens,
            steps=args.steps,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    spec = args.model or chosen_model()
    if spec == BUNDLED:
        print(f"redraft-cli: using {NAME}. {ABOUT}", file=sys.stderr)

    view = _JsonView(out) if args.json else _TerminalView(out)
    with Engine() as engine:
        engine.load(lambda: backend_for(spec, device=args.device, context_budget=args.context_budget)).result()
        # Ctrl+C cancels the edit within one step instead of killing the process mid-write.
        previous = signal.signal(signal.SIGINT, lambda *_: engine.cancel())
        try:
            result = engine.edit(request, view.draft)
        finally:
            signal.signal(signal.SIGINT, previous)
    if result.stop_reason == "cancelled":
        raise KeyboardInterrupt
    if result.stop_reason == "error":
        # A request the engine refused (span over the budget, ...) is bad input; the file is untouched.
        raise UsageError(result.error)
    edited = request.splice(result.text)
    if args.in_place:
        write_text_file_atomic(document.path, edited, document.encoding)
    view.result(result, edited)
    return 0


class _TerminalView:
    """Drafts redrawn in place on a terminal, one line per step otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._lines = 0

    def draft(self, draft: Draft) -> None:
        head = f"[step {draft.step}/{draft.max_steps} {draft.elapsed_s:6.2f}s]"
        if self.tty:
            if self._lines:
                self.out.write(f"\x1b[{self._lines}F\x1b[J")  # back to the first line of the last draft
            body = f"{head} {draft.text}"
            self.out.write(body + "\n")
            self._lines = body.count("\n") + 1
        else:
            self.out.write(f"{head} {json.dumps(draft.text, ensure_ascii=False)}\n")
        self.out.flush()

    def result(self, result: EditResult, document: str) -> None:
        if self.tty and self._lines:
            self.out.write(f"\x1b[{self._lines}F\x1b[J")
        self.out.write(
            f"-- {result.stop_reason} after {result.steps} steps, {result.tokens} tokens, "
            f"{result.elapsed_s:.2f}s ({result.tokens_per_s:.1f} tok/s, first draft {result.first_draft_s or 0:.2f}s)\n"
        )
        self.out.write(result.text + ("" if result.text.endswith("\n") else "\n"))
        self.out.flush()


_LINE_BREAKS = ("\x85", "\u2028", "\u2029")


class _JsonView:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def draft(self, draft: Draft) -> None:
        self._emit({"type": "draft", "step": draft.step, "text": draft.text, "elapsed_s": draft.elapsed_s})

    def result(self, result: EditResult, document: str) -> None:
        self._emit(
            {
                "type": "result",
                "text": result.text,
                "document": document,
                "steps": result.steps,
                "tokens": result.tokens,
                "first_draft_s": result.first_draft_s,
                "elapsed_s": result.elapsed_s,
                "tokens_per_s": result.tokens_per_s,
                "stop_reason": result.stop_reason,
                "model_id": result.model_id,
            }
        )

    def _emit(self, obj: dict) -> None:
        line = json.dumps(obj, ensure_ascii=False)
        # Valid JSON may hold these raw, but line-oriented readers split on them: escape them.
        for char in _LINE_BREAKS:
            line = line.replace(char, f"\\u{ord(char):04x}")
        self.out.write(line + "\n")
        self.out.flush()


def _models(args: argparse.Namespace, out: TextIO) -> int:
    from .discovery import find_models

    models = find_models()
    if args.json:
        out.write(json.dumps([m.to_dict() for m in models], ensure_ascii=False) + "\n")
        return 0
    if not models:
        out.write(f"no models found on disk (looked in the Hugging Face cache and ${MODEL_ENV})\n")
        return 0
    for m in models:
        out.write(f"{m.id}\t{m.family}\t{m.size_bytes / 1e9:.2f} GB\t{m.path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
