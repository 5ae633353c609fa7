"""A rewrite from Enter in the instruction box to the hunk review: the one place that reads top to bottom.

The editor (app/editing/editor.py) makes the `RewriteSession` (the span in the document) and starts this
coroutine on qasync's loop; the keys that end a run early (Enter accepts, Esc cancels, typing in the span)
act on the session, whose `cancel_job` stops the engine, and this coroutine then ends with the run's
"cancelled" result. Everything here runs on the GUI thread; the only waits are awaits.
"""

from __future__ import annotations

from typing import Protocol

from app.rewrite.bridge import EngineBridge
from app.rewrite.session import RewriteSession
from engine import Draft, EditResult, EngineError


class RewriteView(Protocol):
    """What the flow needs of the editor that shows it."""

    bridge: EngineBridge

    def request_options(self) -> dict: ...
    def show_status(self, session: RewriteSession, text: str) -> None: ...
    def draft_shown(self, session: RewriteSession, draft: Draft) -> None: ...
    def run_finished(self, session: RewriteSession, result: EditResult | None) -> None: ...


async def rewrite(view: RewriteView, session: RewriteSession) -> None:
    if not session.active:  # ended before this coroutine first ran (a key typed at once): nothing to submit
        view.run_finished(session, None)
        return
    # 1. The request: the span in code points as the engine counts them, the document's language, the
    #    preferences' steps, seed and context budget.
    try:
        request = session.request(**view.request_options())
        # 2. Submit: the engine works on its own thread; a newer request for this document supersedes it.
        run = view.bridge.submit(request)
    except (ValueError, EngineError) as exc:  # a bad span or a closed engine: a status line, nothing changed
        session.cancel()
        view.show_status(session, f"Cannot rewrite: {exc}")
        view.run_finished(session, None)
        return
    session.cancel_job = run.cancel
    run.on_each = session.history.add  # every draft the engine makes, for scrubbing (only some are shown)
    view.show_status(session, f"{session.mode}: waiting for the model…")
    try:
        # 3. The drafts: the newest one at most once per frame, shown in place in the span.
        async for draft in run.drafts():
            if session.state != "running":
                break  # accepted, cancelled or interrupted meanwhile: the job was cancelled with it
            session.show_draft(draft)
            view.draft_shown(session, draft)
        # 4. The result: the final text in the span, or the original back after an error.
        result = await run.result()
        session.finish(result)
        # 5. The review: the editor shows each change as a hunk (Y keeps, N drops) and applies the kept ones
        #    as one undo step, or says why nothing came.
        view.run_finished(session, result)
    finally:
        if not run.done:
            run.cancel()  # this coroutine was cancelled (the window closed): the engine stops too
