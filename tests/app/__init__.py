"""Helpers for the GUI tests."""

import asyncio


def close_window(qtbot, window, timeout_ms: int = 10000) -> None:
    """Stop a window's runs and engine the way closing it does (awaited on the loop), and wait for it."""
    task = asyncio.ensure_future(window.aclose())
    qtbot.waitUntil(task.done, timeout=timeout_ms)
    task.result()


def shown_with_model(qtbot, monkeypatch, spec, text: str = "", **editor_options):
    """A fixture body: the real window shown with model `spec` loaded, `text` in its editor and the editor's
    request options set (seed, steps...); closed as a user's would be afterwards."""
    from app.window.main_window import create_main_window
    from engine import MODEL_ENV

    monkeypatch.setenv(MODEL_ENV, str(spec))
    win = create_main_window()
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=20000)
    win.editor.setPlainText(text)
    for name, value in editor_options.items():
        setattr(win.editor, name, value)
    yield win
    win.hide()
    close_window(qtbot, win)
