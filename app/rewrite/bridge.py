"""The engine seen from the GUI's asyncio loop (qasync's loop, on the GUI thread): awaitables, never a wait.

The engine calls back on its worker thread. Each callback hands its value to the loop with
`call_soon_threadsafe` and returns at once: the worker never waits on the GUI, and the GUI never waits on
the worker (it awaits). A `Run` keeps only the newest draft; `Run.drafts()` yields it at most once per frame
(FRAME_S), so the editor repaints at most ~60 times a second however fast the model steps. The engine's
callbacks are made in order on one thread, so a run's result always comes after its last draft.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from engine import Draft, EditRequest, EditResult, Engine, EngineError, Job, ModelInfo, backend_for

FRAME_S = 1 / 60


class Run:
    """One submitted edit, as the loop sees it.

    Attributes:
        job: the engine's `Job` (`job.id`, `job.cancel()`).
        received: drafts the worker handed over; shown: drafts `drafts()` yielded (at most one per frame).
        on_each: called on the loop with every draft handed over, not only the ones shown (the scrub history).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.job: Job | None = None
        self.received = 0
        self.shown = 0
        self.on_each: Callable[[Draft], None] | None = None
        self._loop = loop
        self._latest: Draft | None = None
        self._wake = asyncio.Event()
        self._result: asyncio.Future[EditResult] = loop.create_future()

    # -- worker thread -------------------------------------------------------------------------------------

    def on_draft(self, draft: Draft) -> None:
        self._hand_over(self._put_draft, draft)

    def on_result(self, result: EditResult) -> None:
        self._hand_over(self._put_result, result)

    def _hand_over(self, callback, value) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, value)
        except RuntimeError:  # the loop is closed: the app is gone, nobody is waiting
            pass

    # -- loop ----------------------------------------------------------------------------------------------

    def _put_draft(self, draft: Draft) -> None:
        self.received += 1
        if not self._result.done():
            self._latest = draft
            if self.on_each is not None:
                self.on_each(draft)
            self._wake.set()

    def _put_result(self, result: EditResult) -> None:
        self._latest = None  # a result supersedes its last draft
        if not self._result.done():
            self._result.set_result(result)
        self._wake.set()

    @property
    def done(self) -> bool:
        return self._result.done()

    async def drafts(self) -> AsyncIterator[Draft]:
        """The newest draft, at most once per frame, until the result arrives."""
        while not self._result.done():
            await self._wake.wait()
            self._wake.clear()
            draft, self._latest = self._latest, None
            if draft is None or self._result.done():
                continue
            self.shown += 1
            yield draft
            await asyncio.sleep(FRAME_S)

    async def result(self) -> EditResult:
        return await asyncio.shield(self._result)

    def cancel(self) -> None:
        """Stop the engine's job (within one step); its result still arrives, stop_reason "cancelled"."""
        if self.job is not None:
            self.job.cancel()


class EngineBridge:
    """Owns an `engine.Engine` for the GUI.

    Attributes:
        model_info, model_spec: the model loaded now and the spec it was loaded from, or None (a failed load
            leaves the previous one, as the engine does).
        runs: the runs not finished yet.
    """

    def __init__(self, engine: Engine | None = None) -> None:
        self._engine = engine if engine is not None else Engine()
        self._closed = False
        self.model_info: ModelInfo | None = None
        self.model_spec: str | None = None
        self.runs: set[Run] = set()

    async def load(self, spec: str, device: str | None = None, unload_first: bool = False) -> ModelInfo:
        """Load `spec` on the engine thread. Raises EngineError (one line); the previous model then stays,
        unless `unload_first` closed it before the new one was built."""
        if self._closed:
            raise EngineError("the engine is closed")
        future = self._engine.load(lambda: backend_for(spec, device=device), unload_first=unload_first)
        try:
            info = await asyncio.shield(asyncio.wrap_future(future))  # a cancelled await leaves the load running
        except EngineError:
            if self._engine.model_info is None:
                self.model_info = self.model_spec = None
            raise
        self.model_info, self.model_spec = info, spec
        return info

    def submit(self, request: EditRequest) -> Run:
        """Queue an edit (it supersedes any edit of the same document); returns at once."""
        if self._closed:
            raise EngineError("the engine is closed")
        run = Run(asyncio.get_running_loop())
        run.job = self._engine.submit(request, run.on_draft, run.on_result)
        self.runs.add(run)
        run._result.add_done_callback(lambda _: self.runs.discard(run))
        return run

    def cancel(self) -> None:
        """Cancel every run; each still gets its result."""
        for run in list(self.runs):
            run.cancel()

    async def aclose(self, timeout: float = 5.0) -> bool:
        """Cancel everything and stop the engine, waiting at most `timeout` seconds (the GUI keeps running
        meanwhile). False when the worker did not stop in time (it is a daemon thread: it dies with the app)."""
        if self._closed:
            return True
        self._closed = True
        self.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._engine.shutdown())), timeout)
        except TimeoutError:
            return False
        self.model_info = None
        return True
