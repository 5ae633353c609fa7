"""The prompt a small model gets and where its answer ends (prompt_shapes.py, output_shape.py), then the
bundled SmolLM2 end to end: a typo sentence comes back as one line with the mistakes fixed, nothing leaked."""

from __future__ import annotations

import pytest

from engine import EditRequest, Engine, backend_for
from engine.backends.llamacpp import prompt_shapes
from engine.backends.llamacpp.output_shape import OutputShape
from engine.models.bundled import BUNDLED
from engine.prompt import build_context
from engine.span_ends import with_span_ends


def context(text: str, start: int, end: int | None = None, **kw):
    end = start if end is None else end
    mode = kw.pop("mode", "fill" if start == end else "rewrite")
    request = EditRequest(text, start, end, mode=mode, **kw)
    return build_context(request, lambda s: len(s.split()), 4096), request


def test_the_shape_follows_the_model():
    assert prompt_shapes.shape_for(has_chat_template=False, small=True) == "examples"
    assert prompt_shapes.shape_for(has_chat_template=False, small=False) == "examples"
    assert prompt_shapes.shape_for(has_chat_template=True, small=True) == "short-chat"
    assert prompt_shapes.shape_for(has_chat_template=True, small=False) == "document"


def test_a_small_chat_model_gets_the_span_and_correction_examples_only():
    doc = "Intro line.\nHe go to school every days.\nOutro line."
    ctx, _ = context(doc, 12, 39, instruction="fix the grammar")
    messages = prompt_shapes.short_chat(ctx)
    assert messages[0]["role"] == "system" and messages[-1] == {"role": "user", "content": "fix the grammar:\nHe go to school every days."}
    shown = " ".join(m["content"] for m in messages)
    assert "Intro" not in shown and "<redraft" not in shown and "make it shorter" not in shown
    shorter, _ = context(doc, 12, 39, instruction="make it shorter")
    assert any(m["content"].startswith("make it shorter:") for m in prompt_shapes.short_chat(shorter)[1:-1])


@pytest.mark.parametrize(
    "text, at, prompt_end, taken",
    [
        ("First sentence. ‸ Next one.", None, "First sentence.", " "),  # a word's space goes with the next word
        ("def f():\n    ‸\n", None, "def f():", "\n    "),  # an indented empty line: break and indentation
        ("Title\n‸", None, "Title\n", ""),
    ],
)
def test_a_fill_continues_the_text_without_its_trailing_space(text, at, prompt_end, taken):
    at = text.index("‸")
    text = text.replace("‸", "")
    ctx, _ = context(text, at, language="Python" if "def" in text else None)
    prompt, prefix = prompt_shapes.continuation(ctx)
    assert prompt.endswith(prompt_end) and prefix == taken and prompt + prefix == text[:at]


def test_stops_follow_the_shape_of_the_span():
    ctx, _ = context("One line to fix.\nNext.", 0, 16)
    assert prompt_shapes.stops(ctx) == ["\n", "Instruction:", "Original:"]
    between, _ = context("A sentence. B sentence.", 12)
    assert prompt_shapes.stops(between) == [*prompt_shapes.SENTENCE_ENDS, "\n"]
    code, _ = context("x = 1\n\ny = 2\n", 6, language="Python")
    assert "```" in prompt_shapes.stops(code) and "\n\n" in prompt_shapes.stops(code)


def test_one_line_and_sampling():
    text = "alpha beta\ngamma"
    assert prompt_shapes.one_line(EditRequest(text, 3, 3, mode="fill"))
    assert not prompt_shapes.one_line(EditRequest(text, 10, 10, mode="fill"))  # at the end of a line
    assert prompt_shapes.one_line(EditRequest(text, 0, 10))
    assert not prompt_shapes.one_line(EditRequest(text, 0, 16))
    assert prompt_shapes.sampling(EditRequest(text, 0, 10))["temperature"] == 0.0
    assert prompt_shapes.sampling(EditRequest(text, 0, 10, varied=True))["temperature"] > 0


def test_a_correction_that_lost_much_of_its_span_is_not_kept_enough():
    span = "He go to school every days and he don't like the bus."
    assert prompt_shapes.kept_share(span, "He goes to school every day and he doesn't like the bus.") >= prompt_shapes.KEPT_WORDS
    assert prompt_shapes.kept_share(span, "He doesn't like the bus.") < prompt_shapes.KEPT_WORDS  # SmolLM2's first try
    assert prompt_shapes.is_correction(EditRequest(span, 0, 5, instruction="Fix the grammar"))
    assert not prompt_shapes.is_correction(EditRequest(span, 0, 5, instruction="make it shorter"))


def test_a_shortening_is_good_enough_only_when_shorter_and_faithful():
    span = "The survey team left the valley before dawn, carrying three days of water, because nobody trusted the map."
    shorten = EditRequest(span, 0, len(span), instruction="make it shorter")
    assert prompt_shapes.is_shortening(shorten) and prompt_shapes.retries(shorten) == prompt_shapes.SHORTEN_RETRIES
    assert prompt_shapes.fit(shorten, span) == (0.0, False)  # copied
    good = prompt_shapes.fit(shorten, "The survey team left the valley at dawn with water; nobody trusted the map.")
    chatty = prompt_shapes.fit(shorten, "Our report was a surprise to everyone, thanks to the old map.")
    assert good[1] and not chatty[1] and good[0] > chatty[0]
    assert prompt_shapes.fit(shorten, "The survey team left.") == (0.0, False)  # too short to keep the point
    fix = EditRequest(span, 0, len(span), instruction="fix the typos")
    assert prompt_shapes.is_spelling(fix) and not prompt_shapes.is_shortening(fix)
    assert not prompt_shapes.is_spelling(EditRequest(span, 0, len(span), instruction="fix the grammar and typos"))
    assert prompt_shapes.fit(fix, span) == (1.0, True)


def test_a_rewrite_keeps_the_line_breaks_at_the_ends_of_its_span():
    assert with_span_ends("The dog runned.\n", "The dog ran.") == "The dog ran.\n"
    assert with_span_ends("\nTwo lines\nhere", "\nTwo lines\nthere\n\n") == "\nTwo lines\nthere"


def test_a_fill_inside_a_lines_indentation_continues_that_line():
    text = "def f():\n  \n    return 1\n"
    at = text.index("\n  \n") + 3
    ctx, _ = context(text, at, language="Python")
    prompt, prefix = prompt_shapes.continuation(ctx)  # at the end of an indented empty line: break and indent
    assert prefix == "\n  " and prompt == "def f():"
    inside = "def f():\n  " + "  return 1\n"
    ctx, _ = context(inside, len("def f():\n  "), language="Python")
    assert prompt_shapes.continuation(ctx) == ("def f():\n", "  ")  # inside a line's indentation: no break expected


def test_a_chat_answers_opening_courtesy_is_not_the_text():
    for said, text in [("Sure, I'd be happy to help. Refunds are", "Refunds are"),
                       ("Here is the corrected text:\nHe goes.", "He goes."), ("The docstring is:\ndef f():", "def f():"),
                       ("The wall is tall. It", "The wall is tall. It"), ("Okay.", "Okay.")]:
        shape = OutputShape([], chat=True)
        shape.add(said)
        assert shape.text == text
    plain = OutputShape([])
    plain.add("Sure, it works.")
    assert plain.text == "Sure, it works."  # only a chat model's answer
    thanked = OutputShape([], chat=True, source="The team left before dawn.")
    thanked.add("Thanks. The team left at dawn. Thank you.")
    assert thanked.finish() == "The team left at dawn."  # a closing courtesy goes too
    letter = OutputShape([], chat=True, source="Thank you for you're letter.")
    letter.add("Thank you for your letter.")
    assert letter.finish() == "Thank you for your letter."  # a text that is one
    helped = OutputShape([], chat=True, source="We moved, and thank you to everyone who helped.")
    helped.add("We moved. Thank you to all who helped.")
    assert helped.finish() == "We moved. Thank you to all who helped."  # a span that thanks keeps its thanks


def feed(shape: OutputShape, *pieces: str) -> list[str]:
    shown = []
    for piece in pieces:
        shape.add(piece)
        shown.append(shape.text)
    return shown


def test_an_answer_ends_at_a_stop_but_not_in_its_leading_whitespace():
    shape = OutputShape(["\n"])
    assert feed(shape, "\n", "Fixed", " text", "\n", "more") == ["", "Fixed", "Fixed text", "Fixed text", "Fixed text"]
    assert shape.done and shape.text == "Fixed text"


def test_a_tail_that_may_start_a_stop_is_held_back_and_a_sentence_keeps_its_mark():
    shape = OutputShape(["\nInstruction:", *prompt_shapes.SENTENCE_ENDS])
    shown = feed(shape, "It rose", "\nInstr")
    assert shown == ["It rose", "It rose"]  # "\nInstr" may be the stop: not shown yet
    assert feed(shape, "uctions follow.") == ["It rose\nInstructions follow"] and not shape.done  # ". " may come
    assert feed(shape, " Then") == ["It rose\nInstructions follow."] and shape.done


def test_the_documents_own_whitespace_is_taken_off_the_answer():
    assert feed(OutputShape([], prefix=" "), " dough", " rises")[-1] == "dough rises"
    assert feed(OutputShape([], prefix="\n    "), "\n", "    return x")[-1] == "return x"
    assert feed(OutputShape([], prefix="\n    "), "\n  ", "return x")[-1] == "return x"  # other indentation


@pytest.mark.parametrize("text", [
    "| a | b | c | d |\n| --- | --- | --- | --- |\n", "Title\n" + "=" * 40 + "\n", "m = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n",
    "x = 1\n" + " " * 24 + "return x", "# " + "-" * 60 + "\nx = 1",
])
def test_repetitive_text_that_is_real_text_is_not_a_loop(text):
    shape = OutputShape(["\n\n"])
    for char in text:
        shape.add(char)
    assert not shape.done and shape.finish() == text


def test_a_tail_held_back_as_a_possible_stop_is_the_answers_when_the_model_ends():
    shape = OutputShape([*prompt_shapes.SENTENCE_ENDS, "\n"])
    feed(shape, "It", " was", " happy", ".")
    assert shape.text == "It was happy" and shape.finish() == "It was happy."


def test_a_courtesy_the_span_has_itself_is_kept_and_a_double_one_goes():
    kept = OutputShape([], chat=True, source="Of course, we could wait. Then we left.")
    feed(kept, "Of course, we could wait.", " Then we left.")
    assert kept.text == "Of course, we could wait. Then we left."
    double = OutputShape([], chat=True, source="She do.")
    feed(double, "Sure!", " Here is the corrected text:", "\n", "She does.")
    assert double.text == "She does."


def test_a_loop_is_cut_to_one_copy_and_a_cut_short_answer_ends_whole():
    shape = OutputShape([])
    feed(shape, "Start. ", *["the same words again "] * 6)
    assert shape.done and shape.text == "Start. the same words again "
    cut = OutputShape([])
    feed(cut, "First line\n", "second line that was cut")
    assert cut.cut_short() == "First line"
    sentence = OutputShape([])
    feed(sentence, "One sentence. Two is cut")
    assert sentence.cut_short() == "One sentence."
    whole = OutputShape([])
    feed(whole, "One sentence. Two is whole.")
    assert whole.cut_short() == "One sentence. Two is whole."


# -- the bundled SmolLM2, through the engine -------------------------------------------------------------

DOC = "Notes from the trip.\n\nTeh volunteers were verry suprised by the wall.\n\nThe end.\n"


@pytest.fixture(scope="module")
def smol():
    with Engine() as engine:
        info = engine.load(lambda: backend_for(BUNDLED)).result()
        assert info.details["prompt"] == "short-chat"
        yield engine


def test_a_typo_sentence_comes_back_as_one_line_with_fixes_and_nothing_leaked(smol):
    start = DOC.index("Teh")
    end = DOC.index("\n", start)
    result = smol.edit(EditRequest(DOC, start, end, instruction="fix the typos", seed=0))
    assert result.ok and "\n" not in result.text.strip() and result.text.strip()
    assert result.text != DOC[start:end]
    for leaked in ("fix the typos", "<", "Original", "Edited", "editor"):
        assert leaked not in result.text
    # Greedy: the best guess again, the same text; "Try again" samples another.
    again = smol.edit(EditRequest(DOC, start, end, instruction="fix the typos", seed=1))
    assert again.text == result.text
    varied = {smol.edit(EditRequest(DOC, start, end, instruction="fix the typos", seed=s, varied=True)).text for s in range(6)}
    assert len(varied) >= 2


def test_a_fill_between_sentences_stays_on_its_line_and_ends_its_sentence(smol):
    text = "Making bread takes patience. First, mix the flour and water. After that, bake it.\n"
    at = text.index(" After") + 1
    result = smol.edit(EditRequest(text, at, at, mode="fill", seed=0))
    assert result.ok and "\n" not in result.text and not result.text.startswith(" ")
    assert result.text.rstrip()[-1:] in ".!?" or result.stop_reason == "length"


# -- bad input with the bundled model: a clear line or a usable edit, never a silent cut or leaked prompt ---


def test_a_whitespace_span_is_refused_in_one_line(smol):
    text = "First paragraph.\n\n   \n\nSecond paragraph.\n"
    start = text.index("   ")
    result = smol.edit(EditRequest(text, start - 1, start + 4, instruction="fix it"))
    assert (result.stop_reason, result.error) == ("error", "the selection is only whitespace: select the text to rewrite")


def test_a_whole_document_selection_is_a_clear_message_not_a_silent_cut(smol):
    text = "\n\n".join(f"Paragraph {n} says teh same thing agian, with a few typos in it." for n in range(40))
    result = smol.edit(EditRequest(text, 0, len(text), instruction="fix the typos"))
    assert result.stop_reason == "error" and "\n" not in result.error
    assert "this small model rewrites at most 256" in result.error and "select less" in result.error


@pytest.mark.parametrize("instruction", ["", "corrige les fautes d'orthographe", "修正拼写错误"])
def test_an_empty_or_foreign_instruction_gives_an_edit_or_the_one_line_never_prompt_text(smol, instruction):
    start = DOC.index("Teh")
    end = DOC.index("\n", start)
    result = smol.edit(EditRequest(DOC, start, end, instruction=instruction, seed=0))
    if result.stop_reason == "error":
        assert result.error == "the model returned nothing usable; the text is unchanged" or "prompt text" in result.error
    else:
        assert result.text.strip() and "\n" not in result.text.strip()
        assert "<redraft" not in result.text and (not instruction or instruction not in result.text)
