"""Submit/cancel cycles against the real Engine, with the tiny random DiffusionGemma (transformers) and the tiny
LLaDA GGUF (llama.cpp masked diffusion).

Each cycle submits an edit and ends it one of three ways, drawn at random: cancel() at once, cancel() from
this thread after the k-th draft arrived (k = 1..3), or a new edit of the same document (the engine cancels
the old one). Per cycle: the drafts delivered after the cancel (a step already running may deliver one:
"within one step" means at most 1), and the time from cancel() to the result. Threads and RSS are read after
a warm-up and after the storm (after a collection), on the same engine.
"""

from __future__ import annotations

import gc
import random
import tempfile
import threading
import time
from pathlib import Path

from tests.stress import common

DOC = "the cat sat on the mat and the dog ran in the big red house.\nThe cat was on a mat.\n"
SPAN = (DOC.index("dog"), DOC.index("house"))
GUARD_S = 60.0  # a result not in by then is a hang


class _Cycle:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cancelled_at: float | None = None
        self.drafts = 0
        self.after_cancel = 0
        self.last_draft: float | None = None
        self.step_gaps: list[float] = []
        self.result_at: float | None = None
        self.kth = threading.Event()
        self.k = 1

    def on_draft(self, draft) -> None:
        now = time.monotonic()
        with self.lock:
            self.drafts += 1
            if self.cancelled_at is not None:
                self.after_cancel += 1
            if self.last_draft is not None:
                self.step_gaps.append(now - self.last_draft)
            self.last_draft = now
            if self.drafts >= self.k:
                self.kth.set()

    def on_result(self, result) -> None:
        self.result_at = time.monotonic()

    def cancel(self, how) -> None:
        with self.lock:
            self.cancelled_at = time.monotonic()
        how()


def storm(engine, request, cycles: int, wait_share: float, seed: int) -> dict:
    rng = random.Random(seed)
    worst_cancel, worst_step, max_after, hangs, errors = 0.0, 0.0, 0, 0, []
    after_counts = {0: 0, 1: 0, "2+": 0}
    modes = {"at once": 0, "after a draft": 0, "superseded": 0}
    for i in range(cycles):
        mode = "at once" if rng.random() >= wait_share else rng.choice(["after a draft", "superseded"])
        modes[mode] += 1
        cycle = _Cycle()
        cycle.k = rng.randint(1, 3)
        job = engine.submit(request(i), cycle.on_draft, cycle.on_result)
        successor = None
        if mode == "at once":
            cycle.cancel(job.cancel)
        else:
            if not cycle.kth.wait(GUARD_S) and not job.future.done():
                hangs += 1
            if mode == "after a draft":
                cycle.cancel(job.cancel)
            else:
                cycle.cancel(lambda: None)  # the clock starts at the superseding submit
                successor = engine.submit(request(i + 1))
        try:
            result = job.result(GUARD_S)
        except TimeoutError:
            hangs += 1
            continue
        if successor is not None:
            successor.cancel()
            successor.result(GUARD_S)
        if result.stop_reason == "error":
            errors.append(result.error)
        while cycle.result_at is None:  # the callback comes right after the future is set
            time.sleep(0.0005)
        if mode != "at once" or result.steps:
            worst_cancel = max(worst_cancel, cycle.result_at - cycle.cancelled_at)
        worst_step = max([worst_step, *cycle.step_gaps])
        max_after = max(max_after, cycle.after_cancel)
        after_counts[cycle.after_cancel if cycle.after_cancel < 2 else "2+"] += 1
    return dict(
        worst_cancel=worst_cancel, worst_step=worst_step, max_after=max_after, after_counts=after_counts,
        hangs=hangs, errors=errors, modes=modes,
    )


def _one(name: str, spec: str, cycles: int, wait_share: float, make_request, device) -> tuple[dict, list]:
    from engine import Engine, backend_for

    engine = Engine()
    engine.load(lambda: backend_for(spec, device=device)).result(120)
    for i in range(3):  # warm-up: lazy imports, thread pools, caches
        engine.edit(make_request(i))
    gc.collect()
    threads0, os_threads0, rss0 = common.python_threads(), common.os_threads(), common.rss_mb()
    started = time.monotonic()
    found = storm(engine, make_request, cycles, wait_share, seed=len(name))
    storm_s = time.monotonic() - started
    gc.collect()
    threads1, os_threads1, rss1 = common.python_threads(), common.os_threads(), common.rss_mb()
    engine.close()
    figures = {
        f"{name}: cycles": cycles,
        f"{name}: cycles by ending": ", ".join(f"{k} {v}" for k, v in found["modes"].items()),
        f"{name}: storm wall time (s)": round(storm_s, 1),
        f"{name}: Python threads before/after": f"{threads0}/{threads1}",
        f"{name}: OS threads before/after": f"{os_threads0}/{os_threads1}",
        f"{name}: RSS before/after (MB)": f"{rss0:.0f}/{rss1:.0f}",
        f"{name}: worst cancel-to-result (ms)": round(found["worst_cancel"] * 1000, 1),
        f"{name}: worst single step (ms)": round(found["worst_step"] * 1000, 1),
        f"{name}: cycles with 0 / 1 / 2+ drafts after cancel": "/".join(str(v) for v in found["after_counts"].values()),
        f"{name}: most drafts after one cancel": found["max_after"],
        f"{name}: hangs (no result within {GUARD_S:g} s)": found["hangs"],
        f"{name}: error results": len(found["errors"]),
    }
    checks = [
        common.check(f"{name}: cancel within one step (most drafts after cancel)", found["max_after"], "<= 1", found["max_after"] <= 1),
        common.check(f"{name}: hangs", found["hangs"], "0", found["hangs"] == 0),
        common.check(f"{name}: error results", len(found["errors"]), "0", not found["errors"]),
        common.check(f"{name}: OS threads gained", os_threads1 - os_threads0, "<= 0", os_threads1 <= os_threads0),
        common.check(f"{name}: RSS gained (MB)", round(rss1 - rss0, 1), "< 64", rss1 - rss0 < 64),
    ]
    return figures, checks, [f"{name}: {e}" for e in found["errors"][:10]]


def run(quick: bool) -> dict:
    started = time.monotonic()
    from engine import EditRequest
    from tests.llada_gguf import write_llada_gguf
    from tests.tiny_models import save_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="stress-cancel-"))
    checkpoint = save_checkpoint(tmp / "tiny-diffusion-gemma")
    gguf = write_llada_gguf(tmp / "tiny-llada.gguf", sharpness=0.3)

    def request(i: int, steps: int | None = None) -> EditRequest:
        return EditRequest(DOC, *SPAN, seed=i, steps=steps, document_id="doc")

    figures, checks, failures = {}, [], []
    for name, spec, cycles, share, make, device in (
        ("DiffusionGemma tiny", str(checkpoint), 300 if quick else 3000, 0.3, lambda i: request(i), "cpu"),
        ("LLaDA GGUF tiny", str(gguf), 600 if quick else 10000, 0.5, lambda i: request(i, steps=16), None),
    ):
        f, c, e = _one(name, spec, cycles, share, make, device)
        figures.update(f)
        checks += c
        failures += e
    return common.result("Submit/cancel storms", __doc__.split("\n\n")[1].replace("\n", " "), figures, checks, failures, started)


if __name__ == "__main__":
    common.main(run)
