"""A rewrite keeps the line breaks its span has at its ends: a selected line ends with its "\\n", which a model
rarely gives back (a one-line answer cannot; a canvas ends where the model ends the text), and losing it would
glue the next line onto the answer."""

from __future__ import annotations

import dataclasses

from engine.types import Draft


def with_span_ends(span: str, answer: str) -> str:
    """`answer` with the line breaks `span` has at its start and end, and no others there."""
    lead = span[: len(span) - len(span.lstrip("\n"))]
    trail = span[len(span.rstrip("\n")) :]
    return lead + answer.strip("\n") + trail


def draft_with_span_ends(span: str, draft: Draft) -> Draft:
    """The same for a draft, piece by piece, so the text after the span stays where it is during the run (the
    line breaks are pieces of their own: settled, sure, never changed)."""
    lead = span[: len(span) - len(span.lstrip("\n"))]
    trail = span[len(span.rstrip("\n")) :]
    if not lead and not trail:  # nothing to hold in place; a streamed draft keeps growing as it came
        return draft
    pieces = list(draft.pieces) or [draft.text]
    n = len(pieces)
    first = next((i for i, p in enumerate(pieces) if p.strip("\n")), n)
    for i in range(first):  # line breaks before the answer's first text go; the span's own come instead
        pieces[i] = ""
    if first < n:
        pieces[first] = pieces[first].lstrip("\n")
        last = max(i for i, p in enumerate(pieces) if p.strip("\n"))
        pieces[last] = pieces[last].rstrip("\n")
        for i in range(last + 1, n):
            pieces[i] = ""
    def aligned(values: tuple, fill) -> tuple:
        if len(values) != n:
            return values
        return ((fill,) if lead else ()) + tuple(values) + ((fill,) if trail else ())

    pieces = ([lead] if lead else []) + pieces + ([trail] if trail else [])
    return dataclasses.replace(
        draft,
        text="".join(pieces),
        pieces=tuple(pieces),
        confidence=aligned(draft.confidence, 1.0),
        changed=aligned(draft.changed, False),
        kept=aligned(draft.kept, False),
        settled=draft.settled + (1 if lead and draft.pieces else 0),
    )
