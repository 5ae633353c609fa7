"""Autoregressive GGUFs through llama.cpp: the bundled Gemma 3 270M end to end, through the engine and the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import MODEL_ENV, EditRequest, Engine, EngineError, backend_for
from engine.models.bundled import ABOUT, BUNDLED, NAME, bundled_model_path

DOC = "The meeting is on Monday.\nWe will discuss the budget and the new office plans.\nPlease bring your notes.\n"
SPAN = (DOC.index("We will"), DOC.index("Please") - 1)


@pytest.fixture(scope="module")
def bundled_engine():
    with Engine() as eng:
        info = eng.load(lambda: backend_for(BUNDLED)).result()
        assert info.id == NAME and info.backend == "llama.cpp" and info.details["architecture"] == "gemma3"
        yield eng


def test_rewrite_streams_one_draft_per_token(bundled_engine):
    drafts = []
    result = bundled_engine.edit(EditRequest(DOC, *SPAN, seed=1, max_new_tokens=24), drafts.append)
    assert result.ok and result.stop_reason in ("eos", "max_steps") and result.text
    assert [d.step for d in drafts] == list(range(1, len(drafts) + 1)) and len(drafts) == result.tokens <= 24
    for before, after in zip(drafts, drafts[1:]):
        assert after.text.startswith(before.text) and after.changed[-1] and not any(after.changed[:-1])
    assert drafts[-1].text == result.text and "".join(drafts[-1].pieces) == result.text


def test_same_seed_same_text_and_fill_continues(bundled_engine):
    a = bundled_engine.edit(EditRequest(DOC, *SPAN, seed=5, max_new_tokens=16))
    b = bundled_engine.edit(EditRequest(DOC, *SPAN, seed=5, max_new_tokens=16))
    assert a.text == b.text
    fill = bundled_engine.edit(EditRequest(DOC, SPAN[0], SPAN[0], mode="fill", seed=1, max_new_tokens=12))
    assert fill.ok and fill.tokens == 12 and fill.stop_reason == "max_steps"


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


def test_a_span_over_the_models_context_is_refused_not_cut():
    with Engine() as eng:
        eng.load(lambda: backend_for(BUNDLED, context_budget=100_000)).result()  # the model holds 32k
        text = "word " * 40_000
        result = eng.edit(EditRequest(text, 0, len(text) - 1, seed=0))
        assert result.stop_reason == "error"
        assert result.error == "the selection and its context do not fit this model's 32768-token context; select less"
