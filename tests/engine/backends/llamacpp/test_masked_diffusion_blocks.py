"""Long spans on llama.cpp masked diffusion: semi-autoregressive blocks through the real llama.cpp and the real
engine, on a tiny random-weight LLaDA whose choices are whole words (one piece per canvas position)."""

import threading

import numpy as np
import pytest

from engine import EditRequest, Engine
from engine.backends.llamacpp.masked_diffusion import PLACEHOLDER, LlamaDiffusionBackend
from engine.backends.llamacpp.unmasking import UnmaskingParams
from tests.llada_gguf import EOT, MASK, write_llada_gguf

SENTENCE = "the big red house was on the mat and the cat ran in. "
SPAN = SENTENCE * 8  # 115 tokens: 115 + 28 + 4 = 147 masks, five blocks of 32 (the last of 19)
DOC = "The dog sat.\n" + SPAN + "\nthe end, a café.\n"
START, END = DOC.index(SPAN), DOC.index(SPAN) + len(SPAN)
CANVAS, BLOCKS = 147, 5
PARAMS = UnmaskingParams(steps=40, threshold=0.9, temperature=0.3)
ONE_BY_ONE = UnmaskingParams(steps=40, threshold=1.01, temperature=0.3)  # each block takes its whole share


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    return write_llada_gguf(tmp_path_factory.mktemp("gguf") / "words.gguf", words_only=True)


def run(path, request, params=PARAMS, on_draft=None):
    """One edit through the engine; (result, drafts, sequences the forward pass ran on, positions it read)."""
    backend = LlamaDiffusionBackend(str(path), params=params)
    drafts, sequences, reads = [], [], []
    with Engine() as eng:
        eng.load(lambda: backend).result()
        real = backend._forward

        def forward(sequence, positions):  # the real pass, recorded
            sequences.append(sequence.copy())
            reads.append(positions.copy())
            return real(sequence, positions)

        backend._forward = forward

        def keep(draft):
            drafts.append(draft)
            if on_draft:
                on_draft(eng, draft)

        return eng.edit(request, keep), drafts, sequences, reads


def test_a_long_span_commits_block_by_block_left_to_right(words):
    request = EditRequest(DOC, START, END, seed=0)
    result, drafts, sequences, reads = run(words, request, ONE_BY_ONE)
    assert result.ok and result.stop_reason == "length"  # this model never ends the text
    assert result.blocks == BLOCKS and len({d.block for d in drafts}) == BLOCKS >= 3
    assert [d.block for d in drafts] == sorted(d.block for d in drafts)
    assert result.steps == len(drafts) == len(sequences) and result.tokens == CANVAS
    assert result.tokens_per_s == pytest.approx(CANVAS / result.elapsed_s)
    start = int(np.flatnonzero(sequences[0] == MASK)[0])  # the canvas's first position in the sequence
    for draft, sequence, read in zip(drafts, sequences, reads):
        low, high = 32 * (draft.block - 1), min(32 * draft.block, CANVAS)
        assert draft.blocks == BLOCKS and len(draft.pieces) == CANVAS  # the whole canvas, one piece a position
        assert draft.progress == f"block {draft.block}/{BLOCKS} · step {draft.step}/{draft.max_steps}"
        # Only the current block's masks are predicted; the later blocks are masks the model sees.
        assert np.all((read >= start + low) & (read < start + high))
        assert np.all(sequence[start + high : start + CANVAS] == MASK)
        assert PLACEHOLDER not in draft.pieces[:low] and draft.pieces[high:] == (PLACEHOLDER,) * (CANVAS - high)
        assert draft.settled == low and not any(draft.changed[:low]) and not any(draft.changed[high:])
    # The run's 40 steps are shared among the five blocks by their masks (32, 32, 32, 32, 19): all are used.
    budgets = {d.block: d.max_steps for d in drafts}
    assert [budgets[b] for b in range(1, BLOCKS + 1)] == [8, 9, 9, 8, 6] and len(drafts) == 40
    assert PLACEHOLDER not in result.text and result.text == drafts[-1].text


def test_a_committed_block_never_changes_after_its_block_ends(words):
    result, drafts, _, _ = run(words, EditRequest(DOC, START, END, seed=3))
    assert result.blocks == BLOCKS
    for i, draft in enumerate(drafts):
        for later in drafts[i + 1 :]:
            assert later.pieces[: draft.settled] == draft.pieces[: draft.settled]
            assert later.settled >= draft.settled
    assert result.text.startswith("".join(drafts[-1].pieces[: drafts[-1].settled]))


def test_the_document_outside_a_long_span_is_byte_identical(words):
    request = EditRequest(DOC, START, END, seed=1)
    result, _, _, _ = run(words, request)
    document = request.splice(result.text).encode("utf-8")
    before, after = DOC[:START].encode("utf-8"), DOC[END:].encode("utf-8")
    assert result.ok and result.blocks == BLOCKS
    assert document[: len(before)] == before and document[len(document) - len(after) :] == after
    assert document[len(before) : len(document) - len(after)] == result.text.encode("utf-8")


def test_a_cancel_in_a_later_block_stops_within_one_step(words):
    def on_draft(eng, draft):
        if draft.block == 2:
            eng.cancel()

    result, drafts, _, _ = run(words, EditRequest(DOC, START, END, seed=0), on_draft=on_draft)
    assert result.stop_reason == "cancelled" and result.text == ""
    assert [d.block for d in drafts][-1] == 2 and sum(d.block == 2 for d in drafts) == 1


def test_fewer_steps_than_blocks_take_one_step_per_block(words):
    result, drafts, _, _ = run(words, EditRequest(DOC, START, END, seed=0, steps=3))
    assert result.blocks == BLOCKS and result.steps == BLOCKS == len(drafts)
    assert [(d.block, d.step, d.max_steps) for d in drafts] == [(b, 1, 1) for b in range(1, BLOCKS + 1)]
    assert PLACEHOLDER not in result.text


def test_a_block_as_long_as_the_canvas_is_one_block(words):
    result, drafts, _, reads = run(words, EditRequest(DOC, START, END, seed=0), UnmaskingParams(steps=40, block_length=256))
    assert result.blocks == 1 and {d.blocks for d in drafts} == {1} and drafts[0].progress.startswith("step 1/40")
    assert len(reads[0]) == CANVAS and all(d.settled == 0 for d in drafts)


def _scripted(choice):
    return choice if isinstance(choice, tuple) else (choice, 30.0)


@pytest.fixture
def scripted(tmp_path):
    """The real backend (tokenizer, schedule, sampler, detokenizer) with a scripted forward pass:
    `script(backend, p)` is the token the model is sure of at sequence position p (the canvas starts at 1),
    or (token, logit) for a less sure one (the others get logit 0; a sure one 30)."""
    backends = []

    def make(script, params):
        backend = LlamaDiffusionBackend(str(write_llada_gguf(tmp_path / "tiny.gguf")), params=params)
        backend.load()
        backends.append(backend)
        reads = []

        def forward(sequence, positions):
            reads.append(positions.copy())
            logits = np.zeros((len(positions), backend._n_vocab), dtype=np.float32)
            for row, position in enumerate(positions):
                token, logit = _scripted(script(backend, int(position)))
                logits[row, token] = logit
            return logits

        backend._forward = forward
        return backend, reads

    yield make
    for backend in backends:
        backend.close()


def test_the_run_ends_with_the_block_holding_the_end_token(scripted):
    """The model ends the text at canvas position 40 (block 2 of 4): blocks 3 and 4 are never denoised."""
    backend, reads = scripted(lambda b, p: EOT if p == 41 else b.tokenize(" cat")[0], UnmaskingParams(steps=8))
    drafts = []
    result = backend.edit(EditRequest("dog", 0, 3, max_new_tokens=128, seed=0), drafts.append, threading.Event())
    assert result.stop_reason == "eos" and result.blocks == 2 and result.text == " cat" * 40 and result.tokens == 40
    assert max(int(r.max()) for r in reads) <= 64 and {d.block for d in drafts} == {1, 2}
    assert {d.blocks for d in drafts} == {4}


def test_an_end_token_in_the_last_block_is_eos_and_none_is_length(scripted):
    backend, _ = scripted(lambda b, p: EOT if p == 100 else b.tokenize(" cat")[0], UnmaskingParams(steps=8))
    result = backend.edit(EditRequest("dog", 0, 3, max_new_tokens=100, seed=0), lambda d: None, threading.Event())
    assert result.stop_reason == "eos" and result.blocks == 4 and result.tokens == 99
    backend, _ = scripted(lambda b, p: b.tokenize(" cat")[0], UnmaskingParams(steps=8))
    result = backend.edit(EditRequest("dog", 0, 3, max_new_tokens=100, seed=0), lambda d: None, threading.Event())
    assert result.stop_reason == "length" and result.blocks == 4 and result.text == " cat" * 100


def test_the_block_length_is_in_the_models_details(words):
    backend = LlamaDiffusionBackend(str(words), params=UnmaskingParams(block_length=16))
    try:
        info = backend.load()
        assert info.details["block_length"] == "16" and info.can_keep
    finally:
        backend.close()


def test_a_character_cut_by_the_next_blocks_mask_is_not_settled(scripted):
    """Block 1 ends with the first byte of "é", block 2 starts with its second, which the model is unsure of:
    while that position is masked, the half character at the end of block 1 is no settled piece."""

    def script(b, p):
        first, second = b.tokenize("é")
        return {32: first, 33: (second, 5.0)}.get(p, b.tokenize(" cat")[0])

    backend, _ = scripted(script, UnmaskingParams(steps=8, threshold=0.5))
    drafts = []
    result = backend.edit(EditRequest("dog", 0, 3, max_new_tokens=40, seed=0), drafts.append, threading.Event())
    assert result.text == " cat" * 31 + "é" + " cat" * 7 and result.blocks == 2
    cut = next(d for d in drafts if d.block == 2)
    assert cut.pieces[31] == "\ufffd" and cut.pieces[32] == PLACEHOLDER and cut.settled == 31
    for i, draft in enumerate(drafts):
        for later in drafts[i + 1 :]:
            assert later.pieces[: draft.settled] == draft.pieces[: draft.settled]
    assert drafts[-1].pieces[31] == "é" and drafts[-1].settled == 31
