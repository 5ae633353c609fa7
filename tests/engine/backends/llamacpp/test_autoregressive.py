"""Autoregressive GGUFs through llama.cpp: the bundled Gemma 3 270M end to end, through the engine and the CLI;
contexts, prefill and cancel on tiny random-weight Llama GGUFs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import threading

from engine import MODEL_ENV, EditRequest, Engine, EngineError, backend_for
from engine.types import RequestError
from engine.backends.llamacpp.autoregressive import (
    CONTEXT_CAP,
    PREFILL_CHUNK,
    LlamaAutoregressiveBackend,
    context_size,
    kv_bytes_per_token,
)
from engine.models.bundled import ABOUT, BUNDLED, NAME, bundled_model_path
from engine.models.gguf_header import read_gguf
from tests.llada_gguf import write_llada_gguf
from engine.models.gguf_header import MAX_CONTEXT

DOC = "The meeting is on Monday.\nWe will discuss the budget and the new office plans.\nPlease bring your notes.\n"
SPAN = (DOC.index("We will"), DOC.index("Please") - 1)


@pytest.fixture(scope="module")
def bundled_engine():
    with Engine() as eng:
        info = eng.load(lambda: backend_for(BUNDLED)).result()
        assert info.id == NAME and info.backend == "llama.cpp" and info.details["architecture"] == "llama"
        yield eng


def test_rewrite_streams_one_draft_per_token(bundled_engine):
    drafts = []
    result = bundled_engine.edit(EditRequest(DOC, *SPAN, seed=1, max_new_tokens=24), drafts.append)
    assert result.ok and result.stop_reason in ("eos", "length") and result.text
    assert [d.step for d in drafts] == list(range(1, len(drafts) + 1)) and len(drafts) == result.tokens <= 24
    for before, after in zip(drafts, drafts[1:]):
        assert after.text.startswith(before.text) and after.changed[-1] and not any(after.changed[:-1])
    assert drafts[-1].text == result.text and "".join(drafts[-1].pieces) == result.text


def test_same_seed_same_text_and_fill_continues(bundled_engine):
    a = bundled_engine.edit(EditRequest(DOC, *SPAN, seed=5, max_new_tokens=16))
    b = bundled_engine.edit(EditRequest(DOC, *SPAN, seed=5, max_new_tokens=16))
    assert a.text == b.text
    fill = bundled_engine.edit(EditRequest(DOC, SPAN[0], SPAN[0], mode="fill", seed=1, max_new_tokens=12))
    assert fill.ok and fill.stop_reason == "length" and len(fill.text) > 0


def test_cancel_stops_within_one_token(bundled_engine):
    seen = []

    def on_draft(draft):
        seen.append(draft.step)
        if draft.step == 3:
            bundled_engine.cancel()

    result = bundled_engine.edit(EditRequest(DOC, SPAN[0], SPAN[0], mode="fill", seed=2, max_new_tokens=40), on_draft)
    assert result.stop_reason == "cancelled" and seen == [1, 2, 3]


def test_truncated_gguf_is_refused_before_llama_cpp_sees_it(tmp_path):
    data = bundled_model_path().read_bytes()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(data[: len(data) // 3])
    with Engine() as eng, pytest.raises(EngineError) as info:
        eng.load(lambda: backend_for(str(broken))).result()
    assert str(info.value) == (
        f"broken.gguf is truncated or not a GGUF file ({len(data) // 3:,} bytes on disk, {len(data):,} expected)"
    )


def test_cli_uses_the_bundled_model_when_nothing_is_chosen(tmp_path):
    path = tmp_path / "letter.txt"
    path.write_text(DOC, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != MODEL_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "rewrite", str(path), "--start", str(SPAN[0]), "--end", str(SPAN[1]),
         "--seed", "3", "--max-new-tokens", "20", "--json", "--in-place"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"redraft-cli: using {NAME}. {ABOUT}\n"
    events = [json.loads(line) for line in done.stdout.splitlines()]
    result = events[-1]
    assert result["type"] == "result" and len(events) - 1 == result["steps"] == result["tokens"]
    assert result["document"] == DOC[: SPAN[0]] + result["text"] + DOC[SPAN[1] :]
    assert Path(path).read_text(encoding="utf-8") == result["document"]


def test_the_bundled_model_loads_with_a_capped_context(bundled_engine):
    assert bundled_engine._backend.info().details["n_ctx"] == str(CONTEXT_CAP)  # trained on 32,768


# -- tiny random-weight Llama GGUFs: contexts, prefill and cancel, without the bundled model ---------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ar")
    return {
        "4k": write_llada_gguf(folder / "llama-4k.gguf", architecture="llama", context_length=4096),
        "512": write_llada_gguf(folder / "llama-512.gguf", architecture="llama", context_length=512),
        "64": write_llada_gguf(folder / "llama-64.gguf", architecture="llama", context_length=64),
        "hostile": write_llada_gguf(folder / "llama-huge.gguf", architecture="llama", context_length=MAX_CONTEXT),
        "chat": write_llada_gguf(
            folder / "llama-chat.gguf", architecture="llama", context_length=512, chat_template=CHAT_TEMPLATE
        ),
    }


CHAT_TEMPLATE = "{% for m in messages %}<s>{{ m['content'] }}</s>{% endfor %}<s>"
LINE = "the cat sat on the mat and the dog ran in the big red house.\n"  # ~14 tokens


@pytest.fixture
def loaded():
    backends = []

    def load(path, small=False):  # the tiny files are prompted as large models unless a test says so
        backend = LlamaAutoregressiveBackend(str(path), small=small)
        backend.load()
        backends.append(backend)
        return backend

    yield load
    for backend in backends:
        backend.close()


def edit(backend, request, cancel=None):
    return backend.edit(request, lambda draft: None, cancel or threading.Event())


def fill_at_end(text, **kwargs):
    return EditRequest(text, len(text), len(text), mode="fill", seed=0, **kwargs)


class CancelAfterChunks(threading.Event):
    """A cancel event that becomes set once the backend has evaluated `chunks` prompt chunks: a cancel that
    arrives during prefill, at a known point, without timing."""

    def __init__(self, backend, chunks):
        super().__init__()
        self.backend, self.chunks = backend, chunks

    def is_set(self):
        if self.backend.prefill_chunks >= self.chunks:
            self.set()
        return super().is_set()


def test_a_cancel_before_the_prompt_is_evaluated_evaluates_nothing(tiny, loaded):
    backend = loaded(tiny["4k"])
    cancel = threading.Event()
    cancel.set()
    result = edit(backend, fill_at_end(LINE * 200, max_new_tokens=4, context_budget=3000), cancel)
    assert result.stop_reason == "cancelled" and result.text == "" and backend.prefill_chunks == 0


def test_a_cancel_during_prefill_stops_between_chunks(tiny, loaded):
    backend = loaded(tiny["4k"])
    request = fill_at_end(LINE * 200, max_new_tokens=4, context_budget=3000)
    chunks = -(-len(backend._fit(request)[0]) // PREFILL_CHUNK)
    assert chunks >= 8
    result = edit(backend, request, CancelAfterChunks(backend, 2))
    assert result.stop_reason == "cancelled" and result.text == "" and backend.prefill_chunks == 2
    # The next edit of the same document keeps the two evaluated chunks and evaluates only the rest.
    result = edit(backend, request)
    assert result.ok and backend.prefill_chunks == chunks - 2


def test_tokens_per_s_counts_the_texts_tokens_and_a_cut_generation_stops_for_length(tiny, loaded):
    backend = loaded(tiny["4k"])
    result = edit(backend, fill_at_end(LINE * 3, max_new_tokens=12))
    assert result.ok and result.stop_reason == "length"
    assert result.tokens == backend.count_tokens(result.text) > 0
    assert result.tokens_per_s == pytest.approx(result.tokens / result.elapsed_s)


def test_a_hostile_trained_context_is_never_the_context_size(tiny, loaded):
    backend = loaded(tiny["hostile"])
    assert backend.info().details["n_ctx"] == str(CONTEXT_CAP)
    assert edit(backend, fill_at_end(LINE, max_new_tokens=2)).ok


def test_the_context_size_is_capped_by_the_kv_cache_it_needs(tmp_path):
    # 2 layers x 4 heads x (16,384 + 16,384) x 2 bytes = 512 KiB a position (16,384 is the widest head the
    # header check lets through): 1 GiB holds 2,048.
    path = write_llada_gguf(tmp_path / "wide.gguf", architecture="llama", context_length=32768, key_length=16384)
    assert kv_bytes_per_token(read_gguf(path)) == 512 << 10 and context_size(read_gguf(path)) == 2048
    short = write_llada_gguf(tmp_path / "short.gguf", architecture="llama", context_length=64)
    assert context_size(read_gguf(short)) == 64  # never more than the model was trained on


def test_a_small_context_cuts_the_text_around_the_span_to_fit(tiny, loaded):
    """A 64-token model and 2,000 tokens before the cursor: the context is cut, llama.cpp sees a prompt that
    fits (it never says "Requested tokens exceed context window")."""
    backend = loaded(tiny["64"])
    assert backend.info().details["n_ctx"] == "64"
    result = edit(backend, fill_at_end(LINE * 150, max_new_tokens=8))
    assert result.ok and result.stop_reason in ("eos", "length")
    prompt, _, max_tokens = backend._fit(fill_at_end(LINE * 150, max_new_tokens=8))
    assert len(prompt) + max_tokens <= 64 and max_tokens == 8


@pytest.mark.parametrize("model", ["512", "chat"])
def test_a_long_span_is_refused_with_how_much_to_select(tiny, loaded, model):
    backend = loaded(tiny[model])
    text = LINE * 40  # ~560 tokens: with its rewrite, far over 512
    with pytest.raises(RequestError) as info:  # the engine turns it into a result with this one line
        edit(backend, EditRequest(text, 0, len(text), seed=0))
    error = str(info.value)
    assert "\n" not in error
    assert error.startswith(f"the selection is {backend.count_tokens(text):,} tokens, more than this model")
    most = int(error.split("select at most ")[1].split(" ")[0])
    assert 50 < most < 170 and error.endswith(f"tokens (about {most * 3 // 4} words)")
    # What it says fits does fit: a span of that many tokens is rewritten.
    words = backend.llm.tokenize(text.encode(), add_bos=False)[:most]
    span = backend.llm.detokenize(words).decode()
    fits = EditRequest(span + "\n" + text, 0, len(span), seed=0, max_new_tokens=None)
    assert backend.count_tokens(span) <= most and edit(backend, fits).stop_reason != "error"


def test_a_chat_model_gets_its_context_cut_to_fit(tiny, loaded):
    backend = loaded(tiny["chat"])
    assert backend.info().details["prompt"] == "document"
    text = LINE * 100
    request = EditRequest(text, len(LINE) * 50, len(LINE) * 50 + 20, seed=0, max_new_tokens=8)
    prompt, stops, _ = backend._fit(request)
    assert len(prompt) + 8 <= 512 and "<redraft-span>" in backend.llm.detokenize(prompt).decode()
    assert edit(backend, request).ok



# -- chat templates from the file are hostile until rendered with limits (engine/chat_template.py) ---------

GEMMA_LIKE = (
    "{{ bos_token }}{% for m in messages %}{{ '<start_of_turn>' + m['role'] + '\n' + m['content'] | trim }}"
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def test_the_prompt_is_what_llama_cpp_pythons_formatter_gives(tmp_path, loaded):
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from engine.prompt import build_context

    backend = loaded(write_llada_gguf(tmp_path / "g.gguf", architecture="llama", context_length=512,
                                      chat_template=GEMMA_LIKE))
    request = EditRequest(DOC, *SPAN, instruction="shorter", seed=0, max_new_tokens=8)
    context = build_context(request, backend.count_tokens, 4096)
    eos, bos = backend._token_text(backend.llm.token_eos()), backend._token_text(backend.llm.token_bos())
    reference = Jinja2ChatFormatter(template=GEMMA_LIKE, eos_token=eos, bos_token=bos)(messages=context.messages())
    tokens, shape = backend._render(context, threading.Event())
    expected = backend.llm.tokenize(reference.prompt.encode(), add_bos=not reference.added_special, special=True)
    assert tokens == expected and shape.stops == reference.stop


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 200000000 }}",
        "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    ],
)
def test_a_hostile_chat_template_fails_the_edit_in_one_line(tmp_path, loaded, template):
    import tracemalloc

    backend = loaded(write_llada_gguf(tmp_path / "h.gguf", architecture="llama", context_length=512,
                                      chat_template=template))
    tracemalloc.start()
    try:
        with pytest.raises(RequestError) as caught:
            edit(backend, EditRequest(DOC, *SPAN, seed=0, max_new_tokens=8))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert message.startswith("the model's chat template exceeded") and "\n" not in message
    assert peak < 64 << 20


def test_through_the_engine_a_hostile_template_is_an_error_result(tmp_path):
    path = write_llada_gguf(tmp_path / "h.gguf", architecture="llama", context_length=512,
                            chat_template="{{ 'x' * 200000000 }}")
    with Engine() as eng:
        eng.load(lambda: LlamaAutoregressiveBackend(str(path))).result()
        result = eng.edit(EditRequest(DOC, *SPAN, seed=0, max_new_tokens=8))
    assert result.stop_reason == "error" and result.error.startswith("the model's chat template exceeded")


def test_a_cancel_stops_a_slow_chat_template(tmp_path, loaded, monkeypatch):
    import engine.chat_template

    monkeypatch.setattr(engine.chat_template, "TIME_BUDGET_S", 120.0)  # only the cancel can end it
    # 10^12 iterations: without a cancel checked inside the render, this edit would never return.
    endless = "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}{% endfor %}"
    endless += "{% endfor %}{% endfor %}"
    backend = loaded(write_llada_gguf(tmp_path / "s.gguf", architecture="llama", context_length=512,
                                      chat_template=endless))
    cancel, results = threading.Event(), []
    worker = threading.Thread(
        target=lambda: results.append(edit(backend, EditRequest(DOC, *SPAN, seed=0, max_new_tokens=8), cancel)),
        daemon=True,
    )
    worker.start()
    cancel.set()
    worker.join(120)  # a hang guard, not a timing: the edit must return at all
    assert results and results[0].stop_reason == "cancelled" and results[0].text == ""
    assert backend.prefill_chunks == 0  # llama.cpp never saw a prompt
