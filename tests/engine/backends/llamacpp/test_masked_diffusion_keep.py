"""Keep words and re-noise the rest on llama.cpp masked diffusion, through the real llama.cpp and the real
engine, on a tiny random-weight LLaDA whose choices are whole words (one piece per canvas position)."""

import dataclasses
import threading

import numpy as np
import pytest

from engine import EditRequest, Engine
from engine.backends.llamacpp.masked_diffusion import PLACEHOLDER, LlamaDiffusionBackend
from engine.backends.llamacpp.unmasking import UnmaskingParams
from tests.llada_gguf import EOT, MASK, write_llada_gguf

DOC = "The dog sat.\nthe cat was on the mat.\nthe end.\n"
START, END = DOC.index("the cat"), DOC.index("\nthe end")
# A draft of that span, as an earlier run left it: 16 word tokens, one piece each.
WARM = " the cat sat on the mat and the dog ran in a big red house was"
PARAMS = UnmaskingParams(steps=16, threshold=1.01, temperature=1.0)  # one commit a step: many drafts


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    return write_llada_gguf(tmp_path_factory.mktemp("gguf") / "words.gguf", words_only=True)


def run(path, request, params=PARAMS):
    """One edit through the engine; (result, drafts, the sequences the forward pass ran on)."""
    backend = LlamaDiffusionBackend(str(path), params=params)
    drafts, sequences = [], []
    with Engine() as eng:
        eng.load(lambda: backend).result()
        real = backend._forward

        def forward(sequence, positions):
            sequences.append(sequence.copy())
            return real(sequence, positions)

        backend._forward = forward
        return eng.edit(request, drafts.append), drafts, sequences


def at(text: str, word: str) -> tuple[int, int]:
    start = text.index(word)
    return start, start + len(word)


def test_kept_words_stay_fixed_in_every_draft_and_only_the_rest_changes(words):
    keep = (at(WARM, " cat"), at(WARM, " mat and"))  # tokens 1, 5 and 6 of 16
    request = EditRequest(DOC, START, END, seed=0, warm_start=WARM, keep=keep)
    result, drafts, sequences = run(words, request)
    pieces = WARM.replace(" ", "\n ").split("\n")[1:]  # " the", " cat", ...: the warm start's tokens
    kept = [1, 5, 6]
    assert result.ok and result.stop_reason == "length" and result.tokens == len(pieces) == 16
    assert len(drafts) == 16 - len(kept) and result.blocks == 1  # one commit per step, kept ones never
    for draft in drafts:
        assert len(draft.pieces) == 16 and [draft.pieces[i] for i in kept] == [" cat", " mat", " and"]
        assert not any(draft.changed[i] for i in kept) and all(draft.confidence[i] == 1.0 for i in kept)
        assert sum(draft.changed) == 1
        assert [i for i, k in enumerate(draft.kept) if k] == kept  # the app pins exactly these pieces
    # The canvas began as the kept tokens among masks; the model never saw the other warm-start tokens.
    start = int(np.flatnonzero(sequences[0] == MASK)[0])  # the canvas's first token is not kept
    first = sequences[0][start : start + 16]
    assert [i for i in range(16) if first[i] != MASK] == kept
    assert " cat" in result.text and " mat and" in result.text and PLACEHOLDER not in result.text


def test_a_kept_word_keeps_the_token_it_is_in(words):
    keep = (at(WARM, "cat"),)  # without its leading space: the token " cat" is kept whole
    result, drafts, _ = run(words, EditRequest(DOC, START, END, seed=0, warm_start=WARM, keep=keep))
    assert all([p for p, k in zip(d.pieces, d.kept) if k] == [" cat"] for d in drafts)
    assert " cat" in result.text


def test_renoise_only_this_leaves_the_rest_identical(words):
    middle = at(WARM, " on the mat and")
    keep = ((0, middle[0]), (middle[1], len(WARM)))  # everything but the selection
    request = EditRequest(DOC, START, END, seed=4, warm_start=WARM, keep=keep)
    result, drafts, _ = run(words, request)
    head, tail = WARM[: middle[0]], WARM[middle[1] :]
    assert result.ok and len(drafts) == 4  # the four tokens of " on the mat and", one a step
    for draft in [*drafts, result]:
        assert draft.text.startswith(head) and draft.text.endswith(tail)
    assert [sum(d.changed) for d in drafts] == [1, 1, 1, 1]
    assert all(not any(d.changed[:3]) and not any(d.changed[7:]) for d in drafts)
    assert result.text[len(head) : len(result.text) - len(tail)] != WARM[middle[0] : middle[1]]  # re-noised


def test_a_warm_start_without_kept_ranges_is_a_fresh_canvas_of_its_length(words):
    fresh = EditRequest(DOC, START, END, seed=2, max_new_tokens=16)
    warm = EditRequest(DOC, START, END, seed=2, warm_start=WARM)
    result_fresh, drafts_fresh, sequences_fresh = run(words, fresh)
    result_warm, drafts_warm, sequences_warm = run(words, warm)
    untimed = lambda drafts: [dataclasses.replace(d, elapsed_s=0.0) for d in drafts]  # noqa: E731
    assert result_warm.text == result_fresh.text and untimed(drafts_warm) == untimed(drafts_fresh)
    assert all(np.array_equal(a, b) for a, b in zip(sequences_warm, sequences_fresh))
    assert (sequences_warm[0] == MASK).sum() == 16


def test_keeping_every_word_changes_nothing(words):
    request = EditRequest(DOC, START, END, seed=0, warm_start=WARM, keep=((0, len(WARM)),))
    result, drafts, sequences = run(words, request)
    assert result.text == WARM and result.stop_reason == "converged" and not drafts and not sequences


def test_a_long_warm_start_keeps_its_words_across_blocks(words):
    warm = WARM * 5  # 80 tokens: three blocks
    keep = tuple((i * len(WARM) + at(WARM, " big")[0], i * len(WARM) + at(WARM, " big")[1]) for i in range(5))
    result, drafts, _ = run(words, EditRequest(DOC, START, END, seed=1, warm_start=warm, keep=keep))
    assert result.blocks == 3 and {d.blocks for d in drafts} == {3}
    for draft in drafts:
        assert [draft.pieces[16 * i + 12] for i in range(5)] == [" big"] * 5


def test_an_end_token_never_lands_before_a_kept_word(tmp_path):
    """A model that wants to end the text at once: before the kept word it cannot, after it it does."""
    backend = LlamaDiffusionBackend(str(write_llada_gguf(tmp_path / "t.gguf")), params=UnmaskingParams(steps=4))
    backend.load()
    try:
        cat = backend.tokenize(" cat")[0]

        def forward(sequence, positions):
            logits = np.zeros((len(positions), backend._n_vocab), dtype=np.float32)
            logits[:, EOT] = 30.0  # sure the text ends here...
            logits[:, cat] = 20.0  # ...else " cat"
            return logits

        backend._forward = forward
        warm = " the dog ran in the house"
        request = EditRequest("x", 0, 1, seed=0, warm_start=warm, keep=(at(warm, " ran"),))
        result = backend.edit(request, lambda d: None, threading.Event())
        assert result.text == " cat cat ran" and result.stop_reason == "eos"
    finally:
        backend.close()


def test_the_engine_serves_warm_starts_for_this_backend(words):
    backend = LlamaDiffusionBackend(str(words), params=PARAMS)
    with Engine() as eng:
        assert eng.load(lambda: backend).result().can_keep
        result = eng.edit(EditRequest(DOC, START, END, seed=0, warm_start=WARM, keep=(at(WARM, " cat"),)))
        assert result.ok and result.error is None


def test_a_warm_start_over_the_models_context_is_refused_in_one_line(words):
    warm = WARM * 20  # 320 tokens; the model holds 256
    result, drafts, _ = run(words, EditRequest(DOC, START, END, seed=0, warm_start=warm, keep=((0, 4),)))
    assert result.stop_reason == "error" and not drafts
    assert result.error == "the draft to re-noise is 320 tokens, more than this model's 256-token context holds: select less"
