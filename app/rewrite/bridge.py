"""The engine seen from the GUI thread: signals in, never a wait.

The engine calls back on its own worker thread. Drafts are *coalesced*: the worker callback only stores the
newest draft of each job under a lock, and a frame timer on the GUI thread (16 ms, running only while a job
is active) emits at most one `draftReady` per job per frame, so the editor repaints at most ~60 times a
second however fast the model steps. Results and load outcomes cross over through queued signals.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from engine import DEFAULT_CONTEXT_BUDGET, Draft, EditRequest, EditResult, Engine, EngineError, ModelInfo, backend_for

FRAME_MS = 16


class EngineBridge(QObject):
    """Owns an `engine.Engine`; everything it emits is emitted on the GUI thread.

    Attributes:
        model_info: the loaded model, or None.
        drafts_received / drafts_emitted: counters (drafts from the worker vs `draftReady` emissions).

    Signals:
        draftReady(int, object): job id and its newest `Draft` (at most one per frame).
        resultReady(int, object): job id and its `EditResult` (every job gets exactly one).
        modelLoaded(object): the `ModelInfo` of a model that finished loading.
        modelFailed(str): a one-line message; the previous model (if any) stays active.
    """

    draftReady = Signal(int, object)
    resultReady = Signal(int, object)
    modelLoaded = Signal(object)
    modelFailed = Signal(str)

    # Worker thread -> GUI thread (queued).
    _resultArrived = Signal(int, object)
    _loadDone = Signal(object, object)

    def __init__(self, engine: Engine | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine = engine if engine is not None else Engine()
        self._lock = threading.Lock()
        self._latest: dict[int, Draft] = {}  # job id -> newest draft not yet emitted (guarded by _lock)
        self._active: set[int] = set()  # GUI thread only
        self._jobs: dict[int, object] = {}
        self._closed = False
        self.model_info: ModelInfo | None = None
        self.loading = False
        self.drafts_received = 0
        self.drafts_emitted = 0
        self._frame = QTimer(self)
        self._frame.setInterval(FRAME_MS)
        self._frame.timeout.connect(self._on_frame)
        self._resultArrived.connect(self._on_result, Qt.ConnectionType.QueuedConnection)
        self._loadDone.connect(self._on_load_done, Qt.ConnectionType.QueuedConnection)

    # -- public API (GUI thread) -------------------------------------------------------------------------

    def load(self, spec: str, device: str | None = None, context_budget: int = DEFAULT_CONTEXT_BUDGET) -> None:
        """Start loading `spec` on the engine thread; returns at once. Ends in modelLoaded or modelFailed."""
        if self._closed:
            self.modelFailed.emit("the engine is closed")
            return
        self.loading = True
        self._engine.load(
            lambda: backend_for(spec, device=device, context_budget=context_budget), on_done=self._loadDone.emit
        )

    def submit(self, request: EditRequest) -> int:
        """Queue an edit; returns its job id. It supersedes any edit of the same document."""
        if self._closed:
            raise EngineError("the engine is closed")
        holder: dict[str, int] = {}
        ready = threading.Event()

        # The job id is known only once submit returns; the callbacks may fire before that, so they wait
        # (briefly, on the worker thread) for it.
        def on_draft(draft: Draft) -> None:
            ready.wait()
            self._store_draft(holder["id"], draft)

        def on_result(result: EditResult) -> None:
            ready.wait()
            self._resultArrived.emit(holder["id"], result)

        job = self._engine.submit(request, on_draft, on_result)
        holder["id"] = job.id
        self._jobs[job.id] = job
        self._active.add(job.id)
        ready.set()
        if not self._frame.isActive():
            self._frame.start()
        return job.id

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel one job (or all); its result still arrives, with stop_reason "cancelled"."""
        for jid, job in list(self._jobs.items()):
            if job_id is None or jid == job_id:
                job.cancel()
        with self._lock:
            if job_id is None:
                self._latest.clear()
            else:
                self._latest.pop(job_id, None)

    def is_active(self, job_id: int) -> bool:
        return job_id in self._active

    def shutdown(self) -> None:
        """Cancel everything and stop the engine (waits at most a few seconds: one step, at quit)."""
        if self._closed:
            return
        self._closed = True
        self._frame.stop()
        self.cancel()
        self._engine.close(timeout=5.0)
        self._active.clear()
        self._jobs.clear()

    # -- worker thread -----------------------------------------------------------------------------------

    def _store_draft(self, job_id: int, draft: Draft) -> None:
        with self._lock:
            self._latest[job_id] = draft
            self.drafts_received += 1

    # -- GUI thread --------------------------------------------------------------------------------------

    def _on_frame(self) -> None:
        with self._lock:
            pending, self._latest = self._latest, {}
        for job_id, draft in pending.items():
            if job_id in self._active:
                self.drafts_emitted += 1
                self.draftReady.emit(job_id, draft)
        if not self._active:
            self._frame.stop()

    def _on_result(self, job_id: int, result: EditResult) -> None:
        if self._closed:
            return
        with self._lock:
            self._latest.pop(job_id, None)  # a result supersedes its last draft
        self._active.discard(job_id)
        self._jobs.pop(job_id, None)
        if not self._active:
            self._frame.stop()
        self.resultReady.emit(job_id, result)

    def _on_load_done(self, info: ModelInfo | None, message: str | None) -> None:
        self.loading = False
        if self._closed:
            return
        if info is not None:
            self.model_info = info
            self.modelLoaded.emit(info)
        else:
            self.modelFailed.emit(message or "cannot load the model")
