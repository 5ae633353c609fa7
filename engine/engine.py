"""The thread-safe facade the app and the CLI use.

One worker thread owns the backend and runs one job at a time from a queue. A new edit for a document
cancels that document's running and queued edits. Every job ends with a result delivered to its callback and
its future, errors included (as an `EditResult` with `stop_reason="error"`): the worker never dies on a bad
request or a failed load, and a failed load leaves the previous model (if any) in place, unless the caller
asked to unload it first.

Callbacks run on the worker thread: the caller moves them where it needs them (the app queues them to the
GUI thread). They must be quick; they are part of each step.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import queue
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from engine.span_ends import draft_with_span_ends, with_span_ends
from engine.usable import unusable
from engine.types import Backend
from engine.types import KEEP_NOT_AVAILABLE, Draft, EditRequest, EditResult, EngineError, ModelInfo


@dataclass(eq=False)
class Job:
    """A queued edit. `cancel()` stops it within one denoising step."""

    request: EditRequest
    on_draft: Callable[[Draft], None] | None = None
    on_result: Callable[[EditResult], None] | None = None
    future: Future = field(default_factory=Future)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    id: int = 0

    def cancel(self) -> None:
        self.cancel_event.set()

    def result(self, timeout: float | None = None) -> EditResult:
        return self.future.result(timeout)


@dataclass(eq=False)
class _Load:
    make_backend: Callable[[], Backend]
    on_done: Callable[[ModelInfo | None, str | None], None] | None
    unload_first: bool = False
    future: Future = field(default_factory=Future)


_STOP = object()


class Engine:
    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        # Guards `_closed`, `_running`, `_pending` and every put: once `_STOP` is queued nothing follows it,
        # so the worker's last drain sees every job ever accepted.
        self._lock = threading.Lock()
        self._running: Job | None = None
        self._pending: list[Job] = []
        self._ids = itertools.count(1)
        self._backend: Backend | None = None
        self._closed = False
        self._stopped: Future = Future()  # resolved (None) by the worker as its last act
        self._thread = threading.Thread(target=self._work, name="redraft-engine", daemon=True)
        self._thread.start()

    # -- public API ----------------------------------------------------------------------------------------

    def load(
        self,
        make_backend: Callable[[], Backend],
        on_done: Callable[[ModelInfo | None, str | None], None] | None = None,
        unload_first: bool = False,
    ) -> Future:
        """Load a model on the worker thread. The future gets its `ModelInfo`, or an `EngineError`.

        `unload_first`: close the current model and free its memory before building the new one (for a
        model that does not fit beside it); if the new one then fails, no model is loaded.
        """
        job = _Load(make_backend, on_done, unload_first)
        with self._lock:
            self._put(job)
        return job.future

    def submit(
        self,
        request: EditRequest,
        on_draft: Callable[[Draft], None] | None = None,
        on_result: Callable[[EditResult], None] | None = None,
    ) -> Job:
        """Queue an edit; it supersedes any running or queued edit of the same document."""
        job = Job(request, on_draft, on_result, id=next(self._ids))
        with self._lock:
            self._put(job)
            for other in [self._running, *self._pending]:
                if other is not None and other.request.document_id == request.document_id:
                    other.cancel()
            self._pending.append(job)
        return job

    def edit(self, request: EditRequest, on_draft: Callable[[Draft], None] | None = None) -> EditResult:
        """Submit and wait: for the CLI and scripts, never for a GUI thread."""
        return self.submit(request, on_draft).result()

    def cancel(self, document_id: str | None = None) -> None:
        """Cancel the running and queued edits (of one document, or all)."""
        with self._lock:
            self._cancel_locked(document_id)

    @property
    def model_info(self) -> ModelInfo | None:
        backend = self._backend
        return backend.info() if backend is not None else None

    def shutdown(self) -> Future:
        """Cancel everything and stop the worker without waiting: for the GUI thread.

        The future resolves (None) once the model is closed and the worker is done. Calling it again returns
        the same future.
        """
        with self._lock:
            if not self._closed:
                self._closed = True
                self._cancel_locked(None)
                self._queue.put(_STOP)
        return self._stopped

    def close(self, timeout: float | None = 30.0) -> None:
        """Cancel everything, stop the worker and free the model, waiting up to `timeout` seconds."""
        stopped = self.shutdown()
        if threading.current_thread() is self._thread:
            return  # called from a callback: the worker finishes after it returns
        try:
            stopped.result(timeout)
        except TimeoutError:
            return
        self._thread.join(timeout)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- worker --------------------------------------------------------------------------------------------

    def _put(self, item) -> None:
        """Queue `item`; the caller holds `_lock`."""
        if self._closed:
            raise EngineError("the engine is closed")
        self._queue.put(item)

    def _cancel_locked(self, document_id: str | None) -> None:
        for job in [self._running, *self._pending]:
            if job is not None and (document_id is None or job.request.document_id == document_id):
                job.cancel()

    def _work(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                if isinstance(item, _Load):
                    self._do_load(item)
                else:
                    self._do_edit(item)
                item = None  # hold nothing of a finished job while waiting for the next
        finally:
            # Normally the queue is empty here: nothing can follow _STOP (see `_lock`) and shutdown() cancelled
            # every edit before it. After a crash of the loop, answer what is left so no caller waits forever.
            with self._lock:
                self._closed = True
                self._cancel_locked(None)
            while not self._queue.empty():
                self._answer_closed(self._queue.get_nowait())
            try:
                self._release_backend()
            finally:
                self._stopped.set_result(None)

    def _answer_closed(self, item) -> None:
        if isinstance(item, Job):
            with self._lock:
                if item in self._pending:
                    self._pending.remove(item)
            self._finish(item, _failed(item.request, "cancelled", None, ""))
        elif isinstance(item, _Load):
            item.future.set_exception(EngineError("the engine is closed"))
            _call(item.on_done, None, "the engine is closed")

    def _release_backend(self) -> None:
        """Close the model and drop every reference to it, then collect: its memory is really freed."""
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            finally:
                del backend
                gc.unfreeze()  # frozen objects are never collected: the closed model's cycles among them
                gc.collect()  # model objects sit in reference cycles (modules, hooks, configs)

    def _do_load(self, job: _Load) -> None:
        if self._closed:  # queued before shutdown(): not worth loading now
            self._answer_closed(job)
            return
        unloaded = job.unload_first and self._backend is not None
        if unloaded:
            self._release_backend()
        try:
            backend = job.make_backend()
            info = backend.load()
        except Exception as exc:  # noqa: BLE001 - every failure is reported; the worker lives on
            message = str(exc) if isinstance(exc, EngineError) else f"cannot load the model: {exc}"
            if unloaded:
                message += "; the previous model was unloaded"
            error = EngineError(message)
        else:
            self._release_backend()  # the previous model, if any
            self._backend = backend
            # The model libraries leave millions of long-lived objects; a full collection walking them held
            # the GUI thread for ~300 ms mid-rewrite (tests/bench/gui_latency.py). Frozen, they are not
            # scanned; `_release_backend` unfreezes before it collects, so a closed model is still freed.
            gc.freeze()
            job.future.set_result(info)
            _call(job.on_done, info, None)
            return
        backend = None
        gc.collect()  # what the failed load had built (its frames were kept by the traceback's cycle)
        job.future.set_exception(error)
        _call(job.on_done, None, message)

    def _do_edit(self, job: Job) -> None:
        with self._lock:
            self._pending.remove(job)
            self._running = job
        try:
            if job.cancel_event.is_set():
                result = _failed(job.request, "cancelled", None, self._model_id())
            elif self._backend is None:
                result = _failed(job.request, "error", "no model is loaded", "")
            elif job.request.warm_start is not None and not self._backend.info().can_keep:
                # Keeping words needs a canvas of positions: autoregressive and remote models have none.
                result = _failed(job.request, "error", KEEP_NOT_AVAILABLE, self._model_id())
            else:
                on_draft = job.on_draft or _ignore
                if job.request.mode != "fill" and job.on_draft is not None:
                    span = job.request.span
                    on_draft = lambda draft: job.on_draft(draft_with_span_ends(span, draft))  # noqa: E731
                result = self._backend.edit(job.request, on_draft, job.cancel_event)
                result = self._more_answers(job, result)
                if job.request.mode != "fill" and result.ok:  # every backend's answer keeps the span's line ends
                    result = dataclasses.replace(
                        result,
                        text=with_span_ends(job.request.span, result.text) if result.text else "",
                        alternatives=tuple(with_span_ends(job.request.span, a) for a in result.alternatives),
                    )
                why = unusable(job.request, result.text) if result.ok else None
                if why is not None:  # never offered as an edit: the span would be deleted or hold scaffolding
                    result = dataclasses.replace(result, stop_reason="error", error=why)
                elif result.alternatives:  # the same test for the other answers: an unusable one is dropped
                    usable = tuple(text for text in result.alternatives if unusable(job.request, text) is None)
                    result = dataclasses.replace(result, alternatives=usable)
        except Exception as exc:  # noqa: BLE001 - delivered as a result, never a dead thread
            message = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
            result = _failed(job.request, "error", " ".join(message.split()), self._model_id())
        with self._lock:
            self._running = None
        self._finish(job, result)

    def _more_answers(self, job: Job, result: EditResult) -> EditResult:
        """A request for several answers that the backend did not batch: the missing ones run in turn, each with
        its own seed, drafts not shown (the span keeps showing the first answer), stopping at a cancel."""
        request = job.request
        wanted = request.alternatives - 1
        if wanted <= 0 or not result.ok or self._backend.info().can_batch:
            return result  # a batch's answers are what it made: equal ones were dropped, not left to make
        others = list(result.alternatives)
        seed = request.seed if request.seed is not None else random.randrange(2**31)
        for i in range(1, wanted + 1):
            if job.cancel_event.is_set():
                break
            again = dataclasses.replace(request, alternatives=1, seed=seed + i, varied=True)
            other = self._backend.edit(again, _ignore, job.cancel_event)
            if other.ok and other.text and other.text != result.text and other.text not in others:
                others.append(other.text)
        return dataclasses.replace(result, alternatives=tuple(others))

    def _finish(self, job: Job, result: EditResult) -> None:
        job.future.set_result(result)
        _call(job.on_result, result)

    def _model_id(self) -> str:
        return self._backend.info().id if self._backend is not None else ""


def _failed(request: EditRequest, reason: str, message: str | None, model_id: str) -> EditResult:
    return EditResult(
        text="",
        steps=0,
        tokens=0,
        first_draft_s=None,
        elapsed_s=0.0,
        tokens_per_s=0.0,
        model_id=model_id,
        stop_reason=reason,
        error=message,
    )


def _ignore(_draft: Draft) -> None:
    pass


def _call(callback, *args) -> None:
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:  # noqa: BLE001 - a broken callback must not kill the worker
        import traceback

        traceback.print_exc()
