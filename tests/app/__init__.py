"""Helpers for the GUI tests."""

import asyncio


def close_window(qtbot, window, timeout_ms: int = 10000) -> None:
    """Stop a window's runs and engine the way closing it does (awaited on the loop), and wait for it."""
    task = asyncio.ensure_future(window.aclose())
    qtbot.waitUntil(task.done, timeout=timeout_ms)
    task.result()
