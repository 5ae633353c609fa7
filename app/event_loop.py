"""The asyncio loop the GUI's coroutines run on: qasync's, on Qt's own event loop.

`redraft` (app/startup/main.py) makes the loop and runs it. Code that drives Qt's loop itself — the tests,
the self-test, the screenshot and benchmark scripts — gets a loop marked as already running instead, so
its tasks advance whenever Qt processes events.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import qasync
from PySide6.QtWidgets import QApplication

_loop: qasync.QEventLoop | None = None


def use_loop(loop: qasync.QEventLoop) -> None:
    """Make `loop` (not yet running) the GUI's loop; app/startup/main.py runs it."""
    global _loop
    _loop = loop
    # Plain Python threads for asyncio.to_thread: qasync's default executor runs QThreads, and a QThread
    # still running when the interpreter exits aborts the process ("QThread: Destroyed while thread is still
    # running", exit -6).
    loop.set_default_executor(ThreadPoolExecutor(max_workers=4, thread_name_prefix="redraft-gui-worker"))
    asyncio.set_event_loop(loop)


def gui_loop(app: QApplication) -> asyncio.AbstractEventLoop:
    """The GUI's loop: the one in use, else one on `app`'s Qt event loop, marked running."""
    if _loop is None or _loop.is_closed():
        use_loop(qasync.QEventLoop(app, already_running=True))
    return _loop


def run_until_done(awaitable, timeout: float = 30.0):
    """For code that drives Qt's loop itself (scripts, the self-test): pump events until `awaitable` is done,
    and return its result. Never called from the GUI proper, which only awaits."""
    app = QApplication.instance()
    future = asyncio.ensure_future(awaitable, loop=gui_loop(app))
    deadline = time.monotonic() + timeout
    while not future.done():
        if time.monotonic() > deadline:
            future.cancel()
            raise TimeoutError(f"not done within {timeout:g} s")
        app.processEvents()
        time.sleep(0.002)
    return future.result()
