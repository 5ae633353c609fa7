"""The benchmark's data and scoring, checked without a model: every reference passes its own case, doing
nothing fails every case, and the common checks catch what they claim to (leaks, loops, copied context)."""

from __future__ import annotations

import collections

import pytest

from tests.bench.quality import cases, scoring

CASES = cases.load()


def test_enough_cases_of_every_kind_in_both_halves():
    assert len(CASES) >= 48
    per = collections.Counter((c.kind, c.half) for c in CASES)
    for kind in cases.KINDS:
        assert per[kind, "tuning"] >= 2 and per[kind, "held-out"] >= 2, kind
    assert {c.format for c in CASES} == set(cases.FORMATS)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_reference_passes_and_doing_nothing_fails(case):
    good = scoring.score(case, case.reference)
    assert good.passed, good.reasons
    unchanged = "" if case.mode == "fill" else case.span
    assert not scoring.score(case, unchanged).passed


def test_offsets_come_from_the_span_text_and_its_occurrence(tmp_path):
    (tmp_path / "spelling.toml").write_text(
        "[[case]]\nid='x'\nformat='prose'\ninstruction='fix'\nspan='teh'\noccurrence=1\nreference='the'\n"
        "document='teh cat and teh dog'\n",
        encoding="utf-8",
    )
    (case,) = cases.load(("spelling",), tmp_path)
    assert (case.start, case.end, case.span) == (12, 15, "teh")


def test_leaks_of_prompt_text_markers_and_chat_tokens_fail():
    case = next(c for c in CASES if c.id == "sp-wall-survey")
    fixed = case.reference
    for leaked in (
        f"{fixed}<end_of_turn>",
        f"<|im_start|>assistant\n{fixed}",
        f"Edited: {fixed}",
        f"{fixed}\nOriginal: {case.span}",
        f"<redraft-span>{fixed}</redraft-span>",
        f"{fixed} Reply with the new text only: no markers, no explanations, no code fences.",
    ):
        result = scoring.score(case, leaked)
        assert not result.checks["no_leak"], leaked


def test_loops_and_copied_context_fail():
    case = next(c for c in CASES if c.id == "sp-wall-survey")
    loop = scoring.score(case, case.reference + " the wall the wall the wall the wall")
    assert not loop.checks["no_runaway"]
    copied = scoring.score(case, case.reference + " Their report went to the council in April, with a map.")
    assert not copied.checks["outside_untouched"]


def test_type_hints_that_change_the_code_fail():
    case = next(c for c in CASES if c.id == "th-slugify")
    changed = case.reference.replace("[:max_length]", "[: max_length - 1]")
    result = scoring.score(case, changed)
    assert result.checks["annotated"] and not result.checks["code_unchanged"]
