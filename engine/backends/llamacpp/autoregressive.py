"""Autoregressive GGUF models through llama-cpp-python (the bundled Gemma 3 270M, Gemma 4, Llama, Qwen...).

The span is rewritten left to right: one Draft per generated token. Models with a chat template get the
same user message as every backend, surrounding text included (rendered by llama-cpp-python's sandboxed
Jinja formatter). Base models without one (the bundled Gemma 3 270M) cannot follow that message: a rewrite
shows them one worked example and the span only, and `fill` continues the text before the cursor.
Emitted tokens are final, so each piece's confidence is 1.0: this backend reports no per-token uncertainty.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from engine.models.gguf_header import read_gguf
from engine.backends.llamacpp.runtime import capture_llama_logs, default_threads
from engine.prompt import DEFAULT_CONTEXT_BUDGET, PromptContext, build_context
from engine.types import Draft, EditRequest, EditResult, ModelInfo, ModelLoadError, RequestError

FILL_TOKENS = 64
MAX_REWRITE_TOKENS = 1024


class LlamaAutoregressiveBackend:
    family = "autoregressive"

    def __init__(
        self,
        path: str,
        threads: int | None = None,
        context_budget: int = DEFAULT_CONTEXT_BUDGET,
        model_id: str | None = None,
    ) -> None:
        self.path = path
        self.model_id = model_id or str(path)
        self.threads = threads or default_threads()
        self.context_budget = context_budget
        self.llm = None
        self._info: ModelInfo | None = None

    def load(self) -> ModelInfo:
        from llama_cpp import Llama

        capture_llama_logs()  # llama.cpp logs from C even with verbose=False
        header = read_gguf(self.path)
        trained = header.context_length or 4096
        # Room for the context budget, the span and its rewrite; never more than the model was trained on.
        n_ctx = min(trained, self.context_budget + 2 * MAX_REWRITE_TOKENS + 256)
        try:
            self.llm = Llama(
                str(self.path), n_ctx=n_ctx, n_threads=self.threads, n_threads_batch=self.threads, verbose=False
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(
                f"llama.cpp cannot load {header.path.name} (architecture {header.architecture!r}): {exc}"
            ) from None
        self._chat = bool(header.get("tokenizer.chat_template"))
        self._n_ctx = n_ctx
        self._info = ModelInfo(
            id=self.model_id,
            family=self.family,
            backend="llama.cpp",
            device="cpu",
            dtype=f"gguf:{header.architecture}",
            memory_bytes=header.size_bytes,
            details={"architecture": header.architecture, "chat_template": str(self._chat), "n_ctx": str(n_ctx)},
        )
        return self._info

    def info(self) -> ModelInfo:
        if self._info is None:
            raise RuntimeError("the backend is not loaded")
        return self._info

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def edit(
        self, request: EditRequest, on_draft: Callable[[Draft], None], cancel_event: threading.Event
    ) -> EditResult:
        started = time.perf_counter()
        # 1. Prompt, within the budget and the model's context.
        context = build_context(request, self.count_tokens, self.context_budget)
        max_tokens = self._max_tokens(request, context)
        sampling = {
            "max_tokens": max_tokens,
            "stream": True,
            "seed": request.seed if request.seed is not None else random.randrange(2**31),
            "temperature": 0.7,
            "top_p": 0.95,
            "repeat_penalty": 1.1,  # small models loop without it
        }
        if self._chat:
            stream = self.llm.create_chat_completion(messages=context.messages(), **sampling)
        else:
            stop = [] if request.mode == "fill" else _STOPS
            stream = self.llm.create_completion(_completion_prompt(context), stop=stop, **sampling)

        # 2. Stream: one draft per token, cancel checked between tokens.
        pieces: list[str] = []
        first_draft_s = None
        stop_reason = "max_steps"
        for chunk in stream:
            if cancel_event.is_set():
                stream.close()  # stops llama.cpp's generation loop
                stop_reason = "cancelled"
                break
            choice = chunk["choices"][0]
            piece = choice["delta"].get("content", "") if self._chat else choice["text"]
            if piece and not pieces and not self._chat and request.mode != "fill":
                piece = piece.removeprefix(" ")  # the space after "Rewritten (...):"
            if piece:
                pieces.append(piece)
                elapsed = time.perf_counter() - started
                first_draft_s = first_draft_s or elapsed
                on_draft(Draft.streamed(pieces, max_tokens, elapsed))
            if choice.get("finish_reason"):
                stop_reason = "eos" if choice["finish_reason"] == "stop" else "max_steps"

        # 3. Result.
        elapsed = time.perf_counter() - started
        text = "".join(pieces) if stop_reason != "cancelled" else ""
        return EditResult(
            text=text,
            steps=len(pieces),
            tokens=len(pieces),
            first_draft_s=first_draft_s,
            elapsed_s=elapsed,
            tokens_per_s=len(pieces) / elapsed if text and elapsed > 0 else 0.0,
            model_id=self.model_id,
            stop_reason=stop_reason,
        )

    def _max_tokens(self, request: EditRequest, context: PromptContext) -> int:
        if request.max_new_tokens:
            wanted = request.max_new_tokens
        elif request.mode == "fill":
            wanted = FILL_TOKENS
        else:
            wanted = min(2 * context.span_tokens + 16, MAX_REWRITE_TOKENS)
        room = self._n_ctx - context.context_tokens - context.span_tokens - 128  # the prompt's own words
        if room < min(wanted, 16):
            raise RequestError(
                f"the selection and its context do not fit this model's {self._n_ctx}-token context; select less"
            )
        return min(wanted, room)


# One worked example teaches a base model the pattern; it then stops at the blank line.
_EXAMPLE = (
    "Each passage is followed by the same passage, rewritten as asked.\n\n"
    "Passage: The weather was very bad so we stayed at home all day.\n"
    "Rewritten (more concise): Bad weather kept us home all day.\n\n"
)
_STOPS = ["\n\n", "\nPassage:"]


def _completion_prompt(context: PromptContext) -> str:
    """A base model continues text: `fill` continues the text before the cursor, a rewrite follows an example."""
    if context.mode == "fill":
        return context.before
    wish = context.instruction.strip() or ("with its mistakes fixed" if context.mode == "refine" else "rewritten")
    return f"{_EXAMPLE}Passage: {context.span}\nRewritten ({wish}):"
