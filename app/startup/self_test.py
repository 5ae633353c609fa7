"""`redraft --self-test`: does this install (a venv or a frozen bundle) really work? Exit 0, or 1 naming what failed.

The model libraries are checked by `engine.self_check` (one tiny real forward pass each; app/ never imports
them). Then the GUI: the real main window on whatever Qt platform is set (offscreen in CI, a display
otherwise), loading a tiny GGUF written for the occasion through the real engine bridge, with a Markdown
file open whose preview must render, code fence coloured by Pygments (lexers are imported lazily, a classic
gap in a frozen bundle). Settings, journal and files live in a temporary folder: the user's are not touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine import MODEL_ENV
from engine import CheckResult, run_checks, write_tiny_llama_gguf
from app.event_loop import run_until_done

MARKDOWN = "# Self test\n\nSome *emphasis*.\n\n```python\ndef greet():\n    return 'hi'\n```\n"
LOAD_TIMEOUT_S = 60.0


def _wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        QApplication.processEvents()
        time.sleep(0.01)
    return True


def check_window() -> str:
    """Open the main window with a Markdown file and a tiny model; raise with a reason when something is off."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.window.main_window import create_main_window

    QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="redraft-self-test-") as folder:
        root = Path(folder)
        document = root / "self-test.md"
        document.write_text(MARKDOWN, encoding="utf-8")
        model = write_tiny_llama_gguf(root / "tiny-llama.gguf")
        saved_model = os.environ.get(MODEL_ENV)
        os.environ[MODEL_ENV] = str(model)
        settings = QSettings(str(root / "settings.ini"), QSettings.Format.IniFormat)
        window = None
        try:
            window = create_main_window([str(document)], settings=settings, journal_dir=str(root / "journal"))
            loaded: list[object] = []
            window.modelLoaded.connect(lambda info: loaded.append(info))
            window.modelFailed.connect(lambda message: loaded.append(RuntimeError(message)))
            window.show()
            if window.errors:
                raise RuntimeError(f"opening a Markdown file: {window.errors[0]}")
            window.tab.preview.render_now()
            html = window.tab.preview.html
            if "<h1>Self test</h1>" not in html or "style=" not in html:
                raise RuntimeError("the Markdown preview did not render a heading and a coloured code fence")
            if "Self test" not in window.tab.preview.toPlainText():
                raise RuntimeError("the preview widget shows no text")
            if not _wait_until(lambda: bool(loaded), LOAD_TIMEOUT_S):
                raise RuntimeError(f"the model did not load within {LOAD_TIMEOUT_S:.0f} s")
            if isinstance(loaded[0], Exception):
                raise RuntimeError(f"the model failed to load in the window: {loaded[0]}")
            picture = window.grab()
            if picture.isNull() or picture.width() < 100:
                raise RuntimeError("the window could not be drawn")
            platform = QApplication.platformName()
            return f"Qt {platform}: window {picture.width()}x{picture.height()}, preview rendered, model loaded"
        finally:
            if window is not None:
                run_until_done(window.aclose())
                window.hide()
                window.deleteLater()
            if saved_model is None:
                os.environ.pop(MODEL_ENV, None)
            else:
                os.environ[MODEL_ENV] = saved_model


def run_self_test(out=None) -> int:
    """Run every check, print one line each, and return the exit status (0 all passed, 1 otherwise)."""
    out = out or sys.stdout
    results = run_checks()
    start = time.perf_counter()
    try:
        results.append(CheckResult("main window", True, check_window(), time.perf_counter() - start))
    except Exception as exc:  # noqa: BLE001 - reported by name like every other check
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        results.append(CheckResult("main window", False, detail, time.perf_counter() - start))
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.name}: {result.detail} ({result.seconds:.1f} s)", file=out)
    failed = [result.name for result in results if not result.ok]
    print(f"self-test failed: {', '.join(failed)}" if failed else "self-test passed", file=out, flush=True)
    return 1 if failed else 0
