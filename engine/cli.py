"""`redraft-cli`: rewrite a span of a file from a terminal or a script, and list the models on disk.

Exit codes: 0 done, 2 bad input or a failed edit (one line on stderr, nothing written), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from typing import TextIO

from engine.backends import backend_for
from engine.models.choice import MODEL_ENV, chosen_model
from engine.models.bundled import ABOUT, BUNDLED, NAME
from engine.documents import DocumentError, read_text_file, write_text_file_atomic
from engine.engine import Engine
from engine.language import language_for
from engine.prompt import DEFAULT_CONTEXT_BUDGET
from engine.types import MODES, Draft, EditRequest, EditResult, EngineError


class UsageError(Exception):
    """Bad input: printed as one line, exit 2."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "models":
            return _models(args, sys.stdout)
        if args.command == "download":
            return _download(args, sys.stderr)
        return _rewrite(args, sys.stdout)
    except (UsageError, DocumentError, EngineError) as exc:
        print(f"redraft-cli: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("redraft-cli: interrupted; nothing was written (a download resumes where it stopped)", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="redraft-cli", description="Rewrite a span of a file in place.")
    sub = parser.add_subparsers(dest="command", required=True)
    rw = sub.add_parser("rewrite", help="rewrite FILE[start:end] using the text around it")
    rw.add_argument("file")
    rw.add_argument(
        "--start", required=True, help="LINE:COL (from 1, columns in code points) or an offset in code points (CRLF: 2)"
    )
    rw.add_argument("--end", required=True, help="LINE:COL or an offset, exclusive")
    rw.add_argument("--instruction", default="")
    rw.add_argument("--mode", choices=MODES, help="default: rewrite, or fill when start == end")
    rw.add_argument(
        "--model", help=f"checkpoint folder, cached hub id, .gguf file or 'bundled' (default: ${MODEL_ENV}, else bundled)"
    )
    rw.add_argument("--steps", type=int)
    rw.add_argument("--seed", type=int)
    rw.add_argument("--max-new-tokens", type=int)
    rw.add_argument("--context-budget", type=int, default=DEFAULT_CONTEXT_BUDGET, help="tokens of context")
    rw.add_argument("--from-text", help="start the canvas from this text (a draft) instead of noise (diffusion models)")
    rw.add_argument(
        "--keep", action="append", default=[], metavar="START:END",
        help="keep these characters of --from-text fixed while the rest is re-noised (repeatable; code points)",
    )
    rw.add_argument("--alternatives", type=int, default=1, help="answers to make (batched where the model can)")
    rw.add_argument("--device", help="cuda, mps or cpu (default: the fastest present)")
    rw.add_argument("--in-place", action="store_true", help="write the edited file back (atomically)")
    rw.add_argument("--json", action="store_true", help="one JSON object per line: drafts, then the result")
    rw.add_argument(
        "--show-steps", action="store_true", help="drafts and a summary on stderr; stdout is only the final text"
    )
    models = sub.add_parser("models", help="the models on disk, the catalog, and whether each fits this machine")
    models.add_argument("--json", action="store_true", help="one JSON object: found, catalog, hardware")
    models.add_argument("--folder", action="append", default=[], help="also look in this folder or .gguf file")
    dl = sub.add_parser("download", help="download a catalog model (resumes a partial download)")
    dl.add_argument("id", help="a catalog id (see `redraft-cli models`)")
    dl.add_argument("--token", help="a Hugging Face access token, for gated repositories (default: HF_TOKEN)")
    return parser


def _rewrite(args: argparse.Namespace, out: TextIO) -> int:
    document = read_text_file(args.file)
    text = document.text
    start, end = position("--start", args.start, text, args.file), position("--end", args.end, text, args.file)
    if not (0 <= start <= len(text) and 0 <= end <= len(text)):
        raise UsageError(f"--start {args.start} --end {args.end} is outside {args.file} (0..{len(text)} code points)")
    if start > end:
        raise UsageError(f"--start {args.start} is after --end {args.end}")
    mode = args.mode or ("fill" if start == end else "rewrite")
    if args.keep and args.from_text is None:
        raise UsageError("--keep needs --from-text: the ranges are offsets into that text")
    keep = tuple(_range("--keep", value) for value in args.keep)
    for name in ("steps", "max_new_tokens", "context_budget", "alternatives"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive number")
    try:
        request = EditRequest(
            text=text,
            start=start,
            end=end,
            instruction=args.instruction,
            mode=mode,
            language=language_for(args.file, text),
            max_new_tokens=args.max_new_tokens,
            steps=args.steps,
            seed=args.seed,
            context_budget=args.context_budget,
            warm_start=args.from_text,
            keep=keep,
            alternatives=args.alternatives,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    spec = args.model or chosen_model()
    if spec == BUNDLED:
        print(f"redraft-cli: using {NAME}. {ABOUT}", file=sys.stderr)

    if args.json:
        view = _JsonView(out)
    elif args.show_steps or out.isatty():  # on a terminal drafts, summary and text share the screen
        view = _StepsView(out, sys.stderr if args.show_steps else out)
    else:
        view = _PipedView(out)
    with Engine() as engine:
        engine.load(lambda: backend_for(spec, device=args.device)).result()
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


def _range(flag: str, value: str) -> tuple[int, int]:
    match = re.fullmatch(r"([0-9]+):([0-9]+)", value)
    if not match:
        raise UsageError(f"{flag} {value!r} is not START:END (offsets in code points)")
    return int(match[1]), int(match[2])


def position(flag: str, value: str, text: str, path: str) -> int:
    """`value` as an offset in code points: an offset as given, or LINE:COL counted from 1 as editors show them
    (a column is a code point; CRLF, CR and LF each end a line; COL may be one past the line's last character)."""
    if re.fullmatch(r"-?[0-9]+", value):
        return int(value)  # range-checked with the other offset by the caller
    match = re.fullmatch(r"([0-9]+):([0-9]+)", value)
    if not match:
        raise UsageError(f"{flag} {value!r} is neither an offset nor LINE:COL")
    line, column = int(match[1]), int(match[2])
    if line < 1 or column < 1:
        raise UsageError(f"{flag} {value}: lines and columns count from 1")
    breaks = list(re.finditer(r"\r\n|\r|\n", text))
    lines = len(breaks) + 1
    if line > lines:
        raise UsageError(f"{flag} {value} is outside {path}, which has {lines} line{'s' if lines > 1 else ''}")
    begin = breaks[line - 2].end() if line > 1 else 0
    length = (breaks[line - 1].start() if line <= len(breaks) else len(text)) - begin
    if column > length + 1:
        raise UsageError(f"{flag} {value} is outside {path}: line {line} has {length} characters")
    return begin + column - 1


class _StepsView:
    """Each draft on `steps` (redrawn in place on a terminal, one line per step otherwise) and a summary there;
    the final text on `out`, alone, so `steps` can be stderr while stdout stays the result."""

    def __init__(self, out: TextIO, steps: TextIO) -> None:
        self.out = out
        self.steps = steps
        self.tty = steps.isatty()
        self._lines = 0

    def draft(self, draft: Draft) -> None:
        head = f"[{draft.progress} {draft.elapsed_s:6.2f}s]"
        if self.tty:
            if self._lines:
                self.steps.write(f"\x1b[{self._lines}F\x1b[J")  # back to the first line of the last draft
            body = f"{head} {draft.text}"
            self.steps.write(body + "\n")
            self._lines = body.count("\n") + 1
        else:
            self.steps.write(f"{head} {json.dumps(draft.text, ensure_ascii=False)}\n")
        self.steps.flush()

    def result(self, result: EditResult, document: str) -> None:
        if self.tty and self._lines:
            self.steps.write(f"\x1b[{self._lines}F\x1b[J")
        self.steps.write(
            f"-- {result.stop_reason} after {result.steps} steps"
            f"{f' in {result.blocks} blocks' if result.blocks > 1 else ''}, {result.tokens} tokens, "
            f"{result.elapsed_s:.2f}s ({result.tokens_per_s:.1f} tok/s, first draft {result.first_draft_s or 0:.2f}s)\n"
        )
        self.steps.flush()
        _PipedView(self.out).result(result, document)


class _PipedView:
    """Piped: the final text only, exactly as the model gave it (a newline is added only on a terminal, where
    the prompt would otherwise follow it), so a script can splice it back byte for byte."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def draft(self, draft: Draft) -> None:
        pass  # piped: the drafts are not part of the output (--show-steps puts them on stderr)

    def result(self, result: EditResult, document: str) -> None:
        newline = self.out.isatty() and not result.text.endswith("\n")
        self.out.write(result.text + ("\n" if newline else ""))
        for other in result.alternatives:  # asked for several: each further answer after a blank line
            self.out.write(f"\n\n{other}")
        self.out.flush()


_LINE_BREAKS = ("\x85", "\u2028", "\u2029")


class _JsonView:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def draft(self, draft: Draft) -> None:
        self._emit(
            {
                "type": "draft", "step": draft.step, "max_steps": draft.max_steps, "block": draft.block,
                "blocks": draft.blocks, "progress": draft.progress, "text": draft.text, "elapsed_s": draft.elapsed_s,
            }
        )

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
                "blocks": result.blocks,
                "alternatives": list(result.alternatives),
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
    from engine.models.discovery import survey

    seen = survey(folders=args.folder)
    if args.json:
        report = {
            "found": [
                {**m.to_dict(), "fit": seen.fit_of(m).verdict, "fit_message": seen.fit_of(m).message} for m in seen.found
            ],
            "catalog": [
                {**e.to_dict(), "on_disk": e.id in seen.on_disk, "fit": seen.fits[e.id].verdict,
                 "fit_message": seen.fits[e.id].message}
                for e in seen.catalog
            ],
            "hardware": seen.hardware.to_dict(),
            "models_dir": str(seen.models_dir),
        }
        out.write(json.dumps(report, ensure_ascii=False) + "\n")
        return 0
    out.write(f"On disk (models folder {seen.models_dir}):\n")
    for m in seen.found:
        status = f"  ! {m.problem}" if m.problem else f"  {seen.fit_of(m).message}"
        out.write(f"  {m.id}\t{m.family}\t{m.size_bytes / 1e9:.2f} GB\t{m.path}{status}\n")
    out.write("Catalog:\n")
    for e in seen.catalog:
        where = "on disk" if e.id in seen.on_disk else (f"redraft-cli download {e.id}" if e.repo else "repository unknown")
        out.write(f"  {e.id}\t{e.name}\t{seen.fits[e.id].message}\t{where}\n")  # the message names the dtype
    return 0


def _download(args: argparse.Namespace, err: TextIO) -> int:
    import threading

    from engine.models.catalog import entry_by_id, load_catalog
    from engine.models.discovery import models_dir
    from engine.models.download import DownloadCancelled, DownloadProgress, download

    catalog = load_catalog()
    try:
        entry = entry_by_id(args.id, catalog)
    except KeyError:
        raise UsageError(f"no catalog model {args.id!r}; `redraft-cli models` lists them") from None

    def show(p: DownloadProgress) -> None:
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        err.write(
            f"\r{p.fraction:6.1%} {p.done_bytes / 1e6:,.1f}/{p.total_bytes / 1e6:,.1f} MB "
            f"{p.rate_bytes_per_s / 1e6:.1f} MB/s ETA {eta} {p.filename[:40]}\x1b[K"
        )
        err.flush()

    cancel = threading.Event()
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["path"] = download(entry, models_dir(), show, cancel, token=args.token)
        except BaseException as exc:  # handed to the main thread, which reports it
            outcome["error"] = exc

    # The transfer runs on a worker so Ctrl+C (delivered to the main thread) can cancel it between pieces.
    worker = threading.Thread(target=work, name="download")
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        worker.join()
    err.write("\n")
    if isinstance(outcome.get("error"), DownloadCancelled):
        raise KeyboardInterrupt
    if "error" in outcome:
        raise outcome["error"]
    print(outcome["path"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
