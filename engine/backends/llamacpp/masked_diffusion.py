"""Masked-diffusion GGUFs through llama.cpp (LLaDA, LLaDA-MoE, Dream, RND1): true in-place infill.

The span is replaced by N mask tokens between the text before and after it, and the model, which attends
both ways, fills them in over a few steps: each step is one full forward pass over the whole sequence (these
architectures have no KV cache, and llama.cpp returns logits for every position), after which the sampler in
`unmasking.py` commits the positions it is sure of. Each step is one Draft; masked positions show as
`PLACEHOLDER`.

- N follows the span: its length in tokens plus a quarter plus 4 (a rewrite may run longer; the model fills
  what it does not need with end-of-text tokens, which render as nothing), or `max_new_tokens`; `fill` uses
  `max_new_tokens` or `FILL_TOKENS`. `refine` gets less slack, but starts from masks like a rewrite: a masked
  model cannot warm-start from the original tokens.
- The instruction is not used: these are pure infill models and the text around the span is the whole
  prompt. (LLaDA-Instruct could take an instruction through its chat template, at the cost of in-place
  infill.)
- The text around the span is the request's `context_budget`, at most MASKED_DIFFUSION_BUDGET tokens (every
  step re-reads the whole sequence: there is no KV cache), and the whole sequence at most MAX_SEQUENCE tokens
  or the model's trained context. A span whose masks cannot fit is refused with how much to select.
- The result is the canvas up to its first end-of-generation token (EOS/EOT; what follows it is not text).
  Stop reasons: `eos` when the model ended the text, `length` when the canvas filled up without an end token
  (the rewrite may be cut short), `cancelled`.
- Only llama-cpp-python's low-level API is used: the high-level `Llama` cannot evaluate these models. The
  context is sized to the sequence (a micro-batch smaller than the sequence aborts the process), attention is
  set non-causal explicitly (as llama.cpp's diffusion example does; the encoder path is non-causal today, but
  that is llama.cpp's default, not a promise), and flash attention is off (~1e-2 of logit accuracy on CPU).
- Every file is checked by `read_gguf` before llama.cpp sees it: llama.cpp aborts on some malformed files.
"""

from __future__ import annotations

import codecs
import ctypes
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.models.gguf_header import read_gguf
from engine.backends.llamacpp.runtime import (
    capture_llama_logs,
    default_threads,
    largest_fitting,
    llama_log_lines,
    positive_int,
    select_less,
)
from engine.prompt import build_context
from engine.types import PLACEHOLDER, Draft, EditRequest, EditResult, ModelInfo, ModelLoadError, RequestError
from engine.backends.llamacpp.unmasking import UnmaskingParams, unmask_step

FILL_TOKENS = 32  # masks for `fill` when the request does not say
CONTEXT_QUANTUM = 256  # the llama.cpp context grows in steps of this, so it is rarely rebuilt
MASKED_DIFFUSION_BUDGET = 1024  # tokens of document around the span, at most: each step is a full forward pass
# The whole sequence, at most: without flash attention llama.cpp holds heads x n x n attention scores per step
# (32 heads at 2,048 tokens: 512 MB), and a step over more would take seconds on a CPU anyway.
MAX_SEQUENCE = 2048

class LlamaDiffusionBackend:
    family = "masked_diffusion"

    def __init__(
        self,
        path: str,
        threads: int | None = None,
        params: UnmaskingParams | None = None,
        model_id: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.model_id = model_id or str(path)
        self.threads = threads or default_threads()
        self.params = params or UnmaskingParams()
        self._model = None
        self._ctx = None
        self._batch = None
        self._ctx_tokens = 0
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._info: ModelInfo | None = None

    # -- loading -------------------------------------------------------------------------------------------

    def load(self) -> ModelInfo:
        import llama_cpp as L

        header = read_gguf(self.path)  # missing, truncated or not a GGUF: a ModelLoadError, never an abort
        name, arch = self.path.name, header.architecture
        capture_llama_logs()
        llama_log_lines.clear()
        model = L.llama_model_load_from_file(str(self.path).encode(), L.llama_model_default_params())
        if not model:
            errors = [line for line in llama_log_lines if line]
            if any("unknown model architecture" in line for line in errors):
                raise ModelLoadError(
                    f"{name}: this llama.cpp does not support the {arch!r} architecture yet; "
                    "for DiffusionGemma use the transformers backend with a safetensors checkpoint"
                )
            reason = next((e for e in errors if "error loading model" in e), errors[-1] if errors else "")
            raise ModelLoadError(f"llama.cpp cannot load {name} (architecture {arch!r}): {reason or 'no reason given'}")
        vocab = L.llama_model_get_vocab(model)
        if not L.llama_model_is_diffusion(model):
            L.llama_model_free(model)
            raise ModelLoadError(
                f"{name} is an autoregressive model ({arch!r}), not a diffusion one; "
                "it runs on the autoregressive llama.cpp backend"
            )
        if L.llama_vocab_mask(vocab) < 0:
            L.llama_model_free(model)
            raise ModelLoadError(f"{name} has no mask token (tokenizer.ggml.mask_token_id): it cannot infill")

        self._model, self._vocab = model, vocab
        self._mask = L.llama_vocab_mask(vocab)
        self._n_vocab = L.llama_vocab_n_tokens(vocab)
        self._n_ctx_train = L.llama_model_n_ctx_train(model)
        # What one edit's sequence may hold: never a hostile header's 2^31-1, never more than MAX_SEQUENCE.
        self._limit = min(positive_int(self._n_ctx_train) or MAX_SEQUENCE, MAX_SEQUENCE)
        self._bos = [L.llama_vocab_bos(vocab)] if L.llama_vocab_get_add_bos(vocab) else []
        # Dream predicts each token from the position before it; LLaDA at the position itself. llama.cpp's own
        # diffusion example shifts unless the file says otherwise.
        self._shift = self._meta("diffusion.shift_logits") != "false"
        self._info = ModelInfo(
            id=self.model_id,
            family=self.family,
            backend="llama.cpp",
            device="gpu" if L.llama_supports_gpu_offload() else "cpu",
            dtype=f"gguf:{arch}",
            memory_bytes=L.llama_model_size(model),
            details={
                "architecture": arch,
                "n_ctx_train": str(self._n_ctx_train),
                "max_sequence": str(self._limit),
                "mask_token": str(self._mask),
                "shift_logits": str(self._shift).lower(),
                "score": self.params.score,
                "threshold": str(self.params.threshold),
            },
        )
        return self._info

    def info(self) -> ModelInfo:
        if self._info is None:
            raise RuntimeError("the backend is not loaded")
        return self._info

    def close(self) -> None:
        import llama_cpp as L

        if self._batch is not None:
            L.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            L.llama_free(self._ctx)
            self._ctx = None
        if self._model is not None:
            L.llama_model_free(self._model)
            self._model = None
        self._ctx_tokens = 0

    # -- editing -------------------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def tokenize(self, text: str) -> list[int]:
        """Plain text to tokens: no BOS, and special-token text in the document stays text."""
        import llama_cpp as L

        data = text.encode("utf-8")
        if not data:
            return []
        size = len(data) + 8
        while True:
            out = (L.llama_token * size)()
            n = L.llama_tokenize(self._vocab, data, len(data), out, size, False, False)
            if n >= 0:
                return list(out[:n])
            size = -n

    def edit(
        self, request: EditRequest, on_draft: Callable[[Draft], None], cancel_event: threading.Event
    ) -> EditResult:
        if self._model is None:
            raise RuntimeError("the backend is not loaded")
        started = time.perf_counter()
        params = self.params
        steps = request.steps or params.steps

        # 1. Canvas: how many masks the span gets; they must fit the sequence limit on their own.
        span_tokens = self.count_tokens(request.span)
        room = self._limit - len(self._bos)
        wanted = self._canvas_length(request, span_tokens)
        if wanted > room and request.max_new_tokens is None:
            most = largest_fitting(lambda s: self._canvas_length(request, s) <= room, span_tokens)
            raise select_less(span_tokens, most, self._limit)
        n = min(wanted, room)  # more new tokens asked for than fit: as many as fit
        room -= n  # what is left for the text around the span

        # 2. Context: the nearest text before and after the span, within the request's budget, the room left
        #    and MASKED_DIFFUSION_BUDGET (span included; a longer span goes alone).
        budget = min(request.context_budget, max(MASKED_DIFFUSION_BUDGET, span_tokens), span_tokens + room)
        context = build_context(request, self.count_tokens, budget)
        before, after = self.tokenize(context.before), self.tokenize(context.after)
        while len(before) + len(after) > room:  # line-by-line counts can differ from a whole-text count
            if len(before) >= len(after):
                before = before[1:]
            else:
                after = after[:-1]
        start = len(self._bos) + len(before)
        sequence = np.array(self._bos + before + [self._mask] * n + after, dtype=np.int32)
        self._ensure_context(len(sequence))

        # 3. Denoise: predict every masked position, commit the sure ones, one draft per step.
        seed = request.seed if request.seed is not None else random.randrange(2**31)
        rng = np.random.default_rng(seed)
        confidence = np.zeros(n)
        first_draft_s, last, step = None, None, 0
        stop_reason = "length"
        while step < steps:
            if cancel_event.is_set():
                stop_reason = "cancelled"
                break
            masked = np.flatnonzero(sequence[start : start + n] == self._mask)
            logits = self._forward(sequence, start + masked)  # predict
            commit = unmask_step(logits, rng, steps - step, params)  # choose
            positions = masked[commit.rows]  # commit
            sequence[start + positions] = commit.tokens
            confidence[positions] = commit.scores
            step += 1
            changed = np.zeros(n, dtype=bool)
            changed[positions] = True
            elapsed = time.perf_counter() - started
            first_draft_s = first_draft_s or elapsed
            last = self._draft(sequence[start : start + n], confidence, changed, step, steps, elapsed)
            on_draft(last)  # show
            if cancel_event.is_set():
                stop_reason = "cancelled"
                break
            if not (sequence[start : start + n] == self._mask).any():
                break

        # 4. Result: the canvas up to its first end-of-generation token; without one it was cut by its length.
        elapsed = time.perf_counter() - started
        if stop_reason == "cancelled" or last is None:
            text, tokens = "", 0
        else:
            filled = [int(t) for t in sequence[start : start + n]]
            end = next((i for i, t in enumerate(filled) if self._is_eog(t)), None)
            if end is not None:
                stop_reason, filled = "eos", filled[:end]
            text, tokens = "".join(self._detokenize(filled)[0]), len(filled)
        return EditResult(
            text=text,
            steps=step,
            tokens=tokens,
            first_draft_s=first_draft_s,
            elapsed_s=elapsed,
            tokens_per_s=tokens / elapsed if tokens and elapsed > 0 else 0.0,
            model_id=self.model_id,
            stop_reason=stop_reason,
        )

    def _canvas_length(self, request: EditRequest, span_tokens: int) -> int:
        if request.max_new_tokens:
            return request.max_new_tokens
        if request.mode == "fill":
            return FILL_TOKENS
        if request.mode == "refine":
            return span_tokens + span_tokens // 8 + 2
        return span_tokens + span_tokens // 4 + 4

    # -- llama.cpp -----------------------------------------------------------------------------------------

    def _ensure_context(self, length: int) -> None:
        """A context (and batch) holding `length` tokens in one micro-batch: a smaller one aborts the process."""
        import llama_cpp as L

        if length <= self._ctx_tokens:
            return
        size = min(-(-length // CONTEXT_QUANTUM) * CONTEXT_QUANTUM, max(self._limit, length))
        if self._ctx is not None:
            L.llama_free(self._ctx)
            L.llama_batch_free(self._batch)
            self._ctx, self._batch, self._ctx_tokens = None, None, 0
        cp = L.llama_context_default_params()
        cp.n_ctx = cp.n_batch = cp.n_ubatch = size
        cp.n_seq_max = 1
        cp.n_threads = cp.n_threads_batch = self.threads
        cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cp.no_perf = True
        ctx = L.llama_init_from_model(self._model, cp)
        if not ctx:
            reason = llama_log_lines[-1] if llama_log_lines else "no reason given"
            raise RequestError(f"llama.cpp cannot make a {size}-token context for this edit: {reason}")
        L.llama_set_causal_attn(ctx, False)  # every position sees the whole sequence, masks after it included
        batch = L.llama_batch_init(size, 0, 1)
        for i in range(size):  # every token is position i of sequence 0; only the tokens change per step
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1
        self._ctx, self._batch, self._ctx_tokens = ctx, batch, size
        self._token_view = np.ctypeslib.as_array(batch.token, shape=(size,))

    def _forward(self, sequence: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """One full forward pass; the logits rows (a copy) predicting `positions`, the mask token banned."""
        import llama_cpp as L

        length = len(sequence)
        self._token_view[:length] = sequence
        self._batch.n_tokens = length
        rc = L.llama_decode(self._ctx, self._batch)
        if rc != 0:
            raise RequestError(f"llama.cpp failed to run the model on {length} tokens (llama_decode returned {rc})")
        logits = np.ctypeslib.as_array(L.llama_get_logits(self._ctx), shape=(length, self._n_vocab))
        rows = np.maximum(positions - 1, 0) if self._shift else positions
        chosen = logits[rows]  # fancy indexing copies out of llama.cpp's buffer
        chosen[:, self._mask] = -np.inf
        return chosen

    def _meta(self, key: str) -> str | None:
        import llama_cpp as L

        buf = ctypes.create_string_buffer(64)
        n = L.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def _piece(self, token: int) -> bytes:
        """A token's bytes as text (control tokens, end-of-text included, are empty)."""
        piece = self._pieces.get(token)
        if piece is None:
            import llama_cpp as L

            buf = ctypes.create_string_buffer(256)
            n = L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            piece = self._pieces[token] = buf.raw[: max(n, 0)]
        return piece

    def _is_eog(self, token: int) -> bool:
        eog = self._eog.get(token)
        if eog is None:
            import llama_cpp as L

            eog = self._eog[token] = bool(L.llama_vocab_is_eog(self._vocab, token))
        return eog

    # -- drafts --------------------------------------------------------------------------------------------

    def _draft(self, tokens, confidence, changed, step: int, steps: int, elapsed: float) -> Draft:
        pieces, groups = self._detokenize(tokens)
        return Draft(
            step=step,
            max_steps=steps,
            text="".join(pieces),
            pieces=tuple(pieces),
            confidence=tuple(float(min(confidence[i] for i in g)) for g in groups),
            changed=tuple(bool(changed[g].any()) for g in groups),
            elapsed_s=elapsed,
        )

    def _detokenize(self, tokens: Sequence[int]) -> tuple[list[str], list[list[int]]]:
        """Display pieces and, for each, the canvas positions it came from: `"".join(pieces)` is the text.

        A character whose bytes span several tokens is one piece; bytes that never complete a character
        (cut off by a mask, or simply invalid) show as U+FFFD, as a full decode shows them.
        """
        pieces: list[str] = []
        groups: list[list[int]] = []
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text, group = "", []

        def flush() -> None:
            nonlocal text, group
            if group:
                pieces.append(text + decoder.decode(b"", final=True))
                groups.append(group)
            decoder.reset()
            text, group = "", []

        for i, token in enumerate(tokens):
            if token == self._mask:
                flush()
                pieces.append(PLACEHOLDER)
                groups.append([i])
                continue
            group.append(i)
            text += decoder.decode(self._piece(int(token)))
            if not decoder.getstate()[0]:  # no partial character pending: the piece is complete
                pieces.append(text)
                groups.append(group)
                text, group = "", []
        flush()
        return pieces, groups
