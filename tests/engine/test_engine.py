"""The engine end to end on a tiny random-weight DiffusionGemma: drafts, seeds, cancel, supersede, errors."""

import threading

import pytest

from engine import Draft, EditRequest, Engine, EngineError, backend_for

DOC = "First line.\nThe quick brown fox 🦊 jumps.\nLast line.\n"
SPAN = (12, 41)


def request(**kw):
    start, end = kw.pop("span", SPAN)
    return EditRequest(DOC, start, end, **{"seed": 7, **kw})


def test_one_draft_per_step_with_aligned_pieces(engine):
    drafts: list[Draft] = []
    result = engine.edit(request(), drafts.append)
    assert result.ok and result.stop_reason in ("converged", "max_steps")
    assert [d.step for d in drafts] == list(range(1, result.steps + 1))
    assert result.steps == 8  # random weights never converge: every step of the checkpoint's 8 runs
    for d in drafts:
        assert d.max_steps == 8
        assert "".join(d.pieces) == d.text
        assert len(d.pieces) == len(d.confidence) == len(d.changed)
        assert all(0.0 <= c <= 1.0 for c in d.confidence)
    assert all(drafts[0].changed)  # everything is new at the first step
    assert drafts[-1].text == result.text
    assert result.tokens > 0 and result.tokens_per_s > 0
    assert 0 < result.first_draft_s <= drafts[1].elapsed_s <= result.elapsed_s


def test_same_seed_same_drafts_other_seed_other_drafts(engine):
    def texts(seed):
        drafts = []
        engine.edit(request(seed=seed), drafts.append)
        return [d.text for d in drafts]

    assert texts(3) == texts(3)
    assert texts(3) != texts(4)


def test_steps_and_refine_warm_start(engine):
    drafts = []
    result = engine.edit(request(mode="refine", steps=3), drafts.append)
    assert result.steps == 3 and len(drafts) == 3
    # Refine starts from the span's own tokens and is pulled toward them: the original survives.
    assert result.text.startswith(DOC[SPAN[0] : SPAN[1]][:10])
    rewrite = engine.edit(request(mode="rewrite", steps=3))
    assert not rewrite.text.startswith(DOC[SPAN[0] : SPAN[1]][:10])


def test_fill_inserts_at_the_cursor(engine):
    result = engine.edit(request(span=(12, 12), mode="fill"))
    assert result.ok and result.tokens > 0


def test_cancel_stops_within_one_step(engine):
    seen = []

    def on_draft(draft):
        seen.append(draft.step)
        if draft.step == 2:
            engine.cancel()

    result = engine.edit(request(), on_draft)
    assert result.stop_reason == "cancelled" and result.text == ""
    assert seen == [1, 2]


def test_new_request_for_the_same_document_supersedes_the_running_one(engine):
    first_step = threading.Event()
    release = threading.Event()

    def slow(draft):
        first_step.set()
        release.wait(5)

    old = engine.submit(request(document_id="a"), on_draft=slow)
    assert first_step.wait(10)
    other_doc = engine.submit(request(document_id="b"))
    new = engine.submit(request(document_id="a", seed=9))
    release.set()
    assert old.result(30).stop_reason == "cancelled"
    assert old.result().steps == 1  # stopped right after the step that was running
    assert new.result(30).ok
    assert other_doc.result(30).ok  # another document is not touched


def test_errors_come_back_as_results_and_the_engine_lives_on(checkpoint):
    with Engine() as eng:
        eng.load(lambda: backend_for(str(checkpoint), device="cpu", context_budget=16)).result()
        bad = eng.edit(EditRequest("x" * 40, 0, 40))
        assert bad.stop_reason == "error"
        assert bad.error == (
            "the selection is 40 tokens, over the context budget of 16 tokens; select less or raise the budget"
        )
        assert eng.edit(EditRequest("short", 0, 5, seed=1)).ok


def test_failed_load_keeps_the_previous_model(engine, tmp_path):
    with pytest.raises(EngineError, match="model folder not found|does not exist"):
        engine.load(lambda: backend_for(str(tmp_path / "nope"))).result()
    assert engine.edit(request()).ok


def test_edit_without_a_model_is_an_error_result():
    with Engine() as eng:
        result = eng.edit(request())
        assert result.stop_reason == "error" and result.error == "no model is loaded"


def test_close_cancels_a_running_edit_and_joins_the_worker(checkpoint):
    eng = Engine()
    eng.load(lambda: backend_for(str(checkpoint), device="cpu")).result()
    started = threading.Event()
    job = eng.submit(request(steps=8), on_draft=lambda d: started.set())
    assert started.wait(10)
    eng.close()
    assert job.result(5).stop_reason == "cancelled"
    assert not eng._thread.is_alive()
    with pytest.raises(EngineError, match="closed"):
        eng.submit(request())
