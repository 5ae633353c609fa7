"""DiffusionGemma backend: transformers' `DiffusionGemmaForBlockDiffusion.generate`, one draft per step.

Why `generate` and not diffusers' `DiffusionGemmaPipeline` (both were checked; diffusers is no longer a dependency):
- `generate` runs the released sampler exactly as the checkpoint's `generation_config.json` sets it
  (entropy-bound acceptance, temperature 0.8 -> 0.4, stable-and-confident adaptive stopping); the pipeline
  defaults to `BlockRefinementScheduler` and ignores that file.
- `generate` takes `decoder_input_ids`, the warm start `refine` needs; the pipeline always starts from noise.
- Its per-step hooks are enough: a logits processor sees each step's logits on the device (so confidence is
  computed there, not by copying a canvas x vocabulary tensor to the host), and the streamer's `put_draft`
  receives the argmax canvas after each step. Raising `Cancelled` from either stops within one step.

One edit is one canvas: its length follows the span (rounded up to a multiple of 32, never over the model's
canvas), set on the config for the duration of the call (the decoder itself is length-agnostic).
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

    def __init__(self, spec: str, device: str | None = None) -> None:
        self.spec = spec
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
        # chat template.
        context = build_context(request, self.count_tokens, request.context_budget)
        try:
            prompt = self._prompt_ids(context.messages(), cancel_event).to(model.device)
        except Cancelled:  # Esc while a slow template renders
            elapsed = time.perf_counter() - started
            return EditResult(text="", steps=0, tokens=0, first_draft_s=None, elapsed_s=elapsed,
                              tokens_per_s=0.0, model_id=self.spec, stop_reason="cancelled")

        # 2. Canvas: as long as the span needs; `refine` starts from the span's own tokens.
        span_ids = self.tokenizer.backend_tokenizer.encode(request.span, add_special_tokens=False).ids
        canvas_length = self._canvas_length(request, len(span_ids))
        steps = request.steps or model.generation_config.max_denoising_steps
        seed = request.seed if request.seed is not None else random.randrange(2**31)
        torch.manual_seed(seed)
        processors: list = []
        extra: dict = {}
        if request.mode == "refine":
            original = span_ids[:canvas_length]
            processors.append(_StayClose(original, REFINE_BIAS))
            filler = torch.randint(0, model.config.text_config.vocab_size, (canvas_length,)).tolist()
            warm = original + sorted(self._eos_ids)[:1]  # the span, its end, then noise
            extra["decoder_input_ids"] = torch.tensor([(warm + filler)[:canvas_length]], device=model.device)

        # 3. Denoise, one draft per step.
        special_ids = set(self.tokenizer.all_special_ids) | self._eos_ids
        tap = _DraftTap(self._detokenizer, self._eos_ids, special_ids, steps, started, on_draft, cancel_event)
        processors.append(tap)
        saved_canvas = model.config.canvas_length
        model.config.canvas_length = canvas_length
        try:
            model.generate(
                prompt,
                streamer=tap,
                logits_processor=LogitsProcessorList(processors),
                max_new_tokens=canvas_length,
                max_denoising_steps=steps,
                **extra,
            )
            stop_reason = tap.stop_reason(steps)
        except Cancelled:
            stop_reason = "cancelled"
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            _free_memory()
            raise RequestError(
                f"out of memory during the edit on {self._info.device} ({one_line(exc)}); select less"
            ) from None
        finally:
            model.config.canvas_length = saved_canvas

        # 4. Result: the last draft is the final canvas.
        elapsed = time.perf_counter() - started
        last = tap.last
        text = last.text if last and stop_reason != "cancelled" else ""
        return EditResult(
            text=text,
            steps=tap.steps,
            tokens=tap.tokens,
            first_draft_s=tap.first_draft_s,
            elapsed_s=elapsed,
            tokens_per_s=tap.tokens / elapsed if elapsed > 0 and text else 0.0,
            model_id=self.spec,
            stop_reason=stop_reason,
        )

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

    def _canvas_length(self, request: EditRequest, span_tokens: int) -> int:
        limit = self._info.canvas_length
        if request.max_new_tokens is not None:
            wanted = request.max_new_tokens
        elif request.mode == "fill":
            wanted = FILL_TOKENS
        else:
            wanted = span_tokens + span_tokens // 2 + 8  # room for a longer rewrite and its end token
        if request.mode != "fill" and span_tokens > limit:
            raise RequestError(
                f"the selection is {span_tokens} tokens, over this model's canvas of {limit} tokens; select less"
            )
        rounded = -(-max(wanted, 1) // CANVAS_QUANTUM) * CANVAS_QUANTUM
        return min(rounded, limit)


class _DraftTap:
    """Both the logits processor (confidence, on the device) and the streamer (one Draft per step)."""

    def __init__(self, detokenizer, eos_ids, special_ids, max_steps, started, on_draft, cancel_event) -> None:
        self._detokenizer = detokenizer
        self._eos_ids = eos_ids
        self._special_ids = special_ids
        self._max_steps = max_steps
        self._started = started
        self._on_draft = on_draft
        self._cancel = cancel_event
        self._confidence: torch.Tensor | None = None
        self._previous: list[int] = []
        self.steps = 0
        self.tokens = 0  # tokens of the text shown: no canvas positions past the end, no special tokens
        self.ended = False  # the canvas holds an end token: the model finished the text inside it
        self.first_draft_s: float | None = None
        self.last: Draft | None = None

    # LogitsProcessor: sees each step's raw logits (1, canvas, vocab) before the sampler.
    def __call__(self, input_ids, scores: torch.Tensor, cur_step=None) -> torch.Tensor:
        if self._cancel.is_set():
            raise Cancelled
        # The top token's probability. One fused softmax, then a max: on the CPU ~3x faster than
        # exp(max - logsumexp), which walks the canvas x vocabulary logits three times (0.85 vs 2.8 ms, 256 x 16k).
        self._confidence = torch.softmax(scores[0].float(), -1).amax(-1)
        return scores

    def stop_reason(self, max_steps: int) -> str:
        """How a run that was not cancelled ended: a canvas with no end token was cut off ("length")."""
        if not self.ended:
            return "length"
        return "max_steps" if self.steps >= max_steps else "converged"

    # Streamer
    def put(self, value) -> None:  # the prompt, then the final canvas: drafts already carried it
        pass

    def end(self) -> None:
        pass

    def put_draft(self, value: torch.Tensor) -> None:
        self.steps += 1
        tokens = value[0].tolist()
        self.ended = False
        for i, token in enumerate(tokens):
            if token in self._eos_ids:
                tokens = tokens[:i]
                self.ended = True
                break
        confidence = self._confidence[: len(tokens)].tolist() if self._confidence is not None else []
        pieces, groups = self._detokenizer.pieces(tokens)
        previous = self._previous
        changed = tuple(any(i >= len(previous) or previous[i] != tokens[i] for i in g) for g in groups)
        piece_conf = tuple(min(confidence[i] for i in g) if confidence else 0.0 for g in groups)
        self._previous = tokens
        self.tokens = sum(token not in self._special_ids for token in tokens)  # the ones that decode to text
        elapsed = time.perf_counter() - self._started
        if self.first_draft_s is None:
            self.first_draft_s = elapsed
        self.last = Draft(
            step=self.steps,
            max_steps=self._max_steps,
            text="".join(pieces),
            pieces=tuple(pieces),
            confidence=piece_conf,
            changed=changed,
            elapsed_s=elapsed,
        )
        self._on_draft(self.last)
        if self._cancel.is_set():
            raise Cancelled


class _StayClose:
    """`refine`: a fixed logit bonus for the original token at each of its positions."""

    def __init__(self, original: list[int], bias: float) -> None:
        self._positions = torch.arange(len(original))
        self._tokens = torch.tensor(original, dtype=torch.long)
        self._bias = bias

    def __call__(self, input_ids, scores: torch.Tensor, cur_step=None) -> torch.Tensor:
        if len(self._tokens):
            pos, tok = self._positions.to(scores.device), self._tokens.to(scores.device)
            scores[0, pos, tok] += self._bias
        return scores


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
