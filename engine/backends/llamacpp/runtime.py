"""What every llama.cpp backend shares: its log, kept off stderr, and the default thread count."""

from __future__ import annotations

import collections
import os

llama_log_lines: collections.deque[str] = collections.deque(maxlen=64)
_log_callback = None
_backend_ready = False


def capture_llama_logs() -> None:
    """Keep llama.cpp's warnings and errors here instead of on stderr (they explain a failed load)."""
    global _log_callback, _backend_ready
    import llama_cpp

    def keep(level: int, text: bytes, user_data) -> None:
        try:
            if level >= 3:  # GGML_LOG_LEVEL_WARN, _ERROR, _CONT
                llama_log_lines.append(text.decode("utf-8", "replace").strip())
        except Exception:  # noqa: BLE001 - an exception must never cross back into C
            return

    if _log_callback is None:
        _log_callback = llama_cpp.llama_log_callback(keep)  # kept alive: C holds it
    llama_cpp.llama_log_set(_log_callback, None)  # again each load: another backend may have set its own
    if not _backend_ready:
        llama_cpp.llama_backend_init()
        _backend_ready = True


def default_threads() -> int:
    return max(1, (os.cpu_count() or 2) - 1)  # leave a core to the GUI
