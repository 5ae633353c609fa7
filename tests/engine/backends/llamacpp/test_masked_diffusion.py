"""Masked-diffusion GGUFs through the real llama.cpp and the real engine, on a tiny random-weight LLaDA."""

import threading

import numpy as np
import pytest

from engine import EditRequest, Engine, EngineError, backend_for
from engine.backends.llamacpp.masked_diffusion import (
    MASKED_DIFFUSION_BUDGET,
    MAX_SEQUENCE,
    PLACEHOLDER,
    LlamaDiffusionBackend,
)
from engine.backends.llamacpp.unmasking import UnmaskingParams
from tests.llada_gguf import EOS, EOT, MASK, write_llada_gguf
from engine.models.gguf_header import MAX_CONTEXT

DOC = "the cat sat on the mat.\nThe dog ran in the big red house and was happy.\nthe end, a café.\n"
SPAN = (DOC.index("The dog"), DOC.index(" and was"))
EASY = UnmaskingParams(steps=16, threshold=0.6, temperature=0.0)  # this model is sure of a few tokens
ONE_BY_ONE = UnmaskingParams(steps=16, threshold=1.01, temperature=0.0)  # no score reaches it


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    return {
        "llada": write_llada_gguf(folder / "tiny-llada.gguf"),
        "no-mask": write_llada_gguf(folder / "no-mask.gguf", mask_token=False),
        "diffusion-gemma": write_llada_gguf(folder / "tiny-dg.gguf", architecture="diffusion-gemma"),
        "llama": write_llada_gguf(folder / "tiny-llama.gguf", architecture="llama"),
    }


@pytest.fixture
def run(models):
    """Run one edit through the engine with the given sampler settings; (result, drafts)."""

    def run(request, params=EASY, path=None, on_draft=None, **backend_kwargs):
        drafts = []

        def keep(draft):
            drafts.append(draft)
            if on_draft:
                on_draft(eng, draft)

        with Engine() as eng:
            eng.load(lambda: LlamaDiffusionBackend(str(path or models["llada"]), params=params, **backend_kwargs))
            return eng.edit(request, keep), drafts

    return run


def placeholders(draft) -> int:
    return draft.pieces.count(PLACEHOLDER)


def test_rewrite_fills_the_span_in_place_step_by_step(run):
    request = EditRequest(DOC, *SPAN, seed=0)
    result, drafts = run(request)
    assert result.ok and result.stop_reason in ("eos", "length") and result.steps == len(drafts) < 16
    assert PLACEHOLDER not in result.text and result.text == drafts[-1].text
    document = request.splice(result.text)
    assert document.startswith(DOC[: SPAN[0]]) and document.endswith(DOC[SPAN[1] :])
    assert [d.step for d in drafts] == list(range(1, len(drafts) + 1))
    left = [placeholders(d) for d in drafts]
    assert all(a > b for a, b in zip(left, left[1:])) and left[-1] == 0
    for draft in drafts:
        assert draft.max_steps == 16 and "".join(draft.pieces) == draft.text
        assert len(draft.pieces) == len(draft.confidence) == len(draft.changed)
        for piece, confidence, changed in zip(draft.pieces, draft.confidence, draft.changed):
            if piece == PLACEHOLDER:
                assert confidence == 0.0 and not changed
            else:
                assert 0.0 < confidence <= 1.0
        assert any(draft.changed)
    # The first draft's canvas: the span's tokens plus a quarter plus 4, all masked but what was committed.
    assert len(drafts[0].pieces) >= placeholders(drafts[0]) + sum(drafts[0].changed)


def test_a_threshold_commits_several_tokens_per_forward_pass(run):
    request = EditRequest(DOC, *SPAN, seed=0, max_new_tokens=16)
    result, drafts = run(request, EASY)
    committed = [16 - placeholders(drafts[0])] + [placeholders(a) - placeholders(b) for a, b in zip(drafts, drafts[1:])]
    assert sum(committed) == 16 and max(committed) > 1 and result.steps < 16
    result, drafts = run(request, ONE_BY_ONE)
    assert [placeholders(d) for d in drafts] == list(range(15, -1, -1))
    assert result.stop_reason in ("eos", "length") and result.steps == 16
    assert all(sum(d.changed) == 1 for d in drafts)


def test_fewer_steps_than_masks_still_fills_every_mask(run):
    result, drafts = run(EditRequest(DOC, *SPAN, seed=0, max_new_tokens=20, steps=3), ONE_BY_ONE)
    assert [placeholders(d) for d in drafts] == [13, 6, 0] and result.stop_reason in ("eos", "length")


def test_fill_inserts_at_the_cursor(run):
    at = DOC.index("\nthe end")
    request = EditRequest(DOC, at, at, mode="fill", seed=3)
    result, drafts = run(request, UnmaskingParams(steps=40, threshold=0.6))
    assert len(drafts[0].pieces) <= 32 and placeholders(drafts[0]) < 32  # 32 masks by default
    assert result.ok and PLACEHOLDER not in result.text
    assert request.splice(result.text) == DOC[:at] + result.text + DOC[at:]


def test_cancel_from_a_draft_stops_within_one_step(run):
    def on_draft(eng, draft):
        if draft.step == 2:
            eng.cancel()

    result, drafts = run(EditRequest(DOC, *SPAN, seed=0, max_new_tokens=16), ONE_BY_ONE, on_draft=on_draft)
    assert result.stop_reason == "cancelled" and result.text == "" and [d.step for d in drafts] == [1, 2]


def test_same_seed_same_drafts_other_seed_other_drafts(run):
    params = UnmaskingParams(steps=12, threshold=0.6, temperature=1.0)

    def drafts_for(seed):
        _, drafts = run(EditRequest(DOC, *SPAN, seed=seed), params)
        return [(d.step, d.text, d.pieces, d.confidence, d.changed) for d in drafts]

    assert drafts_for(11) == drafts_for(11) != drafts_for(12)


def test_multibyte_characters_split_over_byte_tokens_are_one_piece(models):
    backend = LlamaDiffusionBackend(str(models["llada"]))
    backend.load()
    try:
        tokens = backend.tokenize("café")
        assert len(tokens) == 5  # c, a, f and the two bytes of é
        assert backend._detokenize(tokens) == (["c", "a", "f", "é"], [[0], [1], [2], [3, 4]])
        cut = backend._detokenize([tokens[3], MASK, tokens[4], EOS])  # half a character each side of a mask
        assert cut == (["\ufffd", PLACEHOLDER, "\ufffd", ""], [[0], [1], [2], [3]])
        assert backend._detokenize(backend.tokenize(" the cat"))[0] == [" the", " cat"]
        # A broken byte then a whole character: the broken one is a piece alone, never merged into the next.
        assert backend._detokenize([tokens[3], tokens[3], tokens[4]]) == (["\ufffd", "é"], [[0], [1, 2]])
    finally:
        backend.close()


@pytest.fixture
def scripted(models):
    """The real backend (tokenizer, sampler, detokenizer) with a scripted forward pass: `script(backend, p)` is
    the token the model is sure of at sequence position p (BOS is position 0, the canvas starts at 1)."""
    backends = []

    def make(script, steps=4):
        backend = LlamaDiffusionBackend(str(models["llada"]), params=UnmaskingParams(steps=steps, threshold=0.5))
        backend.load()
        backends.append(backend)

        def forward(sequence, positions):
            logits = np.zeros((len(positions), backend._n_vocab), dtype=np.float32)
            for row, position in enumerate(positions):
                logits[row, script(backend, int(position))] = 30.0
            return logits

        backend._forward = forward
        return backend

    yield make
    for backend in backends:
        backend.close()


def edit(backend, request):
    return backend.edit(request, lambda d: None, threading.Event())


def test_trailing_end_of_text_tokens_are_trimmed(scripted):
    backend = scripted(lambda b, p: b.tokenize(" cat")[0] if p < 5 else (EOS if p % 2 else EOT))
    result = edit(backend, EditRequest("dog", 0, 3, max_new_tokens=8, seed=0))
    assert result.text == " cat" * 4 and result.tokens == 4 and result.stop_reason == "eos"


def test_the_output_ends_at_the_first_end_token(scripted):
    """The model ends the text after two words; what it wrote after the end token is not text, nor counted."""
    backend = scripted(lambda b, p: EOT if p == 3 else b.tokenize(" cat")[0])
    result = edit(backend, EditRequest("dog", 0, 3, max_new_tokens=8, seed=0))
    assert result.text == " cat" * 2 and result.tokens == 2 and result.stop_reason == "eos"
    assert result.tokens_per_s == pytest.approx(2 / result.elapsed_s)


def test_a_canvas_filled_without_an_end_token_stops_for_length(scripted):
    backend = scripted(lambda b, p: b.tokenize(" cat")[0])
    result = edit(backend, EditRequest("dog", 0, 3, max_new_tokens=6, seed=0))
    assert result.text == " cat" * 6 and result.tokens == 6 and result.stop_reason == "length"


def test_attention_is_bidirectional(models):
    """The logits at a position change when a token after it changes: each position sees the whole sequence."""
    backend = LlamaDiffusionBackend(str(models["llada"]))
    backend.load()
    try:
        sequence = np.array([1] + backend.tokenize("the cat sat on the mat") + [MASK] * 4, dtype=np.int32)
        backend._ensure_context(len(sequence))
        everywhere = np.arange(len(sequence))
        first = backend._forward(sequence, everywhere)
        changed = sequence.copy()
        changed[-2] = backend.tokenize(" dog")[0]
        second = backend._forward(changed, everywhere)
        moved = np.abs(np.delete(first, MASK, axis=1) - np.delete(second, MASK, axis=1)).max(axis=1)  # mask: -inf
        assert np.all(moved[: len(sequence) - 2] > 1e-3), moved  # every earlier row, the first word's included
    finally:
        backend.close()


def test_the_context_is_trimmed_to_the_models_context_never_the_span(models):
    filler = "the big red house was on the mat and the cat ran in.\n" * 40  # ~700 tokens a side; the model holds 256
    text = filler + "The dog sat on the mat" + "\n" + filler
    start = len(filler)
    request = EditRequest(text, start, start + len("The dog sat on the mat"), seed=0, context_budget=100_000)
    backend = LlamaDiffusionBackend(str(models["llada"]), params=EASY)
    with Engine() as eng:
        eng.load(lambda: backend).result()
        result = eng.edit(request)
        assert result.ok and PLACEHOLDER not in result.text
        assert request.splice(result.text) == filler + result.text + "\n" + filler
        assert backend.count_tokens(filler) > 600 and backend._ctx_tokens == 256  # the sequence fitted in 256


def sequence_lengths(backend) -> list[int]:
    """Record the length of every sequence the real forward pass runs on."""
    lengths, real = [], backend._forward

    def forward(sequence, positions):
        lengths.append(len(sequence))
        return real(sequence, positions)

    backend._forward = forward
    return lengths


@pytest.mark.parametrize("budget", [40, 100_000])
def test_the_context_follows_the_requests_budget_capped_for_masked_diffusion(tmp_path, budget):
    path = write_llada_gguf(tmp_path / "long.gguf", context_length=8192)
    filler = "the big red house was on the mat and the cat ran in.\n" * 200  # ~3,500 tokens a side
    text = filler + "The dog sat" + "\n" + filler
    request = EditRequest(text, len(filler), len(filler) + 11, seed=0, max_new_tokens=8, context_budget=budget)
    backend = LlamaDiffusionBackend(str(path), params=UnmaskingParams(steps=2, threshold=2.0))
    backend.load()
    try:
        lengths = sequence_lengths(backend)
        assert edit(backend, request).ok
        span = backend.count_tokens("The dog sat")
        around = lengths[0] - 1 - 8  # BOS and the masks aside
        assert min(budget, MASKED_DIFFUSION_BUDGET) - span - 40 <= around <= min(budget, MASKED_DIFFUSION_BUDGET) - span
    finally:
        backend.close()


def test_a_hostile_trained_context_is_never_the_context_size(tmp_path):
    path = write_llada_gguf(tmp_path / "hostile.gguf", context_length=MAX_CONTEXT)
    backend = LlamaDiffusionBackend(str(path), params=UnmaskingParams(steps=2, threshold=2.0))
    info = backend.load()
    try:
        assert info.details["max_sequence"] == str(MAX_SEQUENCE)
        result = edit(backend, EditRequest("the cat sat", 4, 7, seed=0, max_new_tokens=100_000))
        assert result.ok and backend._ctx_tokens == MAX_SEQUENCE  # as many masks as fit, not 100,000
    finally:
        backend.close()


def test_a_span_over_the_models_context_is_refused(run):
    text = "the cat sat on the mat. " * 60  # ~300 tokens, more than the 256 the model holds
    result, drafts = run(EditRequest(text, 0, len(text), seed=0))
    assert result.stop_reason == "error" and not drafts
    assert result.error.startswith("the selection is ") and result.error.endswith(
        "tokens, more than this model can rewrite at once (256-token context): "
        "select at most 201 tokens (about 150 words)"  # 201 + 50 + 4 = 255 masks, and BOS: 256
    )


def load_error(path) -> str:
    with Engine() as eng, pytest.raises(EngineError) as info:
        eng.load(lambda: LlamaDiffusionBackend(str(path))).result()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_truncated_gguf_is_refused_before_llama_cpp_sees_it(models, tmp_path):
    data = models["llada"].read_bytes()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(data[: len(data) // 2])
    assert load_error(broken) == (
        f"broken.gguf is truncated or not a GGUF file ({len(data) // 2:,} bytes on disk, {len(data):,} expected)"
    )


def test_an_architecture_this_llama_cpp_does_not_know(models):
    assert load_error(models["diffusion-gemma"]) == (
        "tiny-dg.gguf: this llama.cpp does not support the 'diffusion-gemma' architecture yet; "
        "for DiffusionGemma use the transformers backend with a safetensors checkpoint"
    )


def test_a_model_without_a_mask_token(models):
    assert load_error(models["no-mask"]) == (
        "no-mask.gguf has no mask token (tokenizer.ggml.mask_token_id): it cannot infill"
    )


def test_an_autoregressive_model_is_sent_elsewhere(models):
    assert load_error(models["llama"]) == (
        "tiny-llama.gguf is an autoregressive model ('llama'), not a diffusion one; "
        "it runs on the autoregressive llama.cpp backend"
    )


def test_backend_for_routes_a_diffusion_gguf_here(models):
    assert isinstance(backend_for(str(models["llada"])), LlamaDiffusionBackend)


def test_the_engine_stays_usable_after_a_failed_load(models):
    with Engine() as eng:
        with pytest.raises(EngineError):
            eng.load(lambda: LlamaDiffusionBackend(str(models["no-mask"]))).result()
        info = eng.load(lambda: LlamaDiffusionBackend(str(models["llada"]), params=EASY)).result()
        assert info.family == "masked_diffusion" and info.details["architecture"] == "llada"
        assert eng.edit(EditRequest(DOC, *SPAN, seed=0)).ok

