"""The cases: one TOML file per kind under cases/, read into `Case`s with their offsets computed.

TOML because it is in the standard library and its literal multi-line strings ('''...''') keep a document
exactly as written, with no escapes, so the data reads like the text it is. A span is given as its exact text
plus which occurrence it is (0 = the first), and a fill's cursor as CURSOR inside the document (removed):
offsets are computed here, never counted by hand.

Halves: the cases of each kind alternate tuning, held-out, tuning, ... in file order, so appending a case
never moves an existing one to the other half.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

CASES_DIR = Path(__file__).with_name("cases")
CURSOR = "‸"  # U+2038 CARET: a mark no case's text uses, so it cannot be confused with content
KINDS = ("spelling", "grammar", "shorter", "clearer", "formal", "fill-prose", "fill-code", "type-hints", "docstring")
CORRECTIONS = ("spelling", "grammar")
HALVES = ("tuning", "held-out")
FORMATS = {"prose": None, "markdown": "Markdown", "python": "Python"}  # format -> EditRequest.language


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    half: str
    format: str  # prose | markdown | python
    text: str  # the document, cursor mark removed
    start: int
    end: int
    instruction: str
    mode: str  # rewrite | fill
    reference: str  # a good answer: the target for corrections, an example that must pass for the others
    alternatives: tuple[str, ...] = ()  # corrections: other answers as good (the closest one counts)
    keywords: tuple[str, ...] = ()  # words a rewrite must keep (case-insensitive)
    any_of: tuple[str, ...] = ()  # a fill must contain at least one (its topic)
    forbid: tuple[str, ...] = ()  # words a good answer drops (formal: "gonna")
    functions: tuple[str, ...] = ()  # code: the functions the kind's check looks at
    min_ratio: float | None = None  # output length / span length, in characters
    max_ratio: float | None = None

    @property
    def span(self) -> str:
        return self.text[self.start : self.end]

    @property
    def language(self) -> str | None:
        return FORMATS[self.format]


def load(kinds: tuple[str, ...] = KINDS, folder: Path = CASES_DIR) -> list[Case]:
    cases: list[Case] = []
    for kind in kinds:
        path = folder / f"{kind}.toml"
        with path.open("rb") as f:
            raw = tomllib.load(f)["case"]
        for index, item in enumerate(raw):
            try:
                cases.append(_case(kind, index, item))
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path.name} case {index} ({item.get('id', '?')}): {exc}") from None
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate case ids: {', '.join(sorted(duplicates))}")
    return cases


def _case(kind: str, index: int, item: dict) -> Case:
    item = dict(item)
    document = item.pop("document")
    mode = item.pop("mode", "fill" if kind.startswith("fill") else "rewrite")
    fmt = item.pop("format")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if mode == "fill":
        if document.count(CURSOR) != 1:
            raise ValueError(f"a fill case needs exactly one cursor mark {CURSOR!r} in its document")
        start = end = document.index(CURSOR)
        text = document.replace(CURSOR, "")
        if "span" in item:
            raise ValueError("a fill case has a cursor, not a span")
    else:
        if CURSOR in document:
            raise ValueError("a rewrite case has a span, not a cursor")
        span, occurrence = item.pop("span"), item.pop("occurrence", 0)
        start = -1
        for _ in range(occurrence + 1):
            start = document.find(span, start + 1)
            if start < 0:
                raise ValueError(f"span occurrence {occurrence} not found: {span[:40]!r}")
        end, text = start + len(span), document
    known = {"id", "instruction", "reference", "alternatives", "keywords", "any_of", "forbid", "functions", "min_ratio", "max_ratio"}
    unknown = set(item) - known
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
    return Case(
        id=item["id"],
        kind=kind,
        half=HALVES[index % 2],
        format=fmt,
        text=text,
        start=start,
        end=end,
        instruction=item["instruction"],
        mode=mode,
        reference=item["reference"],
        alternatives=tuple(item.get("alternatives", ())),
        keywords=tuple(item.get("keywords", ())),
        any_of=tuple(item.get("any_of", ())),
        forbid=tuple(item.get("forbid", ())),
        functions=tuple(item.get("functions", ())),
        min_ratio=item.get("min_ratio"),
        max_ratio=item.get("max_ratio"),
    )
