"""Masked-diffusion GGUFs through llama.cpp (LLaDA, LLaDA-MoE, Dream, RND1): true in-place infill.

The span is replaced by N mask tokens between the text before and after it, and the model, which attends
both ways, fills them in over a few steps: each step is one full forward pass over the whole sequence (these
architectures have no KV cache, and llama.cpp returns logits for every position), after which the sampler in
`unmasking.py` commits the positions it is sure of. Each step is one Draft; masked positions show as
`PLACEHOLDER`.

- N follows the span: its length in tokens plus a quarter plus 4 (a rewrite may run longer; the model fills
  what it does not need with end-of-text tokens, which render as nothing), or `max_new_tokens`; `fill` uses
  `max_new_tokens` or `FILL_TOKENS`. `refine` gets less slack, but starts from masks like a rewrite.
- Long canvases run in semi-autoregressive blocks of `UnmaskingParams.block_length` (32, as LLaDA's authors
  and llama.cpp's diffusion example `--diffusion-block-length` run it): every block's masks are in the
  sequence from the start (the model sees them), but only the current block's are predicted and committed;
  block k+1 starts when block k has no mask left. The run's `steps` are shared among the blocks in proportion
  to their masks (llama.cpp: steps / blocks), at least one each, so a long span costs about the forward
  passes a short one does; a block the threshold fills early hands its unused steps to nobody (as there).
  A Draft shows the whole canvas (later blocks as masks, so the span's length on screen stays put), says
  block k of n and step s of m within the block, and `settled` counts the pieces of the committed blocks.
  After each block, an end-of-generation token in it ends the run: the later blocks are never denoised.
- Warm start and kept ranges (`EditRequest.warm_start`, `.keep`): the canvas is the warm start's tokens;
  those wholly inside a kept character range stay as they are from the start (never masked, never
  predicted), every other one starts masked. An end token is banned before the last kept token, so the kept
  text is never cut off. A warm start without kept ranges is a fresh canvas of its length.
- The instruction is not used: these are pure infill models and the text around the span is the whole
  prompt. (LLaDA-Instruct could take an instruction through its chat template, at the cost of in-place
  infill.)
- The text around the span is the request's `context_budget`, at most MASKED_DIFFUSION_BUDGET tokens (every
  step re-reads the whole sequence: there is no KV cache), and the whole sequence at most MAX_SEQUENCE tokens
  or the model's trained context. A span whose masks cannot fit is refused with how much to select.
- The result is the canvas up to its first end-of-generation token (EOS/EOT; what follows it is not text).
  Stop reasons: `eos` when the model ended the text, `length` when the canvas filled up without an end token
  (the rewrite may be cut short), `cancelled`, `error` (through the engine: a refused span, a failed
  llama_decode), and `converged` only when nothing was left to denoise (every token kept). `max_steps`
  cannot happen: the schedule commits a block's last masks on its last step, and a committed token is never
  re-masked (so a canvas cannot "stop changing" with masks left either).
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
from engine.backends.llamacpp.unmasking import UnmaskingParams, block_steps, unmask_step

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
        self._eog_ids: np.ndarray | None = None
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
            can_keep=True,  # a kept position is simply never masked
            details={
                "architecture": arch,
                "n_ctx_train": str(self._n_ctx_train),
                "max_sequence": str(self._limit),
                "mask_token": str(self._mask),
                "shift_logits": str(self._shift).lower(),
                "score": self.params.score,
                "threshold": str(self.params.threshold),
                "block_length": str(self.params.block_length),
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

        # 1. Canvas: how many masks the span gets (or the warm start's tokens, the kept ones fixed); they must
        #    fit the sequence limit on their own.
        span_tokens = self.count_tokens(request.span)
        room = self._limit - len(self._bos)
        warm = self.tokenize(request.warm_start or "")
        if warm:
            n = len(warm)
            if n > room:
                raise RequestError(
                    f"the draft to re-noise is {n:,} tokens, more than this model's {self._limit:,}-token "
                    "context holds: select less"
                )
            kept = self._kept(request.warm_start, warm, request.keep)
        else:
            wanted = self._canvas_length(request, span_tokens)
            if wanted > room and request.max_new_tokens is None:
                most = largest_fitting(lambda s: self._canvas_length(request, s) <= room, span_tokens)
                raise select_less(span_tokens, most, self._limit)
            n = min(wanted, room)  # more new tokens asked for than fit: as many as fit
            kept = np.zeros(n, dtype=bool)
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
        canvas = np.where(kept, warm, self._mask) if warm else np.full(n, self._mask)
        sequence = np.array(self._bos + before + canvas.tolist() + after, dtype=np.int32)
        canvas = sequence[start : start + n]  # a view: what the steps write is in the sequence
        self._ensure_context(len(sequence))
        # An end token before a kept piece would cut it from the text: banned up to the last kept position.
        no_end_before = int(np.flatnonzero(kept)[-1]) if kept.any() else 0
        no_end = self._eog_tokens() if no_end_before else None

        # 3. Denoise block by block, left to right (semi-autoregressive, as LLaDA is run): only the current
        #    block's masks are predicted and committed; the blocks after it stay masks, which the model sees.
        #    Blocks with nothing to denoise (all kept) are skipped; the run's steps are shared among the rest.
        seed = request.seed if request.seed is not None else random.randrange(2**31)
        rng = np.random.default_rng(seed)
        confidence = kept.astype(float)  # a kept token is certain
        length = params.block_length
        blocks = [
            (lo, min(lo + length, n)) for lo in range(0, n, length) if not kept[lo : lo + length].all()
        ]
        budgets = block_steps([int((~kept[lo:hi]).sum()) for lo, hi in blocks], steps) if blocks else []
        first_draft_s, steps_run, denoised = None, 0, 0
        stop_reason = "length"
        for number, ((lo, hi), budget) in enumerate(zip(blocks, budgets), 1):
            denoised = number
            for step in range(budget):
                if cancel_event.is_set():
                    stop_reason = "cancelled"
                    break
                masked = lo + np.flatnonzero(canvas[lo:hi] == self._mask)
                if not len(masked):  # the threshold filled the block early
                    break
                logits = self._forward(sequence, start + masked)  # predict
                if no_end is not None:
                    early = np.flatnonzero(masked < no_end_before)
                    logits[np.ix_(early, no_end)] = -np.inf
                commit = unmask_step(logits, rng, budget - step, params)  # choose
                positions = masked[commit.rows]  # commit
                canvas[positions] = commit.tokens
                confidence[positions] = commit.scores
                steps_run += 1
                changed = np.zeros(n, dtype=bool)
                changed[positions] = True
                elapsed = time.perf_counter() - started
                first_draft_s = first_draft_s or elapsed
                on_draft(  # show
                    self._draft(canvas, confidence, changed, lo, (step + 1, budget), (number, len(blocks)), elapsed,
                                kept if kept.any() else None)
                )
                if cancel_event.is_set():
                    stop_reason = "cancelled"
                    break
            if stop_reason == "cancelled":
                break
            if any(self._is_eog(int(t)) for t in canvas[lo:hi]):  # the text ends in this block: no more blocks
                break

        # 4. Result: the canvas up to its first end-of-generation token; without one it was cut by its length.
        #    Nothing to denoise (every token kept): the warm start as it is, converged.
        elapsed = time.perf_counter() - started
        if stop_reason == "cancelled":
            text, tokens = "", 0
        else:
            filled = [int(t) for t in canvas]
            end = next((i for i, t in enumerate(filled) if self._is_eog(t)), None)
            if end is not None:
                stop_reason, filled = "eos", filled[:end]
            elif not blocks:
                stop_reason = "converged"
            text, tokens = "".join(self._detokenize(filled)[0]), len(filled)
        return EditResult(
            text=text,
            steps=steps_run,
            tokens=tokens,
            first_draft_s=first_draft_s,
            elapsed_s=elapsed,
            tokens_per_s=tokens / elapsed if tokens and elapsed > 0 else 0.0,
            model_id=self.model_id,
            stop_reason=stop_reason,
            blocks=denoised,
        )

    def _kept(self, text: str, tokens: list[int], keep: Sequence[tuple[int, int]]) -> np.ndarray:
        """Which of the warm start's tokens hold a kept character. A token reaching past a kept range is kept
        whole (SentencePiece's " house" for a kept "house"): the kept characters are always in the text, at
        the price of a space or a character beside them; cutting the token would change the tokenization."""
        pieces = [self._piece(t) for t in tokens]
        if b"".join(pieces) != text.encode("utf-8"):
            raise RequestError(
                "this model's tokenizer does not give the draft's text back exactly: it cannot keep words"
            )
        char_at = np.repeat(np.arange(len(text)), [len(c.encode("utf-8")) for c in text])  # byte -> character
        kept = np.zeros(len(tokens), dtype=bool)
        offset = 0
        for i, piece in enumerate(pieces):
            if piece:
                first, last = char_at[offset], char_at[offset + len(piece) - 1] + 1
                kept[i] = any(first < hi and lo < last for lo, hi in keep)
            offset += len(piece)
        return kept

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

    def _eog_tokens(self) -> np.ndarray:
        """Every end-of-generation token of the vocabulary (EOS, EOT, ...), looked up once."""
        if self._eog_ids is None:
            self._eog_ids = np.array([t for t in range(self._n_vocab) if self._is_eog(t)], dtype=np.int64)
        return self._eog_ids

    def _is_eog(self, token: int) -> bool:
        eog = self._eog.get(token)
        if eog is None:
            import llama_cpp as L

            eog = self._eog[token] = bool(L.llama_vocab_is_eog(self._vocab, token))
        return eog

    # -- drafts --------------------------------------------------------------------------------------------

    def _draft(self, canvas, confidence, changed, settled_before: int, step, block, elapsed: float,
               kept: np.ndarray | None = None) -> Draft:
        """The whole canvas as pieces (later blocks still masks); the pieces wholly before `settled_before`
        (the current block's start) are settled: their blocks are committed; with kept positions, which
        pieces are kept text."""
        pieces, groups = self._detokenize(canvas)
        return Draft(
            step=step[0],
            max_steps=step[1],
            text="".join(pieces),
            pieces=tuple(pieces),
            confidence=tuple(float(min(confidence[i] for i in g)) for g in groups),
            changed=tuple(bool(changed[g].any()) for g in groups),
            elapsed_s=elapsed,
            block=block[0],
            blocks=block[1],
            settled=self._settled(canvas, groups, settled_before),
            kept=tuple(bool(kept[g].all()) for g in groups) if kept is not None else (),
        )

    def _settled(self, canvas, groups: list[list[int]], boundary: int) -> int:
        """The leading pieces wholly before `boundary`, less the last of them if a mask right after it cut
        its character short (the token there may still complete it, so that piece can still change)."""
        settled = sum(1 for g in groups if g[-1] < boundary)
        if settled and boundary < len(canvas) and canvas[boundary] == self._mask:
            last = groups[settled - 1]
            if last[-1] == boundary - 1 and self._pending([canvas[i] for i in last]):
                settled -= 1
        return settled

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
            piece = self._piece(int(token))
            out = decoder.decode(piece)
            pending = len(decoder.getstate()[0])
            if group and pending and pending == len(piece):
                # This token starts a new character; what came out ended the earlier bytes (as U+FFFD): they
                # are a piece of their own, never merged with whatever this token begins.
                pieces.append(text + out)
                groups.append(group)
                text, group = "", [i]
                continue
            group.append(i)
            text += out
            if not pending:  # no partial character pending: the piece is complete
                pieces.append(text)
                groups.append(group)
                text, group = "", []
        flush()
        return pieces, groups

    def _pending(self, tokens: Sequence[int]) -> bool:
        """Whether these tokens' bytes end inside a character (a piece cut short by a mask after it)."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        for token in tokens:
            decoder.decode(self._piece(int(token)))
        return bool(decoder.getstate()[0])
