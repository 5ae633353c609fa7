"""Kept ranges (app/rewrite/kept_ranges.py): keeping and un-keeping a selection, merging, the complement,
the confident pieces, and finding kept pieces again in the next text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.rewrite.kept_ranges import Kept, complement, confident, follow, merge, piece_ranges, subtract
from engine import PLACEHOLDER

TEXT = "The quick brown fox jumps over the lazy dog."


def test_merge_sorts_joins_touching_and_overlapping_and_drops_empty():
    assert merge([(10, 12), (0, 3), (3, 5), (11, 15), (7, 7)]) == ((0, 5), (10, 15))


def test_subtract_splits_a_range():
    assert subtract([(0, 10), (12, 20)], 3, 14) == ((0, 3), (14, 20))


def test_keep_then_keep_again_un_keeps():
    brown = (TEXT.index("brown"), TEXT.index("brown") + 5)
    kept = Kept(TEXT).toggled(*brown)
    assert kept.ranges == (brown,) and kept
    assert not Kept(TEXT).toggled(*brown).toggled(*brown)
    # Keeping a neighbour that touches joins it; un-keeping part of a range keeps the rest.
    fox = (TEXT.index("fox"), TEXT.index("fox") + 3)
    both = kept.toggled(brown[1], fox[1])
    assert both.ranges == ((brown[0], fox[1]),)
    assert both.toggled(*fox).ranges == ((brown[0], fox[0]),)


def test_a_selection_partly_kept_is_kept_whole():
    kept = Kept(TEXT, ((4, 9),)).toggled(6, 15)
    assert kept.ranges == ((4, 15),)


def test_a_caret_keeps_its_word_and_un_keeps_its_range():
    at = TEXT.index("lazy") + 2
    kept = Kept(TEXT).toggled(at, at)
    assert [TEXT[a:b] for a, b in kept.ranges] == ["lazy"]
    assert not kept.toggled(at, at)
    space = TEXT.index(" over") + 0  # between "jumps" and " over": the word before
    assert [TEXT[a:b] for a, b in Kept(TEXT).toggled(space, space).ranges] == ["jumps"]
    assert not Kept(" . ").toggled(1, 1)  # no word there: nothing kept


def test_a_selection_is_clipped_to_the_text():
    assert Kept("abc").toggled(-3, 99).ranges == ((0, 3),)


def test_complement_is_everything_else():
    assert complement([(4, 9), (20, 25)], 30) == ((0, 4), (9, 20), (25, 30))
    assert complement([], 5) == ((0, 5),)
    assert complement([(0, 5)], 5) == ()
    kept = Kept(TEXT, ((4, 9),)).inverted()
    assert kept.ranges == ((0, 4), (9, len(TEXT)))


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40))), st.integers(0, 40))
def test_complement_and_ranges_partition_the_text(ranges, length):
    ranges = [(a, min(b, length)) for a, b in ranges if a < min(b, length)]
    kept, rest = merge(ranges), complement(ranges, length)
    covered = sorted(i for a, b in (*kept, *rest) for i in range(a, b))
    assert covered == list(range(length))


def test_confident_pieces_are_kept_unsure_and_masked_ones_not():
    pieces = ("The", " quick", " brwn", " fox", PLACEHOLDER, " over")
    confidence = (0.9, 0.8, 0.2, 0.6, 0.99, 0.5)
    text = "".join(pieces)
    ranges = confident(pieces, confidence, 0.5)
    assert [text[a:b] for a, b in ranges] == ["The quick", " fox"]  # 0.5 itself is unsure
    assert piece_ranges(pieces)[2] == (9, 14)


def test_kept_pieces_follow_the_text_when_what_is_before_them_changes_length():
    old = "a cat sat on the mat, the end"
    kept = Kept(old).toggled(old.index("the mat"), old.index("the mat") + 7)
    new = "one big cat was on the mat, the end"
    moved = kept.moved_to(new)
    assert moved.text == new and [new[a:b] for a, b in moved.ranges] == ["the mat"]
    assert moved.ranges[0][0] == new.index("the mat")


def test_a_repeated_piece_is_found_nearest_to_where_it_was():
    old = "the x the y the z"
    second = (old.index("the y"), old.index("the y") + 3)
    new = "the x the Y the z"  # same length: the second "the" stays where it was
    assert follow([second], old, new) == (second,)
    # Two kept pieces stay in order: the second is looked for after the first.
    ranges = follow([(0, 3), second], old, "the x! the y the z")
    assert ranges == ((0, 3), (7, 10))


def test_a_piece_gone_from_the_new_text_is_no_longer_kept():
    assert follow([(0, 3), (4, 7)], "cat dog", "cat cow") == ((0, 3),)
    assert Kept("cat dog", ((4, 7),)).moved_to("cat cow").ranges == ()


def test_flagged_pieces_are_the_ranges_a_draft_marks_kept():
    from app.rewrite.kept_ranges import flagged

    pieces = ("the", " x", " the", " y")
    assert flagged(pieces, (False, False, True, True)) == ((5, 11),)
    assert flagged(pieces, (False,) * 4) == ()
