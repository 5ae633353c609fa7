"""The DiffusionGemma backend on the tiny random-weight model: what tok/s counts, how a run ends, and what of
the request reaches the prompt (its context budget and language)."""

import threading
import time

import pytest
import torch

from engine import EditRequest, backend_for
from engine.backends.diffusion_gemma import _DraftTap
from engine.detokenize import Detokenizer
from tests.tiny_models import EOS, PAD, build_tokenizer

DOC = "def area(r):\n    return 3.14 * r * r\n\nprint(area(2))\n"
SPAN = (DOC.index("return"), DOC.index("\n\n"))


def tap(max_steps=8, blocks=1):
    tokenizer = build_tokenizer()
    special = set(tokenizer.all_special_ids)
    drafts = []
    t = _DraftTap(Detokenizer(tokenizer), {EOS}, special, max_steps, 32, blocks, time.perf_counter(), drafts.append,
                  threading.Event())
    return tokenizer, t, drafts


def ids(tokenizer, text):
    return tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids


def test_tokens_count_the_decoded_text_not_canvas_positions():
    tokenizer, t, drafts = tap()
    start_of_turn = tokenizer.convert_tokens_to_ids("<start_of_turn>")
    canvas = ids(tokenizer, "ab") + [PAD, start_of_turn] + ids(tokenizer, "c") + [EOS] + ids(tokenizer, "zzzz")
    t.put_draft(torch.tensor([canvas]))
    assert drafts[-1].text == "abc"
    assert t.tokens == 3  # not 5 (positions before the end token), not 11 (the canvas)
    assert t.ended and t.stop_reason() == "eos"


def test_a_canvas_without_an_end_token_stops_for_length():
    tokenizer, t, _ = tap(max_steps=2)
    t.put_draft(torch.tensor([ids(tokenizer, "abc") + [EOS]]))
    t.put_draft(torch.tensor([ids(tokenizer, "abcd")]))  # the last step's canvas is what counts
    assert not t.ended and t.stop_reason() == "length"  # cut off, even though the steps ran out too
    t.put_draft(torch.tensor([ids(tokenizer, "ab") + [EOS, EOS]]))
    assert t.stop_reason() == "max_steps"  # ended, but the block never settled


def test_committed_blocks_are_settled_and_the_steps_count_within_a_block():
    tokenizer, t, drafts = tap(max_steps=4, blocks=3)
    t.put(torch.tensor([[5, 6]]))  # the prompt
    t.put_draft(torch.tensor([ids(tokenizer, "one ")]))
    t.put_draft(torch.tensor([ids(tokenizer, "two ")]))
    t.put(torch.tensor([ids(tokenizer, "two ")]))  # block 1 committed
    t.put_draft(torch.tensor([ids(tokenizer, "end") + [EOS]]))
    assert [(d.block, d.blocks, d.step) for d in drafts] == [(1, 3, 1), (1, 3, 2), (2, 3, 1)]
    assert drafts[-1].text == "two end" and drafts[-1].settled == 4  # "two " is settled text
    assert drafts[-1].changed[:4] == (False,) * 4 and all(drafts[-1].changed[4:])
    assert drafts[-1].progress == "block 2/3 · step 1/4"
    t.put(torch.tensor([ids(tokenizer, "end") + [EOS]]))  # the end token ends the run: block 3 never starts
    assert t.committed_all and t.block == 2 and t.stop_reason() == "eos" and t.steps == 3


@pytest.fixture(scope="module")
def backend(checkpoint):
    b = backend_for(str(checkpoint), device="cpu")
    b.load()
    yield b
    b.close()


def run(backend, **kw):
    drafts = []
    result = backend.edit(EditRequest(DOC, *SPAN, **{"seed": 5, "steps": 3, **kw}), drafts.append, threading.Event())
    return result, drafts


def test_random_weights_fill_the_canvas_and_stop_for_length_with_consistent_tok_s(backend):
    result, drafts = run(backend)
    assert result.stop_reason == "length" and result.text == drafts[-1].text
    assert 0 < result.tokens <= len(drafts[-1].pieces) * 4  # each piece is at most a 4-byte character's tokens
    assert result.tokens <= 64  # two canvases: the span's 19 tokens with room for a longer answer (36) need two
    assert result.blocks == 2 and {d.block for d in drafts} == {1, 2}
    assert result.tokens_per_s == pytest.approx(result.tokens / result.elapsed_s)


def test_the_context_budget_comes_from_the_request(backend):
    with pytest.raises(Exception, match="over the context budget of 8 tokens"):
        run(backend, context_budget=8)
    wide, _ = run(backend)
    narrow, _ = run(backend, context_budget=24)  # the span's line only: the prompt differs, so does the output
    assert wide.text != narrow.text
    assert run(backend)[0].text == wide.text  # same seed, same prompt: same text


def test_the_language_reaches_the_prompt(backend):
    plain, _ = run(backend)
    python, _ = run(backend, language="python")
    assert python.text != plain.text
    assert run(backend, language="python")[0].text == python.text


def test_four_bit_only_on_cuda_with_bitsandbytes_when_bf16_does_not_fit():
    from engine.backends.diffusion_gemma import four_bit_needed

    gb = 1_000_000_000
    assert four_bit_needed("cuda", 50 * gb, 40 * gb, True)  # the 26B model on a 40 GB card
    assert not four_bit_needed("cuda", 50 * gb, 80 * gb, True)  # bf16 fits: the released quality
    assert not four_bit_needed("cuda", 50 * gb, 40 * gb, False)  # no bitsandbytes: bf16 (and an honest OOM)
    assert not four_bit_needed("mps", 50 * gb, None, True)  # bitsandbytes needs CUDA
    assert not four_bit_needed("cpu", 50 * gb, None, True)


# -- the chat template renders in engine.chat_template's sandbox, with limits -----------------------------


def test_the_prompt_tokens_are_what_apply_chat_template_gives(backend):
    from engine.prompt import build_context

    request = EditRequest(DOC, *SPAN, instruction="add «type hints» & <docs>", language="python")
    messages = build_context(request, backend.count_tokens, request.context_budget).messages()
    expected = backend.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    assert torch.equal(backend._prompt_ids(messages, threading.Event()), expected)


@pytest.fixture
def hostile_checkpoint(checkpoint, tmp_path):
    """The tiny checkpoint with its chat template replaced."""
    import shutil

    def make(template):
        folder = tmp_path / "hostile"
        shutil.copytree(checkpoint, folder, dirs_exist_ok=True)
        (folder / "chat_template.jinja").write_text(template)
        b = backend_for(str(folder), device="cpu")
        b.load()
        return b

    return make


def test_a_hostile_chat_template_fails_the_edit_in_one_line(hostile_checkpoint):
    import tracemalloc

    from engine.types import RequestError

    b = hostile_checkpoint("{{ 'x' * 200000000 }}")
    tracemalloc.start()
    try:
        with pytest.raises(RequestError) as caught:
            b.edit(EditRequest(DOC, *SPAN, seed=0, steps=2), lambda d: None, threading.Event())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        b.close()
    assert str(caught.value).startswith("the model's chat template exceeded") and "\n" not in str(caught.value)
    assert peak < 64 << 20


def test_a_cancel_stops_an_endless_chat_template(hostile_checkpoint, monkeypatch):
    import engine.chat_template

    monkeypatch.setattr(engine.chat_template, "TIME_BUDGET_S", 120.0)  # only the cancel can end it
    endless = "{% for i in range(9999) %}{% for j in range(9999) %}{% for k in range(9999) %}"
    b = hostile_checkpoint(endless + "{% endfor %}{% endfor %}{% endfor %}")
    cancel, results = threading.Event(), []
    worker = threading.Thread(
        target=lambda: results.append(b.edit(EditRequest(DOC, *SPAN, seed=0, steps=2), lambda d: None, cancel)),
        daemon=True,
    )
    try:
        worker.start()
        cancel.set()
        worker.join(120)  # a hang guard, not a timing: without the cancel inside the render it never returns
    finally:
        if not worker.is_alive():
            b.close()
    assert results and results[0].stop_reason == "cancelled" and results[0].text == ""


def test_a_settled_row_of_a_batch_is_no_new_step():
    tokenizer, t, drafts = tap(max_steps=8)
    first, other = ids(tokenizer, "ab") + [EOS], ids(tokenizer, "xyz")
    t.put_draft(torch.tensor([first, other]))
    t.put_draft(torch.tensor([first, ids(tokenizer, "xyw")]))  # row 0 settled; row 1 still denoising
    assert len(drafts) == 1 and t.steps == 1 and t.stop_reason() == "eos"
