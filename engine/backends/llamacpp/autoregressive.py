"""Autoregressive GGUF models through llama-cpp-python (the bundled Gemma 3 270M, Gemma 4, Llama, Qwen...).

The span is rewritten left to right: one Draft per generated token. Models with a chat template get the
same user message as every backend, surrounding text included (rendered by llama-cpp-python's sandboxed
Jinja environment, with limits: engine/chat_template.py). Base models without one (the bundled Gemma 3 270M) cannot follow that message: a rewrite
shows them three worked examples (`Original:` / `Edited:`) and the span only, stopping where the span's shape
ends, and `fill` continues the text before the cursor to the end of its line or paragraph.
Emitted tokens are final, so each piece's confidence is 1.0: this backend reports no per-token uncertainty.

- The context size (n_ctx) is fixed at load from the header alone: the trained context, at most CONTEXT_CAP
  tokens and what KV_CACHE_BUDGET bytes of KV cache hold (a hostile `context_length` never reaches llama.cpp).
- Each request's prompt is tokenized here, exactly as llama.cpp will see it, and fitted to n_ctx with room
  for the rewrite: the context around the span (the request's `context_budget`) is cut to fit; a span that
  cannot fit is refused with how much to select. llama.cpp never sees a prompt over its context.
- The prompt is evaluated PREFILL_CHUNK tokens at a time with the cancel event checked between chunks, so a
  cancel during a long prompt's evaluation takes effect within one chunk.
- Stop reasons: `eos` (an end token or a stop string), `length` (max tokens reached), `cancelled`.
"""

from __future__ import annotations

import contextlib
import ctypes
import random
import threading
import time
from collections.abc import Callable

import numpy as np

from engine.chat_template import ChatTemplate
from engine.backends.llamacpp.runtime import (
    about_words,
    capture_llama_logs,
    default_threads,
    largest_fitting,
    positive_int,
    select_less,
)
from engine.backends.llamacpp import prompt_shapes
from engine.backends.llamacpp.output_shape import OutputShape
from engine import spelling
from engine.models.gguf_header import GgufInfo, read_gguf
from engine.prompt import PromptContext, build_context
from engine.types import Cancelled, Draft, EditRequest, EditResult, ModelInfo, ModelLoadError, RequestError

FILL_TOKENS = 64
MAX_REWRITE_TOKENS = 1024
PREFILL_CHUNK = 256  # prompt tokens per llama_decode: a cancel waits for one chunk at most
# n_ctx at most: the default request (4,096 tokens of document, span included, plus a rewrite of up to 1,024
# tokens and the prompt's own words) fits with room for a raised budget.
CONTEXT_CAP = 8192
# f16 K and V for every layer at every position: 1 GiB is 8,192 tokens of a Llama-3-8B-shaped model (128 KiB
# a token) and 58,000 of Gemma 3 270M (18 KiB); a model shaped to need more gets a shorter context.
KV_CACHE_BUDGET = 1 << 30
UNSURE = 0.2  # the confidence a spelling draft gives a word not yet decided (shown faded)
MIN_CONTEXT = 512  # never smaller than this, unless the model was trained shorter
UNKNOWN_TRAINED_CONTEXT = 4096  # a header without a usable context_length


def kv_bytes_per_token(header: GgufInfo) -> int | None:
    """Bytes of f16 KV cache one position takes, from the header's shape; None if the header does not say."""
    arch = header.architecture
    layers = positive_int(header.get(f"{arch}.block_count"))
    heads = positive_int(header.get(f"{arch}.attention.head_count"))
    kv_heads = positive_int(header.get(f"{arch}.attention.head_count_kv")) or heads
    width = positive_int(header.get(f"{arch}.embedding_length"))
    key = positive_int(header.get(f"{arch}.attention.key_length")) or (width // heads if width and heads else None)
    value = positive_int(header.get(f"{arch}.attention.value_length")) or key
    if not (layers and kv_heads and key and value):
        return None
    return layers * kv_heads * (key + value) * 2


def context_size(header: GgufInfo) -> int:
    """The n_ctx to load with: the trained context, capped by CONTEXT_CAP and by KV_CACHE_BUDGET."""
    trained = positive_int(header.context_length) or UNKNOWN_TRAINED_CONTEXT
    per_token = kv_bytes_per_token(header)
    by_memory = KV_CACHE_BUDGET // per_token if per_token else CONTEXT_CAP
    return min(trained, max(MIN_CONTEXT, min(CONTEXT_CAP, by_memory)))


class LlamaAutoregressiveBackend:
    family = "autoregressive"

    def __init__(
        self, path: str, threads: int | None = None, model_id: str | None = None, small: bool | None = None
    ) -> None:
        """`small`: prompt it as a small model (prompt_shapes.py); None decides by its size on disk."""
        self.path = path
        self.small = small
        self.model_id = model_id or str(path)
        self.threads = threads or default_threads()
        self.llm = None
        self.prefill_chunks = 0  # prompt chunks the last edit evaluated (tests count them)
        self._line_breaks: np.ndarray | None = None  # the vocabulary's tokens holding a line break, found once
        self._info: ModelInfo | None = None

    def load(self) -> ModelInfo:
        from llama_cpp import Llama

        capture_llama_logs()  # llama.cpp logs from C even with verbose=False
        header = read_gguf(self.path)
        name, arch = header.path.name, header.architecture
        n_ctx = context_size(header)
        try:
            self.llm = Llama(
                str(self.path),
                n_ctx=n_ctx,
                n_batch=PREFILL_CHUNK,
                n_ubatch=PREFILL_CHUNK,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"llama.cpp cannot load {name} (architecture {arch!r}): {exc}") from None
        template = header.get("tokenizer.chat_template")
        self._formatter = None
        if isinstance(template, str) and template:
            try:  # rendered as llama-cpp-python's Jinja2ChatFormatter would, in a sandbox with limits
                self._formatter = ChatTemplate(template, name)
            except ModelLoadError:
                self.close()
                raise
            self._eos_text = self._token_text(self.llm.token_eos())
            self._bos_text = self._token_text(self.llm.token_bos())
        self._n_ctx = n_ctx
        if self.small is None:
            self.small = header.size_bytes < prompt_shapes.SMALL_MODEL_BYTES
        self._shape = prompt_shapes.shape_for(self._formatter is not None, self.small)
        self._warm_up()
        self._info = ModelInfo(
            id=self.model_id,
            family=self.family,
            backend="llama.cpp",
            device="cpu",
            dtype=f"gguf:{arch}",
            memory_bytes=header.size_bytes,
            details={"architecture": arch, "prompt": self._shape, "n_ctx": str(n_ctx)},
        )
        return self._info

    def _warm_up(self) -> None:
        """What the first edit would otherwise pay for while the user waits (about 1.5 s to its first draft
        on 2 cores, tests/bench/perceived_speed.py): llama.cpp's first decode, and the line-break tokens."""
        self.llm.eval(self.llm.tokenize(b"Warm up.", add_bos=True, special=False))
        self.llm.n_tokens = 0  # nothing of it stays in the cache
        if self._shape != "document":
            self._one_line()
        if self.small:
            spelling.load()

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
        # 1. Prompt: tokenized as llama.cpp will see it, fitted to its context with room for the rewrite.
        try:
            prompt, shape, max_tokens = self._fit(request, cancel_event)
        except Cancelled:  # Esc while a slow chat template renders
            return self._result("", 0, None, started, "cancelled")

        # 2. Prefill, a chunk at a time, cancel checked between chunks. A small model asked only for spelling
        #    writes nothing: step 4 fixes the span's words ("Try again" samples a rewrite, and step 4 fixes
        #    what it left).
        correction = self.small and prompt_shapes.is_correction(request)
        spelling_only = correction and prompt_shapes.is_spelling(request) and self._can_score and not request.varied
        if not spelling_only and not self._prefill(prompt, cancel_event):
            return self._result("", 0, None, started, "cancelled")

        # 3. Stream: one draft per token, cancel checked between tokens. A small model's correction that lost
        #    much of the span, or shortening that is not shorter or invents, is tried again, sampled
        #    (prompt_shapes.fit), and the drafts start over; the best try is offered.
        seed = request.seed if request.seed is not None else random.randrange(2**31)
        retries = prompt_shapes.retries(request) if self.small else 0
        first_draft_s, steps, best = None, 0, None
        if spelling_only:
            retries, best = -1, (request.span, "eos")
        for attempt in range(retries + 1):
            sampling = prompt_shapes.sampling(request, varied=request.varied or attempt > 0)
            text, pieces, first, stop_reason = self._stream(
                prompt, shape.fresh(), max_tokens, seed + attempt, sampling, request, started, on_draft, cancel_event
            )
            first_draft_s, steps = first_draft_s or first, steps + pieces
            if stop_reason == "cancelled":
                best = (text, stop_reason)
                break
            quality, enough = prompt_shapes.fit(request, text)
            if best is None or quality > best[2]:
                best = (text, stop_reason, quality)
            if enough:
                break
        text, stop_reason = best[0], best[1]  # the engine gives it the span's line breaks at its ends

        # 4. Spelling, on a small model's correction: the dictionary proposes, the model chooses in context
        #    (engine/spelling.py); a draft per fixed word.
        if correction and self._can_score and stop_reason != "cancelled" and text.strip():
            text, fixes, first = self._spell(request, text, steps, started, on_draft, cancel_event)
            first_draft_s, steps = first_draft_s or first, steps + fixes
            stop_reason = "cancelled" if cancel_event.is_set() else stop_reason

        # 5. Result: tokens/s counts the tokens of the text itself (a stop string or a held-back chunk aside).
        return self._result(text, steps, first_draft_s, started, stop_reason)

    def _stream(self, prompt, shape: OutputShape, max_tokens: int, seed: int, sampling: dict, request: EditRequest,
                started: float, on_draft, cancel_event) -> tuple[str, int, float | None, str]:
        """One answer, streamed as drafts: its text, its steps, when its first draft came, its stop reason."""
        stream = self.llm.create_completion(
            prompt,  # already evaluated: llama-cpp-python finds it cached and starts sampling
            max_tokens=max_tokens,
            stream=True,
            seed=seed,
            logits_processor=self._one_line() if prompt_shapes.one_line(request) and self._shape != "document" else None,
            **sampling,
        )
        pieces: list[str] = []  # what each step added to the shown text
        first_draft_s = None
        stop_reason = "length"
        for chunk in stream:
            if cancel_event.is_set():
                stream.close()  # stops llama.cpp's generation loop
                stop_reason = "cancelled"
                break
            choice = chunk["choices"][0]
            shown = shape.text
            ended = shape.add(choice["text"])
            if choice.get("finish_reason") == "stop":
                shape.finish()  # the model's end: a tail held back as a possible stop is the answer's
            if shape.text != shown:
                if shape.text.startswith(shown):
                    pieces.append(shape.text[len(shown) :])
                else:  # its start changed (a courtesy recognised once whole): the draft starts over
                    pieces = [shape.text]
                elapsed = time.perf_counter() - started
                first_draft_s = first_draft_s or elapsed
                on_draft(Draft.streamed(pieces, max_tokens, elapsed))
            if ended or choice.get("finish_reason") == "stop":
                stream.close()
                stop_reason = "eos"
                break
        if stop_reason == "cancelled":
            return "", len(pieces), first_draft_s, stop_reason
        if stop_reason == "length":
            text = shape.cut_short() if request.mode == "fill" else shape.finish()
        else:
            text = shape.text
        return text, len(pieces), first_draft_s, stop_reason

    def _spell(self, request: EditRequest, text: str, done_steps: int, started: float, on_draft,
               cancel_event) -> tuple[str, int, float | None]:
        """`text` with its misspelled words fixed: the text, its drafts, the first draft's time. The first draft
        shows the words under consideration faded (unsure), each later one a fixed word as changed; their
        steps follow the `done_steps` of the rewrite that wrote `text`."""
        before = request.text[max(0, request.start - spelling.LEX_CONTEXT) : request.start]
        times: list[float] = []
        most = [0]  # drafts at most: the first, and one per suspect

        def step(now: spelling.Step) -> None:
            most[0] = most[0] or done_steps + 1 + len(now.unsure)
            times.append(time.perf_counter() - started)
            marks = sorted([*((a, b, UNSURE) for a, b in now.unsure), *([(*now.fixed, 1.0)] if now.fixed else [])])
            pieces, confidence, changed, at = [], [], [], 0
            for a, b, sure in marks:
                pieces += [now.text[at:a], now.text[a:b]]
                confidence += [1.0, sure]
                changed += [False, (a, b) == now.fixed]
                at = b
            pieces.append(now.text[at:])
            confidence.append(1.0)
            changed.append(False)
            kept = [i for i, piece in enumerate(pieces) if piece]
            on_draft(Draft(step=done_steps + len(times), max_steps=most[0], text=now.text, pieces=tuple(pieces[i] for i in kept),
                           confidence=tuple(confidence[i] for i in kept), changed=tuple(changed[i] for i in kept),
                           elapsed_s=times[-1]))

        after = request.text[request.end : request.end + spelling.LEX_AFTER]
        with self._cache_kept():
            done = spelling.correct(text, request.language, self._log_likelihoods, before, after, step, cancel_event.is_set)
        return (done if not cancel_event.is_set() else ""), len(times), (times[0] if times else None)

    @contextlib.contextmanager
    def _cache_kept(self):
        """What the KV cache holds (the worked examples' prompt, ~1 s to evaluate on one core) is put back
        after scoring, which overwrites it: the next rewrite does not evaluate it again."""
        import llama_cpp

        llm, ctx = self.llm, self.llm.ctx
        n_tokens, ids = llm.n_tokens, llm.input_ids[: llm.n_tokens].copy()
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        saved = (ctypes.c_uint8 * size)()
        size = llama_cpp.llama_state_seq_get_data(ctx, saved, size, 0)
        try:
            yield
        finally:
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            if size and llama_cpp.llama_state_seq_set_data(ctx, saved, size, 0) == size:
                llm.input_ids[:n_tokens], llm.n_tokens = ids, n_tokens
            else:
                llm.n_tokens = 0  # not put back: evaluated again next time

    @property
    def _can_score(self) -> bool:
        """Scoring continuations cuts the KV cache back, which a recurrent model's state cannot do."""
        return not (getattr(self.llm, "_is_recurrent", False) or getattr(self.llm, "_is_hybrid", False))

    def _log_likelihoods(self, prefix: str, continuations: list[str]) -> list[float]:
        """The model's log-likelihood, in nats, of each continuation after `prefix` (engine/spelling.py).

        The prefix is evaluated once (what the cache already holds of it is kept); each continuation is then
        decoded after it in one batch with every position's logits, and cut off again. llama-cpp-python's
        own `eval` keeps only the last position's logits unless the whole context was built for all."""
        llm = self.llm
        # A line break first: after nothing but a BOS a small model scores the opening words of a text
        # badly (SmolLM2-135M gave "Te survey team" 10 nats over "The survey team"; after "\n" it is 14 under).
        head = llm.tokenize(("\n" + prefix.rstrip(" ")).encode("utf-8"), add_bos=True, special=False)
        gap = prefix[len(prefix.rstrip(" ")) :]  # BPE spells the space with the next word (" very")
        self._prefill(head, threading.Event())  # evaluates all but what is cached; the last token is redone
        start = len(head) - 1
        scores = []
        for continuation in continuations:
            tokens = llm.tokenize((gap + continuation).encode("utf-8"), add_bos=False, special=False)
            tokens = tokens[: llm.n_batch - 1]  # one batch: set_batch writes past its arrays otherwise
            batch = [head[-1], *tokens]
            llm._ctx.kv_cache_seq_rm(-1, start, -1)
            llm._batch.set_batch(batch=batch, n_past=start, logits_all=True)
            llm._ctx.decode(llm._batch)
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(batch), llm.n_vocab()))[:-1]
            top = logits.max(axis=1, keepdims=True)
            log_z = (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))[:, 0]
            scores.append(float((logits[np.arange(len(tokens)), tokens] - log_z).sum()))
        llm._ctx.kv_cache_seq_rm(-1, start, -1)
        llm.n_tokens = start  # the cache holds the prefix but its last token
        return scores

    def _one_line(self) -> list:
        """A logits processor that rules out every token with a line break: a fill inside a line, or the
        rewrite of a one-line span, stays on its line (a small model likes to open with a break)."""
        from llama_cpp import LogitsProcessorList

        if self._line_breaks is None:
            self._line_breaks = np.array(
                [t for t in range(self.llm.n_vocab()) if b"\n" in self.llm.detokenize([t])], dtype=np.intc
            )
        breaks = self._line_breaks

        def no_breaks(_input_ids, logits):
            logits[breaks] = -np.inf
            return logits

        return LogitsProcessorList([no_breaks])

    def _result(self, text: str, steps: int, first_draft_s, started: float, stop_reason) -> EditResult:
        elapsed = time.perf_counter() - started
        tokens = self.count_tokens(text) if text else 0
        return EditResult(
            text=text,
            steps=steps,
            tokens=tokens,
            first_draft_s=first_draft_s,
            elapsed_s=elapsed,
            tokens_per_s=tokens / elapsed if tokens and elapsed > 0 else 0.0,
            model_id=self.model_id,
            stop_reason=stop_reason,
        )

    # -- the prompt ----------------------------------------------------------------------------------------

    def _fit(self, request: EditRequest, cancel_event: threading.Event | None = None) -> tuple[list[int], OutputShape, int]:
        """The prompt's tokens, where its answer ends and the tokens to generate, all within n_ctx.

        The prompt's fixed part (template, instruction, example) is measured by rendering it around the span
        alone; the context gets what is left after the rewrite's room, at most the request's budget."""
        n_ctx = self._n_ctx
        span_tokens = self.count_tokens(request.span)
        if self.small and request.mode != "fill" and span_tokens > prompt_shapes.SMALL_SPAN_TOKENS:
            most = prompt_shapes.SMALL_SPAN_TOKENS
            raise RequestError(
                f"the selection is {span_tokens:,} tokens; this small model rewrites at most {most} at once "
                f"(about {about_words(most)} words): select less, or choose a larger model"
            )
        bare = self._render(build_context(request, self.count_tokens, span_tokens), cancel_event)[0]
        overhead = len(bare) - span_tokens

        def room(span: int) -> int:  # tokens left for the context around a span of `span` tokens
            return n_ctx - overhead - span - self._wanted(request, span)

        wanted = self._wanted(request, span_tokens)
        if request.max_new_tokens:  # asked for more than fits: as many as fit
            wanted = min(wanted, n_ctx - overhead - span_tokens)
            if wanted < 1:
                most = largest_fitting(lambda s: n_ctx - overhead - s >= 1, span_tokens)
                raise select_less(span_tokens, most, n_ctx)
        elif room(span_tokens) < 0:
            raise select_less(span_tokens, largest_fitting(lambda s: room(s) >= 0, span_tokens), n_ctx)
        budget = min(request.context_budget, n_ctx - overhead - wanted)  # under the span only if the request's is
        if self.small and self._shape != "document":  # the nearest context only: a fill's, a rewrite's none
            budget = min(budget, span_tokens + (prompt_shapes.SMALL_FILL_CONTEXT if request.mode == "fill" else 0))
        for _ in range(4):  # line-by-line counts can differ a little from the whole prompt's
            tokens, shape = self._render(build_context(request, self.count_tokens, budget), cancel_event)
            excess = len(tokens) + wanted - n_ctx
            if excess <= 0:
                return tokens, shape, wanted
            budget = max(budget - excess, span_tokens)
        raise RequestError(
            f"the prompt for this selection does not fit this model's {n_ctx:,}-token context; select less"
        )

    def _wanted(self, request: EditRequest, span_tokens: int) -> int:
        if request.max_new_tokens:
            return request.max_new_tokens
        if request.mode == "fill":
            return FILL_TOKENS
        return min(2 * span_tokens + 16, MAX_REWRITE_TOKENS)

    def _render(self, context: PromptContext, cancel_event: threading.Event | None = None) -> tuple[list[int], OutputShape]:
        """The prompt's tokens as llama.cpp evaluates them, and where the answer ends, in the model's shape
        (prompt_shapes.py). A chat template gets what llama-cpp-python's Jinja2ChatFormatter passes it; a
        hostile one fails in one line, a cancel stops it."""
        shape = self._shape
        if context.mode == "fill" and shape != "document":
            text, taken = prompt_shapes.continuation(context)
            tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False) or [self.llm.token_bos()]
            return tokens, OutputShape(prompt_shapes.stops(context), prefix=taken, source=context.span)
        if shape == "document":
            return self._chat(context.messages(), cancel_event), OutputShape([self._eos_text], chat=True, source=context.span)
        # As many worked examples as leave half the context to the span, its context and the rewrite.
        for examples in range(len(prompt_shapes.EXAMPLES), -1, -1):
            if shape == "examples":
                text = prompt_shapes.completion_prompt(context, examples)
                tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
            else:
                tokens = self._chat(prompt_shapes.short_chat(context, examples), cancel_event)
            if examples == 0 or len(tokens) - self.count_tokens(context.span) <= self._n_ctx // 2:
                break
        ends = [self._eos_text] if shape == "short-chat" else []
        return tokens, OutputShape(
            [*ends, *prompt_shapes.stops(context)], prefix=" " if shape == "examples" else "", chat=shape == "short-chat",
            source=context.span,
        )

    def _chat(self, messages: list[dict[str, str]], cancel_event: threading.Event | None) -> list[int]:
        prompt = self._formatter.render(
            messages,
            cancel_event=cancel_event,
            eos_token=self._eos_text,
            bos_token=self._bos_text,
            add_generation_prompt=True,
            functions=None,
            function_call=None,
            tools=None,
            tool_choice=None,
        )
        # As llama-cpp-python's chat handler does it: special tokens in the rendered template are tokens, the
        # template adds the BOS itself (added_special), and the end token's text stops generation.
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def _token_text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    # -- llama.cpp -----------------------------------------------------------------------------------------

    def _prefill(self, tokens: list[int], cancel_event: threading.Event) -> bool:
        """Evaluate the prompt PREFILL_CHUNK tokens at a time, False as soon as a cancel is seen. The part
        already in the KV cache from the last edit (the same document's prefix) is kept, except for
        recurrent models, whose state cannot be cut back."""
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens]
        shared = min(len(cached), len(tokens))
        differ = np.flatnonzero(cached[:shared] != np.asarray(tokens[:shared]))
        keep = int(differ[0]) if len(differ) else shared
        keep = min(keep, len(tokens) - 1)  # the last token is evaluated again: sampling needs its logits
        if getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False):
            keep = 0
        llm.n_tokens = keep  # `eval` drops the cache past it
        self.prefill_chunks = 0
        for start in range(keep, len(tokens), PREFILL_CHUNK):
            if cancel_event.is_set():
                return False
            llm.eval(tokens[start : start + PREFILL_CHUNK])
            self.prefill_chunks += 1
        return not cancel_event.is_set()
