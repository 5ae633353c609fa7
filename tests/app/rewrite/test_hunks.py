"""Hunks between an original span and a rewrite: cutting, applying subsets, reviewing one by one."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from app.rewrite.hunks import Hunks, Review, granularity

PROSE = st.text(alphabet=st.sampled_from(list("ab cd,.\n\t🦊é")), max_size=40)


def test_word_hunks_merge_across_spaces_but_not_across_lines():
    hunks = Hunks.between("The quick brown fox jumps.", "The slow red fox leaps!")
    assert [(h.old, h.text) for h in hunks.hunks] == [("quick brown", "slow red"), ("jumps.", "leaps!")]
    hunks = Hunks.between("one two\nthree", "uno dos\ntres")
    assert [(h.old, h.text) for h in hunks.hunks] == [("one two", "uno dos"), ("three", "tres")]


def test_line_hunks_for_code():
    original = "def f(x):\n    y = x + 1\n    return y\n"
    final = "def f(x):\n    y = x + 2\n    return y\n"
    assert granularity(original) == "line"
    hunks = Hunks.between(original, final)
    assert [(h.old, h.text) for h in hunks.hunks] == [("    y = x + 1\n", "    y = x + 2\n")]
    assert original[hunks.hunks[0].start : hunks.hunks[0].end] == "    y = x + 1\n"


def test_applying_subsets():
    original, final = "alpha beta, gamma delta.", "alpha BETA, gamma DELTA!"
    hunks = Hunks.between(original, final)
    assert len(hunks) == 2
    assert hunks.apply([]) == original
    assert hunks.apply([0, 1]) == final
    assert hunks.apply([0]) == "alpha BETA, gamma delta."
    assert hunks.apply([1]) == "alpha beta, gamma DELTA!"


def test_insertion_into_an_empty_span_and_deletion_to_nothing():
    assert [(h.start, h.end, h.text) for h in Hunks.between("", "new text").hunks] == [(0, 0, "new text")]
    assert [(h.old, h.text) for h in Hunks.between("gone", "").hunks] == [("gone", "")]
    assert not Hunks.between("same", "same").hunks


@settings(max_examples=300, deadline=None)
@given(PROSE, PROSE, st.sampled_from(["word", "line"]))
def test_every_subset_rebuilds_consistently(original, final, by):
    hunks = Hunks.between(original, final, by)
    assert hunks.apply(range(len(hunks))) == final
    assert hunks.apply([]) == original
    for hunk in hunks.hunks:
        assert original[hunk.start : hunk.end] == hunk.old and hunk.old != hunk.text
    assert all(a.end <= b.start for a, b in itertools.pairwise(hunks.hunks))
    for keep in itertools.islice(itertools.product([False, True], repeat=len(hunks)), 16):
        chosen = [i for i, k in enumerate(keep) if k]
        text = hunks.apply(chosen)
        assert "".join(t for t, _ in hunks.segments(chosen)) == text


def test_review_decides_in_order_and_keeps_the_rest():
    review = Review(Hunks.between("a b. c d. e f.", "A b. c D. E f."))
    assert len(review.hunks) == 3 and review.current == 0
    assert [kind for _, kind in review.segments() if kind] == ["current", "hunk", "hunk"]
    review.decide(False)
    assert review.current == 1 and review.text() == "a b. c D. E f."
    assert [kind for _, kind in review.segments() if kind] == ["dropped", "current", "hunk"]
    review.decide(True)
    review.keep_rest()
    assert review.finished and review.text() == "a b. c D. E f."
    assert review.kept() == [1, 2]
