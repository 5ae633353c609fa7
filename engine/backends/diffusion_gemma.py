"""DiffusionGemma backend: transformers' `DiffusionGemmaForBlockDiffusion.generate`, one draft per step.

Why `generate` and not diffusers' `DiffusionGemmaPipeline` (both were checked; diffusers is no longer a dependency):
- `generate` runs the released sampler exactly as the checkpoint's `generation_config.json` sets it
  (entropy-bound acceptance, temperature 0.8 -> 0.4, stable-and-confident adaptive stopping); the pipeline
  defaults to `BlockRefinementScheduler` and ignores that file.
- `generate` takes `decoder_input_ids`, the warm start `refine` needs; the pipeline always starts from noise.
- Its per-step hooks are enough: a logits processor sees each step's logits on the device (so confidence is
  computed there, not by copying a canvas x vocabulary tensor to the host), and the streamer's `put_draft`
  receives the argmax canvas after each step. Raising `Cancelled` from either stops within one step.

A span longer than one canvas is rewritten block by block, as `generate` chains canvases itself: each block
is denoised in parallel, conditioned on the committed ones through the encoder's cache, and the run stops at
the first block holding an end token. Drafts show the committed blocks (settled) followed by the canvas being
denoised. How long the canvas is: see `_plan`.

Diffusion-native edits: a warm start seeds the first canvas (`decoder_input_ids`; later blocks start from noise,
as generate starts them) and kept tokens are forced at their positions in every step of every block by a
logits processor, which also keeps end tokens out from before the last kept one. `alternatives` runs a batch
of canvases, one per answer, in one generate call.
"""

from __future__ import annotations

import gc
import random
import threading
import time
from collections.abc import Callable

import torch
from transformers import AutoTokenizer, DiffusionGemmaForBlockDiffusion, LogitsProcessorList
from transformers.utils import logging as hf_logging

from engine.chat_template import ChatTemplate
from engine.models.checkpoint import inspect_folder, resolve
from engine.detokenize import Detokenizer
from engine.prompt import build_context
from engine.types import Cancelled, Draft, EditRequest, EditResult, ModelInfo, ModelLoadError, RequestError, one_line

CANVAS_QUANTUM = 32  # canvas lengths are rounded up to this, so compiled shapes stay few
REFINE_BIAS = 3.0  # logit bonus for the original token at each position in `refine` mode
FILL_TOKENS = 64  # canvas for `fill` when the request does not say


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def four_bit_needed(device: str, weight_bytes: int, free_bytes: int | None, have_bitsandbytes: bool) -> bool:
    """Load 4-bit only on CUDA with bitsandbytes installed, and only when the bf16 weights (with 20% for the
    runtime) do not fit the GPU's free memory: bf16 is the quality the model was released at."""
    return device.startswith("cuda") and have_bitsandbytes and free_bytes is not None and weight_bytes * 1.2 > free_bytes


def _free_gpu_bytes(device: str) -> int | None:
    if not device.startswith("cuda"):
        return None
    return int(torch.cuda.mem_get_info(torch.device(device))[0])


def _have_bitsandbytes() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


class DiffusionGemmaBackend:
    family = "diffusion_gemma"

    def __init__(self, spec: str, device: str | None = None, canvas: str = "model") -> None:
        if canvas not in ("model", "fit"):
            raise ValueError(f"canvas must be 'model' or 'fit', not {canvas!r}")
        self.spec = spec
        self.canvas = canvas  # see `_plan`
        self._device_request = device
        self.model: DiffusionGemmaForBlockDiffusion | None = None
        self.tokenizer = None
        self._info: ModelInfo | None = None

    # -- loading -------------------------------------------------------------------------------------------

    def load(self) -> ModelInfo:
        folder = resolve(self.spec)
        checkpoint = inspect_folder(folder, "diffusion_gemma")
        device = pick_device(self._device_request)
        dtype = torch.float32 if device == "cpu" else torch.bfloat16
        quantization = None
        if four_bit_needed(device, checkpoint.weight_bytes, _free_gpu_bytes(device), _have_bitsandbytes()):
            from transformers import BitsAndBytesConfig

            # bf16 does not fit this GPU but 4-bit may (engine/models/hardware.py judged it so).
            quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()  # load reports go to the user as one line, not as a log dump
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any tokenizer failure is a load error with its reason
            raise ModelLoadError(f"cannot load the tokenizer of {folder.name}: {one_line(exc)}") from None
        if not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError(f"{folder.name} has no chat template; Redraft needs an instruction-tuned model")
        if not isinstance(tokenizer.chat_template, str):
            raise ModelLoadError(f"{folder.name} has several named chat templates; Redraft needs one")
        template = ChatTemplate(tokenizer.chat_template, folder.name)  # sandboxed, with limits: see chat_template
        try:
            model, loading = DiffusionGemmaForBlockDiffusion.from_pretrained(
                folder,
                dtype=dtype,
                use_safetensors=True,
                local_files_only=True,
                device_map=device,
                output_loading_info=True,
                quantization_config=quantization,
            )
        except Exception as exc:  # noqa: BLE001 - reported with its reason; the engine stays usable
            _free_memory()
            if is_out_of_memory(exc):
                raise ModelLoadError(
                    f"out of memory loading {folder.name} on {device} "
                    f"({checkpoint.weight_bytes / 1e9:.1f} GB of weights): {one_line(exc)}"
                ) from None
            raise ModelLoadError(f"cannot load {folder.name}: {one_line(exc)}") from None
        if loading["missing_keys"]:
            missing = sorted(loading["missing_keys"])
            raise ModelLoadError(
                f"{folder.name} is incomplete: {len(missing)} weights missing (first: {missing[0]}); "
                "refusing to run with randomly initialised weights"
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        self._template = template
        self._detokenizer = Detokenizer(tokenizer)
        gen = model.generation_config
        self._eos_ids = set(_as_list(gen.eos_token_id)) | set(_as_list(tokenizer.eos_token_id))
        self._info = ModelInfo(
            id=self.spec,
            family=self.family,
            backend="transformers",
            device=device,
            dtype="int4" if quantization is not None else str(dtype).removeprefix("torch."),
            memory_bytes=model.get_memory_footprint(),
            canvas_length=model.config.canvas_length,
            can_keep=True,
            can_batch=True,
        )
        return self._info

    def info(self) -> ModelInfo:
        if self._info is None:
            raise RuntimeError("the backend is not loaded")
        return self._info

    def close(self) -> None:
        self.model = None
        self.tokenizer = None
        self._detokenizer = None  # it holds the tokenizer too
        _free_memory()
        _drop_thread_local_python_objects()

    # -- editing -------------------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids)

    def edit(
        self, request: EditRequest, on_draft: Callable[[Draft], None], cancel_event: threading.Event
    ) -> EditResult:
        model, started = self.model, time.perf_counter()
        if model is None:
            raise RuntimeError("the backend is not loaded")
        # 1. Prompt: the span marked inside the nearest context (and the language, if any), rendered by the
        # chat template. A span over the request's context budget is refused here.
        context = build_context(request, self.count_tokens, request.context_budget)
        try:
            prompt = self._prompt_ids(context.messages(), cancel_event).to(model.device)
        except Cancelled:  # Esc while a slow template renders
            return _ended(request, self.spec, "cancelled", started)

        # 2. Plan: how many tokens the answer may need, as blocks of one canvas each; the warm start, if any,
        #    tokenized so that its kept ranges are whole tokens at known positions.
        span_ids = self._encode(request.span)
        warm = _WarmStart.of(request, self._encode) if request.warm_start is not None else None
        wanted = self._wanted_tokens(request, len(span_ids), warm)
        canvas_length, blocks = self._plan(wanted, prompt.shape[1])
        steps = request.steps or model.generation_config.max_denoising_steps
        seed = request.seed if request.seed is not None else random.randrange(2**31)
        torch.manual_seed(seed)
        batch = request.alternatives  # one canvas per answer, denoised together as one batch

        # 3. Hooks: the draft tap (confidence, drafts, blocks) runs last, so it sees what the others forced.
        special_ids = set(self.tokenizer.all_special_ids) | self._eos_ids
        tap = _DraftTap(
            self._detokenizer, self._eos_ids, special_ids, steps, canvas_length, blocks, started, on_draft,
            cancel_event, kept=warm.kept if warm else {},
        )
        processors: list = []
        first_canvas: list[int] | None = None
        if request.mode == "refine":  # start from the span's own tokens and stay close to them
            processors.append(_PerPosition(tap, canvas_length, bias=dict(enumerate(span_ids)), amount=REFINE_BIAS))
            first_canvas = span_ids + sorted(self._eos_ids)[:1]  # the span, its end, then noise
        if warm is not None:  # keep the kept tokens where they are; no end token before the last of them
            processors.append(_PerPosition(tap, canvas_length, force=warm.kept, no_end_before=warm.last_kept + 1,
                                           eos_ids=sorted(self._eos_ids)))
            first_canvas = warm.ids
        processors.append(tap)
        extra: dict = {}
        if first_canvas is not None:
            # Only the first canvas can be seeded (generate starts later blocks from noise); the hooks act on all.
            noise = torch.randint(0, model.config.text_config.vocab_size, (batch, canvas_length))
            seeded = torch.tensor(first_canvas[:canvas_length])
            noise[:, : len(seeded)] = seeded
            extra["decoder_input_ids"] = noise.to(model.device)

        # 4. Denoise block by block, one draft per step; each block stops at its end token.
        saved_canvas = model.config.canvas_length
        model.config.canvas_length = canvas_length
        try:
            output = model.generate(
                prompt.repeat(batch, 1),
                streamer=tap,
                logits_processor=LogitsProcessorList(processors),
                max_new_tokens=canvas_length * blocks,
                max_denoising_steps=steps,
                **extra,
            )
            stop_reason = tap.stop_reason()
        except Cancelled:
            stop_reason, output = "cancelled", None
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            _free_memory()
            raise RequestError(
                f"out of memory during the edit on {self._info.device} ({one_line(exc)}); select less"
            ) from None
        finally:
            model.config.canvas_length = saved_canvas

        # 5. Result: the last draft is the text; the other rows of the batch are the alternatives.
        if stop_reason == "cancelled" or tap.last is None:
            return _ended(request, self.spec, "cancelled", started, steps=tap.steps)
        elapsed = time.perf_counter() - started
        sequences = getattr(output, "sequences", output)
        others = tuple(self._answer(row[prompt.shape[1]:].tolist()) for row in sequences[1:])
        return EditResult(
            text=tap.last.text,
            steps=tap.steps,
            tokens=tap.tokens,
            first_draft_s=tap.first_draft_s,
            elapsed_s=elapsed,
            tokens_per_s=tap.tokens / elapsed if elapsed > 0 and tap.last.text else 0.0,
            model_id=self.spec,
            stop_reason=stop_reason,
            blocks=tap.block + (0 if tap.committed_all else 1),
            alternatives=tuple(text for text in others if text and text != tap.last.text),
        )

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids

    def _answer(self, tokens: list[int]) -> str:
        """A generated row as text: up to its first end token, special tokens (pads) dropped."""
        end = next((i for i, token in enumerate(tokens) if token in self._eos_ids), len(tokens))
        return "".join(self._detokenizer.pieces(tokens[:end])[0])

    def _prompt_ids(self, messages: list[dict], cancel_event: threading.Event) -> torch.Tensor:
        """What `apply_chat_template(messages, add_generation_prompt=True)` gives, rendered by the sandbox with
        limits (a hostile template fails in one line, Esc stops it): the same variables (the special tokens,
        tools and documents None), then tokenized as it does (no special tokens added)."""
        text = self._template.render(
            messages,
            cancel_event=cancel_event,
            **self.tokenizer.special_tokens_map,
            tools=None,
            documents=None,
            add_generation_prompt=True,
        )
        return self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]

    @staticmethod
    def _wanted_tokens(request: EditRequest, span_tokens: int, warm: _WarmStart | None) -> int:
        if request.max_new_tokens is not None:
            wanted = request.max_new_tokens
        elif request.mode == "fill":
            wanted = FILL_TOKENS
        else:
            wanted = span_tokens + span_tokens // 2 + 8  # room for a longer rewrite and its end token
        if warm is not None:  # the kept text must fit where it is, with room for an end token after it
            wanted = max(wanted, len(warm.ids) + 8)
        return wanted

    def _plan(self, wanted: int, prompt_tokens: int) -> tuple[int, int]:
        """The canvas length and the number of blocks for an answer of up to `wanted` tokens.

        The canvas is the model's own (256 for DiffusionGemma 26B-A4B) however short the span: the model was
        trained at that length and the released diffusers pipeline always rounds up to it, so until a real
        checkpoint shows a shorter canvas keeps the quality, a short answer ends at its end token inside a
        full canvas and is trimmed there. `canvas="fit"` (the measured option) shrinks a one-block canvas to
        the span (rounded up to CANVAS_QUANTUM), which costs less per step on a CPU.
        """
        limit = self._info.canvas_length
        blocks = -(-max(wanted, 1) // limit)
        canvas = limit
        if self.canvas == "fit" and blocks == 1:
            canvas = min(-(-max(wanted, 1) // CANVAS_QUANTUM) * CANVAS_QUANTUM, limit)
        positions = self.model.config.text_config.max_position_embeddings
        if prompt_tokens + canvas * blocks > positions:
            raise RequestError(
                f"the answer needs {blocks} blocks of {canvas} tokens after a {prompt_tokens}-token prompt, over "
                f"this model's {positions} positions; select less or lower the context budget"
            )
        return canvas, blocks


class _WarmStart:
    """A request's warm start as canvas tokens: the text between and inside kept ranges is tokenized piece by
    piece, so every kept range is whole tokens (its text comes back exactly) at fixed canvas positions."""

    def __init__(self, ids: list[int], kept: dict[int, int]) -> None:
        self.ids = ids
        self.kept = kept  # canvas position (counted across blocks) -> token
        self.last_kept = max(kept, default=-1)

    @classmethod
    def of(cls, request: EditRequest, encode: Callable[[str], list[int]]) -> _WarmStart:
        text, ids, kept = request.warm_start or "", [], {}
        cuts = sorted(request.keep)
        at = 0
        for start, end in cuts:
            if start > at:
                ids += encode(text[at:start])
            start = max(start, at)  # overlapping ranges: keep each character once
            if end > start:
                piece = encode(text[start:end])
                kept.update((len(ids) + i, token) for i, token in enumerate(piece))
                ids += piece
            at = max(at, end)
        ids += encode(text[at:])
        return cls(ids, kept)


class _DraftTap:
    """Both the logits processor (confidence, on the device) and the streamer (one Draft per step).

    `generate` calls `put` with the prompt, then with each block once it is committed, and `put_draft` after
    every step with the block being denoised: a draft is the committed blocks followed by that canvas. The
    first row of a batch is the one shown.
    """

    def __init__(
        self, detokenizer, eos_ids, special_ids, max_steps, canvas_length, blocks, started, on_draft, cancel_event,
        kept: dict[int, int] | None = None,
    ) -> None:
        self._detokenizer = detokenizer
        self._eos_ids = eos_ids
        self._special_ids = special_ids
        self._max_steps = max_steps
        self.canvas_length = canvas_length
        self.blocks = blocks
        self._started = started
        self._on_draft = on_draft
        self._cancel = cancel_event
        self._kept = kept or {}
        self._confidence: torch.Tensor | None = None
        self._prompt_seen = False
        self._committed: list[int] = []  # tokens of the committed blocks (up to an end token)
        self._committed_confidence: list[float] = []
        self._canvas: list[int] = []  # the block being denoised, as the last step left it
        self._canvas_confidence: list[float] = []
        self._previous: list[int] = []
        self.block = 0  # blocks committed so far = the index (from 0) of the block being denoised
        self.committed_all = False  # an end token was committed (or every block was): nothing more follows
        self.block_steps = 0
        self.steps = 0  # over all blocks
        self.tokens = 0  # tokens of the text shown: no canvas positions past the end, no special tokens
        self.ended = False  # the text holds an end token: the model finished it
        self.first_draft_s: float | None = None
        self.last: Draft | None = None

    # LogitsProcessor: sees each step's raw logits (batch, canvas, vocab) before the sampler.
    def __call__(self, input_ids, scores: torch.Tensor, cur_step=None) -> torch.Tensor:
        if self._cancel.is_set():
            raise Cancelled
        # The top token's probability. One fused softmax, then a max: on the CPU ~3x faster than
        # exp(max - logsumexp), which walks the canvas x vocabulary logits three times (0.85 vs 2.8 ms, 256 x 16k).
        self._confidence = torch.softmax(scores[0].float(), -1).amax(-1)
        return scores

    def stop_reason(self) -> str:
        """How a run that was not cancelled ended: `length` when no block held an end token (cut by the block
        budget), `max_steps` when the last block ran out of steps before it settled, else `eos`."""
        if not self.ended:
            return "length"
        return "max_steps" if self.block_steps >= self._max_steps else "eos"

    # Streamer
    def put(self, value) -> None:
        if not self._prompt_seen:  # the prompt comes first
            self._prompt_seen = True
            return
        # A block is committed: the canvas the last step showed, up to its end token, is settled from now on.
        if self.committed_all:
            return
        end = self._end(self._canvas)
        self._committed += self._canvas[:end]
        self._committed_confidence += self._canvas_confidence[:end]
        self._canvas, self._canvas_confidence = [], []
        self.block += 1
        self.committed_all = self.ended or self.block >= self.blocks
        if not self.committed_all:
            self.block_steps = 0

    def end(self) -> None:
        pass

    def put_draft(self, value: torch.Tensor) -> None:
        if self.committed_all:  # the shown row ended in an earlier block; other rows of the batch go on
            if self._cancel.is_set():
                raise Cancelled
            return
        canvas = value[0].tolist()
        if value.shape[0] > 1 and canvas == self._canvas:
            # A batch goes on until every row has settled, handing back a settled row's canvas unchanged: for
            # the row shown that is no step (no new draft, not counted; rarely, a row merely stable for a step).
            if self._cancel.is_set():
                raise Cancelled
            return
        self.steps += 1
        self.block_steps += 1
        end = self._end(canvas)
        self.ended = end < len(canvas)
        self._canvas = canvas
        conf = self._confidence[: len(canvas)].tolist() if self._confidence is not None else [0.0] * len(canvas)
        self._canvas_confidence = conf
        tokens = self._committed + canvas[:end]
        confidence = self._committed_confidence + conf[:end]
        pieces, groups = self._pieces(tokens)
        previous = self._previous
        settled = len(self._committed)
        self._previous = tokens
        self.tokens = sum(token not in self._special_ids for token in tokens)  # the ones that decode to text
        elapsed = time.perf_counter() - self._started
        if self.first_draft_s is None:
            self.first_draft_s = elapsed
        self.last = Draft(
            step=self.block_steps,
            max_steps=self._max_steps,
            text="".join(pieces),
            pieces=tuple(pieces),
            confidence=tuple(min(confidence[i] for i in g) for g in groups),
            changed=tuple(any(i >= len(previous) or previous[i] != tokens[i] for i in g) for g in groups),
            elapsed_s=elapsed,
            block=self.block + 1,
            blocks=self.blocks,
            settled=sum(1 for g in groups if g[-1] < settled),
            kept=tuple(all(i in self._kept for i in g) for g in groups) if self._kept else (),
        )
        self._on_draft(self.last)
        if self._cancel.is_set():
            raise Cancelled

    def _pieces(self, tokens: list[int]) -> tuple[list[str], list[list[int]]]:
        """Display pieces of `tokens`; with kept ranges, each run of kept (or free) tokens is decoded alone, so no
        piece straddles a kept boundary (a free token's stray byte would otherwise glue onto a kept character)."""
        if not self._kept:
            return self._detokenizer.pieces(tokens)
        pieces: list[str] = []
        groups: list[list[int]] = []
        start = 0
        for i in range(1, len(tokens) + 1):
            if i == len(tokens) or (i in self._kept) != (start in self._kept):
                run_pieces, run_groups = self._detokenizer.pieces(tokens[start:i])
                pieces += run_pieces
                groups += [[start + j for j in group] for group in run_groups]
                start = i
        return pieces, groups

    def _end(self, canvas: list[int]) -> int:
        return next((i for i, token in enumerate(canvas) if token in self._eos_ids), len(canvas))


class _PerPosition:
    """Acts on canvas positions counted across blocks (position p is in block p // canvas): `bias` adds
    `amount` to a token's logit (refine stays close to the original), `force` leaves a position one choice
    (a kept token: entropy 0, so the sampler accepts it at once and never re-noises it), and no end token may
    land before `no_end_before` (the kept text is never cut off)."""

    GAP = 1e4  # finite, so entropies and self-conditioning stay numbers in bf16

    def __init__(self, tap: _DraftTap, canvas_length: int, bias: dict[int, int] | None = None, amount: float = 0.0,
                 force: dict[int, int] | None = None, no_end_before: int = 0, eos_ids: list[int] | None = None) -> None:
        self._tap = tap
        self._canvas = canvas_length
        self._bias = bias or {}
        self._amount = amount
        self._force = force or {}
        self._no_end_before = no_end_before
        self._eos = eos_ids or []
        self._cached: dict = {}

    def _here(self, name: str, device) -> tuple[torch.Tensor, torch.Tensor]:
        """The positions of table `name` in the block being denoised, and their tokens, on `device`: built once
        a block (a step of a long re-noise must not walk thousands of kept positions again)."""
        key = (name, self._tap.block, device)
        if key not in self._cached:
            first, table = self._tap.block * self._canvas, getattr(self, name)
            pairs = [(p - first, t) for p, t in table.items() if first <= p < first + self._canvas]
            self._cached = {key: (torch.tensor([p for p, _ in pairs], dtype=torch.long, device=device),
                                  torch.tensor([t for _, t in pairs], dtype=torch.long, device=device)),
                            **{k: v for k, v in self._cached.items() if k[1] == self._tap.block}}
        return self._cached[key]

    def __call__(self, input_ids, scores: torch.Tensor, cur_step=None) -> torch.Tensor:
        positions, tokens = self._here("_bias", scores.device)
        if len(positions):
            scores[:, positions, tokens] += self._amount
        first = self._tap.block * self._canvas
        end_before = min(self._no_end_before - first, self._canvas)
        if end_before > 0 and self._eos:
            scores[:, :end_before, self._eos] -= self.GAP
        positions, tokens = self._here("_force", scores.device)
        if len(positions):
            top = scores[:, positions].amax(-1)
            scores[:, positions] = (top - self.GAP).unsqueeze(-1)
            scores[:, positions, tokens] = top
        return scores


def _ended(request: EditRequest, model_id: str, reason: str, started: float, steps: int = 0) -> EditResult:
    return EditResult(text="", steps=steps, tokens=0, first_draft_s=None, elapsed_s=time.perf_counter() - started,
                      tokens_per_s=0.0, model_id=model_id, stop_reason=reason)


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _drop_thread_local_python_objects() -> None:
    """Release what torch stashed in this (the engine's) thread while the GIL is held.

    `generate` imports torch._inductor.cudagraph_trees, which stashes Python objects in the importing
    thread's C++ thread-local storage. Their destructors take the GIL when the thread ends; if the
    interpreter is already shutting down by then, the process aborts with "terminate called without an
    active exception" (seen on every few CLI runs). Dropping them here, on the worker, avoids that.
    """
    for key in ("tree_manager_containers", "tree_manager_locks"):
        if torch._C._is_key_in_tls(key):
            torch._C._remove_obj_from_tls(key)


def _as_list(value) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
