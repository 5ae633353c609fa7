"""What every llama.cpp backend shares: its log, kept off stderr, the default thread count, header values read
defensively, and the one line that says how much to select when a span cannot fit."""

from __future__ import annotations

import collections
import os

from engine.types import RequestError

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


def positive_int(value: object) -> int | None:
    """A header value as a positive int, or None: files are hostile, a field may be a string, 0 or negative."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def about_words(tokens: int) -> int:
    """Roughly how many English words `tokens` tokens hold (about 3 words per 4 tokens)."""
    return max(1, tokens * 3 // 4)


def select_less(span_tokens: int, most: int, n_ctx: int) -> RequestError:
    """The one line for a selection that cannot fit the model's context, saying how much would."""
    if most < 1:
        return RequestError(f"this model's {n_ctx:,}-token context is too small for this edit")
    return RequestError(
        f"the selection is {span_tokens:,} tokens, more than this model can rewrite at once ({n_ctx:,}-token "
        f"context): select at most {most:,} tokens (about {about_words(most):,} words)"
    )


def largest_fitting(fits, upper: int) -> int:
    """The largest n in 0..upper with fits(n) (fits is monotone: true up to some n, false after); 0 if none."""
    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low
