"""The engine end to end on a tiny random-weight DiffusionGemma: drafts, seeds, cancel, supersede, errors,
close and shutdown, loads and memory."""

import itertools
import threading

import pytest

from engine import Draft, EditRequest, Engine, EngineError, backend_for

DOC = "First line.\nThe quick brown fox 🦊 jumps.\nLast line.\n"
SPAN = (12, 41)
HANG_GUARD_S = 30  # far above any honest answer: only a job nobody will ever answer reaches it


def request(**kw):
    start, end = kw.pop("span", SPAN)
    return EditRequest(DOC, start, end, **{"seed": 7, **kw})


def test_one_draft_per_step_with_aligned_pieces(engine):
    drafts: list[Draft] = []
    result = engine.edit(request(max_new_tokens=32), drafts.append)  # one canvas (long spans: test_diffusion_gemma_blocks)
    # Random weights put no end token in the canvas: the text is cut off by it.
    assert result.ok and result.stop_reason == "length"
    assert [d.step for d in drafts] == list(range(1, result.steps + 1))
    assert result.steps == 8  # random weights never converge: every step of the checkpoint's 8 runs
    for d in drafts:
        assert d.max_steps == 8
        assert "".join(d.pieces) == d.text
        assert len(d.pieces) == len(d.confidence) == len(d.changed)
        assert all(0.0 <= c <= 1.0 for c in d.confidence)
    # Everything the model wrote is new at the first step; the span's own line break at its end is not.
    assert all(drafts[0].changed[:-1]) and drafts[0].pieces[-1] == "\n" and not drafts[0].changed[-1]
    assert all(d.text.endswith("\n") and not d.text.endswith("\n\n") for d in drafts)
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
    assert result.steps == len(drafts) == 3 * result.blocks  # 3 steps in each block
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
        release.wait(HANG_GUARD_S)  # a bound for a broken run only: the test releases it

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
        eng.load(lambda: backend_for(str(checkpoint), device="cpu")).result()
        bad = eng.edit(EditRequest("x" * 40, 0, 40, context_budget=16))
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


# -- submit racing close, shutdown, load(unload_first) ------------------------------------------------------

def test_every_future_resolves_when_submit_races_close():
    """Many threads submit while another closes, 300 times: each submit is refused or its job answered."""
    import random

    rounds, threads, per_thread = 300, 6, 30
    unanswered = refused = answered = 0
    for round_ in range(rounds):
        eng = Engine()  # no model: each edit is answered at once, so the race is all that is tested
        start, close_now = threading.Barrier(threads + 1), threading.Event()
        close_after = random.Random(round_).randrange(threads * per_thread // 2)  # attempts before close
        jobs, refusals, attempts = [], [], itertools.count(1)

        def submit(k):
            start.wait()
            for i in range(per_thread):
                try:
                    jobs.append(eng.submit(EditRequest("abc", 0, 3, document_id=f"{k}.{i}")))
                except EngineError:
                    refusals.append(k)
                if next(attempts) >= close_after:
                    close_now.set()

        workers = [threading.Thread(target=submit, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        start.wait()
        assert close_now.wait(HANG_GUARD_S)
        eng.close(timeout=HANG_GUARD_S)
        for w in workers:
            w.join(HANG_GUARD_S)
        for job in jobs:
            try:
                assert job.result(HANG_GUARD_S).stop_reason in ("error", "cancelled")
                answered += 1
            except TimeoutError:
                unanswered += 1
        refused += len(refusals)
    assert unanswered == 0
    assert answered + refused == rounds * threads * per_thread
    assert answered and refused  # both sides of the race happened


def test_a_submit_paused_just_before_queueing_is_still_answered_after_close():
    """The race made certain: a submitting thread is held where its job enters the queue while close runs.

    Before the fix close went ahead, the worker drained the queue and exited, and the job queued next was
    never answered. Now close waits for the submit to finish queueing, and its job is answered.
    """
    import inspect
    import sys

    eng = Engine()
    lines, first = inspect.getsourcelines(Engine._put)
    put_line = first + next(i for i, line in enumerate(lines) if "self._queue.put(" in line)
    at_put, release = threading.Event(), threading.Event()

    def hold_at_put(frame, event, arg):
        if frame.f_code is Engine._put.__code__:
            def local(frame, event, arg):
                if event == "line" and frame.f_lineno == put_line and not at_put.is_set():
                    at_put.set()
                    release.wait(HANG_GUARD_S)
                return local
            return local
        return None

    jobs = []

    def submit():
        sys.settrace(hold_at_put)
        try:
            jobs.append(eng.submit(EditRequest("abc", 0, 3)))
        except EngineError:
            jobs.append(None)
        finally:
            sys.settrace(None)

    submitter = threading.Thread(target=submit)
    submitter.start()
    assert at_put.wait(HANG_GUARD_S)
    closer = threading.Thread(target=eng.close)
    closer.start()
    closer.join(0.5)  # before the fix close finished here; now it waits for the submit's queueing
    release.set()
    submitter.join(HANG_GUARD_S)
    closer.join(HANG_GUARD_S)
    assert jobs[0] is not None
    assert jobs[0].result(HANG_GUARD_S).stop_reason in ("error", "cancelled")


def test_shutdown_does_not_block_and_resolves_once_the_model_is_closed(checkpoint):
    eng = Engine()
    backends = []
    eng.load(lambda: backends.append(backend_for(str(checkpoint), device="cpu")) or backends[0]).result()
    in_step, release = threading.Event(), threading.Event()

    def held(draft):
        in_step.set()
        release.wait(HANG_GUARD_S)

    job = eng.submit(request(), on_draft=held)
    assert in_step.wait(HANG_GUARD_S)
    stopped = eng.shutdown()  # returns while the worker is still inside the step
    assert not stopped.done() and backends[0].model is not None
    assert eng.shutdown() is stopped  # twice is harmless
    release.set()
    assert stopped.result(HANG_GUARD_S) is None
    assert job.result(HANG_GUARD_S).stop_reason == "cancelled"
    assert backends[0].model is None  # closed before the future resolved
    eng._thread.join(HANG_GUARD_S)
    assert not eng._thread.is_alive()
    eng.close()  # and close after shutdown, twice, is harmless too
    eng.close()
    with pytest.raises(EngineError, match="closed"):
        eng.submit(request())
    with pytest.raises(EngineError, match="closed"):
        eng.load(lambda: backend_for(str(checkpoint), device="cpu"))


def test_close_from_a_callback_on_the_worker_does_not_deadlock(checkpoint):
    eng = Engine()
    eng.load(lambda: backend_for(str(checkpoint), device="cpu")).result()
    job = eng.submit(request(), on_draft=lambda draft: eng.close())
    assert job.result(HANG_GUARD_S).stop_reason == "cancelled"
    assert eng.shutdown().result(HANG_GUARD_S) is None


def test_load_with_unload_first_closes_the_current_model_before_building_the_new_one(checkpoint, tmp_path):
    with Engine() as eng:
        first = []
        eng.load(lambda: first.append(backend_for(str(checkpoint), device="cpu")) or first[0]).result()
        seen_loaded = []

        def second():
            seen_loaded.append(first[0].model is not None)
            return backend_for(str(checkpoint), device="cpu")

        eng.load(second, unload_first=True).result()
        assert seen_loaded == [False]  # the first model was gone before the second was built
        assert eng.edit(request()).ok
        # Without it, as before: the new one is built while the current one is still loaded.
        current = eng._backend
        eng.load(lambda: seen_loaded.append(current.model is not None) or backend_for(str(checkpoint))).result()
        assert seen_loaded == [False, True] and current.model is None  # closed once the new one was loaded


def test_a_failed_load_after_unload_first_leaves_no_model_and_says_so(engine, tmp_path):
    with pytest.raises(EngineError) as failed:
        engine.load(lambda: backend_for(str(tmp_path / "nope")), unload_first=True).result()
    message = str(failed.value)
    assert message.endswith("; the previous model was unloaded") and "\n" not in message
    assert engine.model_info is None
    assert engine.edit(request()).error == "no model is loaded"
    # With nothing loaded there is nothing to unload, and the message does not claim it.
    with pytest.raises(EngineError) as again:
        engine.load(lambda: backend_for(str(tmp_path / "nope")), unload_first=True).result()
    assert "unloaded" not in str(again.value)


def test_a_failed_load_without_unload_first_keeps_the_previous_model_and_does_not_say_unloaded(engine, tmp_path):
    with pytest.raises(EngineError) as failed:
        engine.load(lambda: backend_for(str(tmp_path / "nope"))).result()
    assert "unloaded" not in str(failed.value)
    assert engine.model_info is not None and engine.edit(request()).ok


# -- memory ------------------------------------------------------------------------------------------------


def _rss_bytes() -> int:
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _rss_after_five_loads(spec, edit_request) -> list[int]:
    """Load `spec` five times through one engine (each load closes the one before, alternately unloading it
    first), run one edit each time, and read the RSS after each."""
    rss = []
    with Engine() as eng:
        for i in range(5):
            eng.load(lambda: backend_for(str(spec), device="cpu"), unload_first=i % 2 == 1).result()
            assert eng.edit(edit_request).ok
            rss.append(_rss_bytes())
    return rss


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="reads Linux's /proc")
def test_loading_and_closing_five_times_frees_each_model(tmp_path):
    """A leaked model would show: each is 40-70 MB, ~10% of this process (a leak of four measured +33%/+65%)."""
    from engine.self_check import write_tiny_llama_gguf
    from tests.tiny_models import save_checkpoint

    diffusion = save_checkpoint(
        tmp_path / "dg", hidden_size=256, layers=2, intermediate_size=1024, num_experts=8, vocab_size=4096
    )
    gguf = write_tiny_llama_gguf(tmp_path / "llama.gguf", hidden=512, layers=4, ffn=2048, context_length=2048)
    for spec, edit_request in (
        (diffusion, request(steps=2, max_new_tokens=8)),
        (gguf, EditRequest("ab cd", 3, 5, seed=1, max_new_tokens=4)),
    ):
        rss = _rss_after_five_loads(spec, edit_request)
        assert rss[-1] <= rss[0] * 1.10, f"{spec.name}: RSS {[r // 2**20 for r in rss]} MiB"


def test_a_loaded_model_is_frozen_out_of_the_collector_and_unfrozen_before_it_is_freed(checkpoint):
    """gc.freeze keeps full collections off the model's millions of objects (a ~300 ms GUI stall otherwise),
    but frozen objects are never collected: the engine must unfreeze before it frees a closed model."""
    import gc
    import weakref

    with Engine() as eng:
        eng.load(lambda: backend_for(str(checkpoint), device="cpu")).result()
        assert gc.get_freeze_count() > 0
        first = weakref.ref(eng._backend)
        cycle = {"backend": eng._backend}
        cycle["self"] = cycle  # a reference cycle only a collection can free
        eng._backend.cycle = cycle
        del cycle
        eng.load(lambda: backend_for(str(checkpoint), device="cpu"), unload_first=True).result()
        assert first() is None  # collected although it sat in a frozen cycle
    assert gc.get_freeze_count() == 0  # closing the engine unfroze what it froze


def test_alternatives_a_backend_does_not_batch_run_in_turn(tmp_path):
    from tests.llada_gguf import write_llada_gguf

    gguf = write_llada_gguf(tmp_path / "tiny-llada.gguf", sharpness=0.05)  # flat enough for seeds to differ
    with Engine() as eng:
        eng.load(lambda: backend_for(str(gguf))).result()
        drafts: list[Draft] = []
        one = eng.edit(request(seed=3), drafts.append)
        several = eng.edit(request(seed=3, alternatives=3), drafts.append)
    assert several.ok and several.text == one.text  # the first answer is the one a single run gives
    assert len(several.alternatives) == 2 and len({several.text, *several.alternatives}) == 3
    assert [d.text for d in drafts[len(drafts) // 2 :]] == [d.text for d in drafts[: len(drafts) // 2]]  # only its drafts


def test_every_backends_rewrite_keeps_the_line_breaks_at_its_spans_ends(engine):
    line = (DOC.index("The"), DOC.index("Last"))  # a whole selected line, with its "\n"
    result = engine.edit(request(span=line, steps=2))
    assert result.ok and result.text.endswith("\n") and not result.text.endswith("\n\n")
    assert request(span=line).splice(result.text).endswith("\nLast line.\n")  # the next line stays a line
