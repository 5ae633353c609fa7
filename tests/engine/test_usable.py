"""An empty or leaked answer is never offered as an edit (engine/usable.py, applied by the engine)."""

import pytest

from engine import EditRequest, Engine
from engine.backends.remote import RemoteBackend
from engine.usable import NOTHING, unusable
from tests.engine.backends.test_remote import Fake, fake, finish_chunk  # noqa: F401 - the server fixture

DOC = "Dear team,\nThe meeting moved to Tuesday.\nRegards\n"
SPAN = "The meeting moved to Tuesday."


def request(instruction: str = "make it formal", text: str = DOC, mode: str = "rewrite") -> EditRequest:
    start = text.index(SPAN)
    return EditRequest(text, start, start + len(SPAN), instruction=instruction, mode=mode)


@pytest.mark.parametrize("answer", ["", "   ", "\n\n"])
def test_nothing_is_not_an_edit(answer):
    assert unusable(request(), answer) == NOTHING


def test_an_empty_answer_to_a_deletion_is_an_edit():
    assert unusable(request("delete this sentence"), "") is None
    assert unusable(request("delete this sentence"), "  ") == NOTHING  # whitespace is not a deletion


@pytest.mark.parametrize("answer", ["<redraft-span>The meeting</redraft-span>", "Sure<end_of_turn>", "<|im_start|>x"])
def test_prompt_scaffolding_is_not_an_edit(answer):
    assert "prompt text" in unusable(request(), answer)


def test_markers_the_document_itself_holds_are_fine():
    doc = "Gemma turns end with <end_of_turn>.\n" + DOC
    assert unusable(request(text=doc), "The meeting is on Tuesday <end_of_turn>") is None


def test_the_engine_turns_an_empty_or_leaked_answer_into_an_error_result(fake):
    """A real OpenAI-compatible server on 127.0.0.1 answering nothing, then scaffolding, then a sentence."""
    answers = iter(["", "<end_of_turn>", "The meeting is now on Tuesday."])

    def answer(handler):
        handler.start_stream()
        text = next(answers)
        if text:
            handler.event(text)
        handler.wfile.write(finish_chunk("stop") + b"data: [DONE]\n\n")

    with Engine() as engine:
        engine.load(lambda: RemoteBackend(fake(on_post=answer))).result(10)
        empty, leaked, good = (engine.edit(request()) for _ in range(3))
    assert (empty.stop_reason, empty.error) == ("error", NOTHING)
    assert leaked.stop_reason == "error" and "prompt text" in leaked.error
    assert (good.stop_reason, good.text) == ("eos", "The meeting is now on Tuesday.")


def test_an_echoed_worked_example_is_prompt_text_unless_the_document_has_it():
    from engine.prompt import EXAMPLES

    echoed = EXAMPLES[-1][1]  # what the held-out run saw a small model answer for a type-hints span
    assert "prompt text" in unusable(request(), echoed)
    assert unusable(request(text=f"{DOC}\nQuoted: {echoed}"), echoed) is None
    first = echoed.split("? ")[0] + "?"  # the same echo with its closing courtesy cut (output_shape.py)
    assert "prompt text" in unusable(request(), first)
    typo = "Hey, can you send me the reprot by tomorrow?"  # the span, fixed, happens to be the example's sentence
    text = f"Notes.\n{typo}\n"
    assert unusable(EditRequest(text, 7, 7 + len(typo), instruction="fix the typos"), first) is None


def test_a_draft_gets_the_spans_line_ends_as_pieces_of_their_own():
    from engine import Draft
    from engine.span_ends import draft_with_span_ends

    draft = Draft(step=1, max_steps=2, text="\nab\n\n", pieces=("\n", "ab\n", "\n"), confidence=(0.2, 0.3, 0.4),
                  changed=(True, True, True), settled=1)
    shown = draft_with_span_ends("\n\nold line\n", draft)
    assert shown.pieces == ("\n\n", "", "ab", "", "\n") and shown.text == "\n\nab\n"
    assert shown.changed == (False, True, True, True, False) and shown.confidence == (1.0, 0.2, 0.3, 0.4, 1.0)
    assert shown.settled == 2
    # A span without line breaks at its ends: the draft as it came (the result loses its line ends at the end).
    assert draft_with_span_ends("old", draft) is draft


def test_a_masked_piece_is_never_offered_nor_kept():
    import pytest

    from engine import PLACEHOLDER, EditRequest
    from engine.usable import unusable

    request = EditRequest("The cat sat.", 4, 7)
    assert "masked pieces" in unusable(request, f"dog{PLACEHOLDER}")
    assert unusable(request, "dog") is None
    with pytest.raises(ValueError, match="masked piece"):
        EditRequest("The cat sat.", 4, 7, warm_start=f"a{PLACEHOLDER}b", keep=((0, 2),))
