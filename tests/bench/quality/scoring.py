"""Automatic scoring of one edit: the checks every case gets, then its kind's own check.

Every case: no error, a non-empty result (unless the reference is empty), nothing of the prompt leaked, no
runaway repetition or length, the text outside the span untouched and not copied into it. Then by kind:

- spelling, grammar: word error rate against the reference <= WER_PASS, and strictly below the original's
  (an edit that changes nothing never passes, even on a nearly correct sentence).
- shorter: length ratio (characters, output / span) within [min_ratio, max_ratio], every keyword kept.
- clearer, formal: keywords kept, ratio within bounds, not the input again, no `forbid` word left.
- fill-prose: a few words to a paragraph, on the topic (one of `any_of`), in place (no line break inside a line
  that goes on after the cursor, no new paragraph), ending as a sentence ends.
- fill-code, type-hints, docstring: the whole edited file parses; the edit is not a no-op; fill-code has a
  statement that is not `pass`/`...`/a comment (and one of `any_of` if given); type-hints annotates every
  parameter and the return of `functions` with the code otherwise unchanged; docstring gives each of
  `functions` a docstring with the code otherwise unchanged.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tests.bench.quality.cases import CORRECTIONS, Case

WER_PASS = 0.1  # at most one word in ten wrong (substituted, missing or extra) against the reference
RATIO_BOUNDS = {"shorter": (0.2, 0.8), "clearer": (0.5, 1.5), "formal": (0.5, 1.6)}
FILL_WORDS = (3, 80)  # fill-prose: more than a stray word, less than a page
FILL_CODE_LINES = 30
COPY_WORDS = 8  # a run this long from outside the span, inside the output, is the context copied back
COPY_TOKENS_CODE = 16  # code repeats short runs (`self . x = x`) honestly; copying is longer
ENGINE = Path(__file__).resolve().parents[3] / "engine"

# Chat-template tokens of the families the engine can load (Gemma, ChatML/Qwen/SmolLM, Llama 3, Mistral, Phi).
CHAT_TOKENS = (
    "<start_of_turn>", "<end_of_turn>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|begin_of_text|>", "[INST]", "[/INST]", "<|user|>",
    "<|assistant|>", "<|system|>", "<|end|>", "<bos>", "<eos>", "<pad>", "<mask>", "<s>", "</s>",
)
# Labels of worked-example prompts: at the start of a line, followed by a colon.
LABEL = re.compile(
    r"(?mi)^[ \t]*(original|edited|passage|rewritten|rewrite|instruction|corrected|correction|fixed|input|output"
    r"|answer|text|sentence|span|document|before|after|shorter|formal|clearer|task|user|assistant|model)"
    r"\b[^:\n]{0,30}:"
)
TAG = re.compile(r"</?[A-Za-z][\w-]*/?>")
WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


@dataclass
class Score:
    passed: bool = True
    checks: dict[str, bool] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def check(self, name: str, ok: bool, why: str = "") -> bool:
        self.checks[name] = self.checks.get(name, True) and bool(ok)
        if not ok:
            self.passed = False
            if why:
                self.reasons.append(f"{name}: {why}")
        return bool(ok)


def score(case: Case, output: str, error: str | None = None) -> Score:
    result = Score()
    if not result.check("no_error", error is None, error or ""):
        return result
    stripped = output.strip()
    result.check("non_empty", bool(stripped) or not case.reference.strip(), "the model returned nothing")
    leaked = leaks(case, output)
    result.check("no_leak", not leaked, ", ".join(repr(x) for x in leaked[:3]))
    runaway = runaway_reason(case, output)
    result.check("no_runaway", runaway is None, runaway or "")
    copied = copied_context(case, output)
    spliced = case.text[: case.start] + output + case.text[case.end :]
    outside_ok = spliced.startswith(case.text[: case.start]) and spliced.endswith(case.text[case.end :])
    result.check("outside_untouched", outside_ok and copied is None, f"copies the text around it: {copied!r}")
    if stripped or case.reference.strip():
        _KIND_CHECKS[case.kind](case, output, spliced, result)
    return result


# -- every case ------------------------------------------------------------------------------------------------


@cache
def scaffolding() -> tuple[frozenset[str], frozenset[str]]:
    """The engine's prompt text as it stands today: (sentence-sized fragments, tags and labels) from every string
    literal of engine/prompt.py and engine/backends/, docstrings aside. Read from the source each run, so the
    check follows whatever the prompts become."""
    fragments: set[str] = set()
    marks: set[str] = set()
    files = [ENGINE / "prompt.py", *sorted((ENGINE / "backends").rglob("*.py"))]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                marks.update(TAG.findall(node.value))
                for piece in re.split(r"\n|(?<=[.!?:])\s+|\{[^}]*\}", node.value):
                    piece = piece.strip()
                    if len(piece) >= 20 and len(piece.split()) >= 3:
                        fragments.add(piece)
    return frozenset(fragments), frozenset(marks)


def leaks(case: Case, output: str) -> list[str]:
    """What of the prompt, its markers or a chat template is in the output and not in the document."""
    fragments, marks = scaffolding()
    found = [m for m in (*CHAT_TOKENS, *marks) if m in output and m not in case.text]
    found += [f for f in fragments if f in output and f not in case.text]
    if case.format != "python":  # in code `text: str` is an annotation, and a stray label fails the parse anyway
        found += [m.group(0).strip() for m in LABEL.finditer(output) if m.group(0).strip() not in case.text]
    instruction = case.instruction.strip()
    if len(instruction) >= 8 and instruction.lower() in output.lower() and instruction.lower() not in case.text.lower():
        found.append(instruction)
    return found


def words(text: str) -> list[str]:
    return WORD.findall(text)


def runaway_reason(case: Case, output: str) -> str | None:
    """A run of one n-gram repeated back to back (a loop), or a length no edit of this span needs."""
    tokens = words(output)
    document = " ".join(words(case.text))
    for n in range(1, 13):
        need = 5 if n == 1 else 3
        for i in range(0, len(tokens) - n * need + 1):
            gram = tokens[i : i + n]
            if all(tokens[i + k * n : i + (k + 1) * n] == gram for k in range(need)):
                run = " ".join(gram * need)
                if run not in document:
                    return f"repeats {' '.join(gram)!r} {need}+ times"
    limit = 1500 if case.mode == "fill" else max(3 * len(case.span), 400)
    if len(output) > limit:
        return f"{len(output)} characters where at most {limit} make sense"
    return None


def copied_context(case: Case, output: str) -> str | None:
    """A run of words from outside the span, copied into the output (and in neither the span nor the reference)."""
    n = COPY_TOKENS_CODE if case.format == "python" else COPY_WORDS
    outside = _grams(words(case.text[: case.start]), n) | _grams(words(case.text[case.end :]), n)
    allowed = _grams(words(case.span), n) | _grams(words(case.reference), n)
    tokens = words(output)
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i : i + n])
        if gram in outside and gram not in allowed:
            return " ".join(gram)
    return None


def _grams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


# -- by kind ---------------------------------------------------------------------------------------------------


def wer(hypothesis: str, reference: str) -> float:
    """Word error rate: word-level edit distance / reference words. Punctuation marks count as words; case
    counts ("teh" -> "The" is a correction)."""
    hyp, ref = words(hypothesis), words(reference)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / len(ref)


def _correction(case: Case, output: str, spliced: str, result: Score) -> None:
    references = (case.reference, *case.alternatives)
    after = min(wer(output, r) for r in references)
    before = min(wer(case.span, r) for r in references)
    result.metrics.update(wer=round(after, 3), wer_original=round(before, 3))
    result.check("wer", after <= WER_PASS and after < before, f"WER {after:.2f} (original {before:.2f})")


def _ratio(case: Case, output: str, result: Score) -> None:
    low, high = RATIO_BOUNDS[case.kind]
    low = case.min_ratio if case.min_ratio is not None else low
    high = case.max_ratio if case.max_ratio is not None else high
    ratio = len(output.strip()) / max(len(case.span.strip()), 1)
    result.metrics["length_ratio"] = round(ratio, 3)
    result.check("length", low <= ratio <= high, f"length ratio {ratio:.2f} outside {low}..{high}")


def _keywords(case: Case, output: str, result: Score) -> None:
    lower = output.lower()
    missing = [k for k in case.keywords if k.lower() not in lower]
    result.check("keywords", not missing, f"lost {', '.join(missing)}")


def _shorter(case: Case, output: str, spliced: str, result: Score) -> None:
    _ratio(case, output, result)
    _keywords(case, output, result)


def _restyle(case: Case, output: str, spliced: str, result: Score) -> None:
    _ratio(case, output, result)
    _keywords(case, output, result)
    result.check("changed", " ".join(output.split()) != " ".join(case.span.split()), "the input, unchanged")
    left = [w for w in case.forbid if re.search(rf"(?i)(?<!\w){re.escape(w)}(?!\w)", output)]
    result.check("style", not left, f"still says {', '.join(left)}")


def _fill_prose(case: Case, output: str, spliced: str, result: Score) -> None:
    count = len(output.split())
    low, high = FILL_WORDS
    result.metrics["words"] = count
    result.check("length", low <= count <= high, f"{count} words, not {low}..{high}")
    lower = output.lower()
    result.check("on_topic", any(k.lower() in lower for k in case.any_of), f"none of {', '.join(case.any_of)}")
    # It stays where the cursor is: inside its line when the line goes on after the cursor, inside its paragraph
    # otherwise; and it ends as a sentence does, not cut off mid-way.
    line_goes_on = case.text[case.end :].split("\n", 1)[0].strip() != ""
    breaks = "\n" in output if line_goes_on else "\n\n" in output.strip()
    result.check("in_place", not breaks, "breaks the line" if line_goes_on else "starts a new paragraph")
    result.check("complete", re.search(r"[.!?:;…][\"')\]”’]*$", output.strip()) is not None, "cut off mid-sentence")


def _parse(spliced: str, result: Score) -> ast.Module | None:
    try:
        tree = ast.parse(spliced)
    except SyntaxError as exc:
        result.check("parses", False, f"line {exc.lineno}: {exc.msg}")
        return None
    result.check("parses", True)
    return tree


def _fill_code(case: Case, output: str, spliced: str, result: Score) -> None:
    result.check("length", output.count("\n") < FILL_CODE_LINES, f"{output.count(chr(10))} lines")
    tree = _parse(spliced, result)
    if tree is None:
        return
    edited = ast.dump(tree)
    no_ops = []
    for filler in ("", "pass", "..."):
        try:
            no_ops.append(ast.dump(ast.parse(case.text[: case.start] + filler + case.text[case.end :])))
        except SyntaxError:
            pass
    code = "\n".join(line.split("#", 1)[0] for line in output.splitlines()).strip()
    result.check("not_no_op", edited not in no_ops and code not in ("", "pass", "..."), "adds no statement")
    if case.any_of:
        result.check("expected", any(k in output for k in case.any_of), f"none of {', '.join(case.any_of)}")


def _functions(tree: ast.Module, names: tuple[str, ...]) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            found.setdefault(node.name, node)
    return found


class _StripAnnotations(ast.NodeTransformer):
    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.returns = None
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign):
        if node.value is None:
            return None  # `x: int` alone declares nothing at run time
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom):  # `from typing import ...` / `from __future__ ...` come with hints
        return None if node.module in ("typing", "__future__", "collections.abc") else node

    def visit_Import(self, node: ast.Import):
        return None if all(a.name in ("typing",) for a in node.names) else node


class _StripDocstrings(ast.NodeTransformer):
    def generic_visit(self, node):
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node


def _same_code(original: str, tree: ast.Module, stripper: type[ast.NodeTransformer]) -> bool:
    before = ast.dump(stripper().visit(ast.parse(original)), annotate_fields=False)
    after = ast.dump(stripper().visit(tree), annotate_fields=False)
    return before == after


def _type_hints(case: Case, output: str, spliced: str, result: Score) -> None:
    tree = _parse(spliced, result)
    if tree is None:
        return
    found = _functions(tree, case.functions)
    bare = []
    for name in case.functions:
        node = found.get(name)
        if node is None:
            bare.append(f"{name} (gone)")
            continue
        params = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg, node.args.kwarg]
        params = [p for p in params if p is not None and p.arg not in ("self", "cls")]
        if any(p.annotation is None for p in params) or node.returns is None:
            bare.append(name)
    result.check("annotated", not bare, f"not fully annotated: {', '.join(bare)}")
    result.check("code_unchanged", _same_code(case.text, ast.parse(spliced), _StripAnnotations),
                 "the code changed beyond its annotations")


def _docstring(case: Case, output: str, spliced: str, result: Score) -> None:
    tree = _parse(spliced, result)
    if tree is None:
        return
    found = _functions(tree, case.functions)
    missing = [n for n in case.functions if n not in found or len((ast.get_docstring(found[n]) or "").split()) < 3]
    result.check("documented", not missing, f"no docstring: {', '.join(missing)}")
    result.check("code_unchanged", _same_code(case.text, ast.parse(spliced), _StripDocstrings),
                 "the code changed beyond its docstrings")


_KIND_CHECKS = {
    **{kind: _correction for kind in CORRECTIONS},
    "shorter": _shorter,
    "clearer": _restyle,
    "formal": _restyle,
    "fill-prose": _fill_prose,
    "fill-code": _fill_code,
    "type-hints": _type_hints,
    "docstring": _docstring,
}
