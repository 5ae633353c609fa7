"""The context around the span: budget, nearest lines first, cut at line boundaries."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import EditRequest, RequestError, build_context
from engine.prompt import CHARS_PER_TOKEN, CURSOR, SPAN_CLOSE, SPAN_OPEN
from tests.tiny_models import build_tokenizer

TOKENIZER = build_tokenizer()


def count(text: str) -> int:
    return len(TOKENIZER.backend_tokenizer.encode(text, add_special_tokens=False).ids)


lines = st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30), max_size=30)


@settings(max_examples=200, deadline=None)
@given(before=lines, span=st.text(min_size=1, max_size=20).filter(str.strip), after=lines, budget=st.integers(1, 400))
def test_context_respects_budget_and_cuts_at_line_boundaries(before, span, after, budget):
    head, tail = "\n".join(before), "\n".join(after)
    text = head + span + tail
    request = EditRequest(text, len(head), len(head) + len(span))
    if count(span) > budget:
        with pytest.raises(RequestError, match="over the context budget"):
            build_context(request, count, budget)
        return
    ctx = build_context(request, count, budget)
    # The whole prompt context, tokenized at once, is within the budget.
    assert count(ctx.before + ctx.span + ctx.after) <= budget
    assert ctx.span == span
    # Nearest text kept: the context is the end of what precedes and the start of what follows.
    assert head.endswith(ctx.before) and tail.startswith(ctx.after)
    # Cut only at line boundaries.
    assert ctx.before in ("", head) or head[: len(head) - len(ctx.before)].endswith("\n")
    assert ctx.after == tail or ctx.after.endswith("\n") or ctx.after == ""


def test_nearest_lines_are_kept_first_and_unused_share_moves_over():
    before = "".join(f"line {i:02d}\n" for i in range(50))
    text = before + "SPAN" + "\nend\n"
    ctx = build_context(EditRequest(text, len(before), len(before) + 4), count, budget=100)
    # After needs only 5 tokens, so before gets the rest: 91 tokens = 11 whole lines of 8 bytes.
    assert ctx.after == "\nend\n"
    assert ctx.before == "".join(f"line {i:02d}\n" for i in range(39, 50))
    assert ctx.context_tokens <= 100


def test_span_over_budget_is_refused_with_a_clear_message():
    text = "x" * 50
    with pytest.raises(RequestError, match=r"the selection is 50 tokens, over the context budget of 10 tokens"):
        build_context(EditRequest(text, 0, 50), count, budget=10)


def test_prompt_marks_the_span_and_carries_instruction_mode_and_language():
    text = "def f():\n    return 1\n"
    ctx = build_context(
        EditRequest(text, 9, 21, instruction="return two", mode="refine", language="Python"), count
    )
    message = ctx.user_message()
    assert f"{SPAN_OPEN}    return 1{SPAN_CLOSE}" in message
    assert "Instruction: return two" in message
    assert "a Python source file" in message
    assert "Refine" in message
    fill = build_context(EditRequest(text, 9, 9, mode="fill"), count).user_message()
    assert f"def f():\n{CURSOR}    return 1" in fill and SPAN_OPEN not in fill


def one_line(words_each_side: int) -> tuple[str, int]:
    """A document on one line: words numbered by their distance from the span "SPAN", so the text near the
    span is the same whatever the length."""
    before = " ".join(f"b{k}" for k in reversed(range(1, words_each_side)))
    after = " ".join(f"a{k}" for k in range(1, words_each_side))
    return f"{before} SPAN {after}", len(before) + 1


@pytest.mark.parametrize("budget", [64, 512, 4096])
def test_a_huge_single_line_costs_the_budget_not_the_line_and_keeps_the_nearest_text(budget):
    tokenized = {}
    for words in (100_000, 500_000):  # about 1.4 and 7.8 MB on one line
        text, start = one_line(words)
        sizes = tokenized[words] = []

        def counting(piece):
            sizes.append(len(piece))
            return count(piece)

        ctx = build_context(EditRequest(text, start, start + 4), counting, budget)
        # What is tokenized is bounded by the budget: each side's take, then the before side's second take.
        assert sum(sizes) <= 4 + 3 * 2 * budget * CHARS_PER_TOKEN
        # The context is the text nearest the span, whole words, and fills the budget.
        assert text[:start].endswith(ctx.before) and text[start + 4 :].startswith(ctx.after)
        assert ctx.before.startswith("b") and text[start - len(ctx.before) - 1] == " "
        assert ctx.after.endswith(" ") and ctx.after.startswith(" a1 a2 ")
        assert ctx.before.endswith(" b2 b1 ")
        assert budget * 0.9 <= ctx.context_tokens <= budget
        assert count(ctx.before + ctx.span + ctx.after) <= budget
    assert tokenized[100_000] == tokenized[500_000]  # the same work, whatever the line's length


def test_no_room_tokenizes_nothing_but_the_span():
    text, start = one_line(100_000)
    sizes = []
    span_tokens = count("SPAN")

    def counting(piece):
        sizes.append(len(piece))
        return count(piece)

    ctx = build_context(EditRequest(text, start, start + 4), counting, span_tokens)
    assert (ctx.before, ctx.after, sizes) == ("", "", [4])


def test_a_long_line_without_spaces_is_cut_by_characters():
    text = "x" * 100_000 + "SPAN" + "y" * 100_000  # minified: no word boundary to cut at
    ctx = build_context(EditRequest(text, 100_000, 100_004), count, 100)
    assert ctx.before and set(ctx.before) == {"x"} and ctx.after and set(ctx.after) == {"y"}
    assert ctx.context_tokens <= 100


@pytest.mark.parametrize("span", [" ", "\n\n", "\t \u3000"])
def test_a_span_of_only_whitespace_is_refused_with_one_line(span):
    text = f"before{span}after"
    with pytest.raises(RequestError, match="^the selection is only whitespace: select the text to rewrite$"):
        build_context(EditRequest(text, 6, 6 + len(span)), len)
