"""The model-side half of `redraft --self-test`: one tiny real forward pass per backend library.

An installer can ship a Python that imports but does not run: a frozen bundle missing a shared library, a
lazily imported submodule, a data file. So each check runs real model code, on random weights built in
memory or in a temporary folder (nothing is downloaded, nothing user-visible is written):

- transformers + torch: a DiffusionGemma of hidden size 32 and one layer, one denoising forward pass;
- llama.cpp: a tiny Llama-architecture GGUF written with the `gguf` package, loaded and evaluated;
- the bundled model: its part files are present and their sizes add up (assembling it is the first start's
  job, not the self-test's);
- the spelling dictionary: a data file a frozen bundle must carry (engine/spelling.py).

Each check returns a `CheckResult`; a failure is a one-line message naming the library, never an exception.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str  # what was measured, or why it failed
    seconds: float


def _tiny_diffusion_gemma():
    import torch
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion

    torch.manual_seed(0)
    text_config = {
        "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "global_head_dim": 16,
        "max_position_embeddings": 256, "sliding_window": 16, "pad_token_id": 0, "eos_token_id": 1,
        "bos_token_id": 2, "num_experts": 2, "top_k_experts": 1, "moe_intermediate_size": 32,
        "layer_types": ["full_attention"],  # the last layer must attend globally
    }
    # A small vision tower: the default one is ~168M parameters even when the text part is tiny.
    vision_config = {
        "model_type": "gemma4_vision", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 8,
    }
    config = DiffusionGemmaConfig(text_config=text_config, vision_config=vision_config, canvas_length=8)
    return DiffusionGemmaForBlockDiffusion(config).eval()


def check_transformers() -> str:
    import torch

    model = _tiny_diffusion_gemma()
    with torch.no_grad():
        output = model(input_ids=torch.tensor([[2, 10, 11, 12]]), decoder_input_ids=torch.full((1, 8), 5))
    logits = output.logits
    if tuple(logits.shape[-2:]) != (8, 64) or not bool(torch.isfinite(logits).all()):
        raise RuntimeError(f"DiffusionGemma forward gave logits of shape {tuple(logits.shape)}, not finite (8, 64)")
    return f"torch {torch.__version__}: DiffusionGemma forward, logits {tuple(logits.shape)}"


def random_matrix(rng, rows: int, cols: int, scale: float = 1.0):
    """Gaussian weights scaled by 1/sqrt(fan-in), float32 as GGUF stores them."""
    import numpy as np

    return (rng.standard_normal((rows, cols)) * scale / np.sqrt(cols)).astype(np.float32)


def add_llama_shape(writer, *, context_length: int, hidden: int, layers: int, heads: int, ffn: int) -> None:
    """The hyperparameters of a Llama-layout model (as many key-value heads as heads)."""
    writer.add_context_length(context_length)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_layer_norm_rms_eps(1e-5)


def add_llama_blocks(writer, rng, layers: int, hidden: int, ffn: int) -> None:
    """The output norm and `layers` Llama-layout blocks (attention, SwiGLU), random weights, unit norms."""
    import numpy as np

    writer.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", random_matrix(rng, hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", random_matrix(rng, ffn, hidden))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", random_matrix(rng, ffn, hidden))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", random_matrix(rng, hidden, ffn))


def write_tiny_llama_gguf(
    path: Path, hidden: int = 32, layers: int = 1, heads: int = 2, ffn: int = 64, context_length: int = 64
) -> Path:
    """A random-weight Llama-architecture GGUF with a byte-level SentencePiece vocabulary (~60 KB)."""
    import numpy as np
    from gguf import GGUFWriter, TokenType

    rng = np.random.default_rng(0)
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\u2581"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.BYTE] * 256 + [TokenType.NORMAL]
    writer = GGUFWriter(str(path), "llama")
    add_llama_shape(writer, context_length=context_length, hidden=hidden, layers=layers, heads=heads, ffn=ffn)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types([int(t) for t in types])
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_space_prefix(False)

    writer.add_tensor("token_embd.weight", random_matrix(rng, len(tokens), hidden))
    add_llama_blocks(writer, rng, layers, hidden, ffn)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def check_llama_cpp() -> str:
    import llama_cpp
    import numpy as np

    from engine.backends.llamacpp.runtime import capture_llama_logs

    capture_llama_logs()
    with tempfile.TemporaryDirectory(prefix="redraft-self-test-") as folder:
        path = write_tiny_llama_gguf(Path(folder) / "tiny-llama.gguf")
        llm = llama_cpp.Llama(str(path), n_ctx=64, n_threads=1, logits_all=True, verbose=False)
        try:
            tokens = llm.tokenize(b"self test")
            llm.eval(tokens)
            logits = np.asarray(llm.scores[: llm.n_tokens])
        finally:
            llm.close()
    if logits.shape[0] != len(tokens) or not np.isfinite(logits).all():
        raise RuntimeError(f"llama.cpp gave logits of shape {logits.shape} for {len(tokens)} tokens")
    return f"llama-cpp-python {llama_cpp.__version__}: {len(tokens)} tokens evaluated, logits {logits.shape}"


def check_bundled_model() -> str:
    """The bundled GGUF is installed whole: its size and sha256 match its package's record."""
    from engine.models.bundled import NAME, bundled_model_path

    path = bundled_model_path()  # a one-line ModelLoadError names what is wrong
    return f"{NAME}: {path.name}, {path.stat().st_size / 1e6:.0f} MB, sha256 as recorded"


def check_spelling_dictionary() -> str:
    """The dictionary small models' spelling fixes choose from is installed and reads."""
    from engine import spelling

    known = spelling.counts()
    if not spelling.is_known("surprised") or spelling.is_known("suprised"):
        raise RuntimeError("the spelling dictionary does not know its words")
    return f"pyspellchecker English: {len(known):,} words"


CHECKS: dict[str, Callable[[], str]] = {
    "transformers": check_transformers,
    "llama.cpp": check_llama_cpp,
    "bundled model": check_bundled_model,
    "spelling dictionary": check_spelling_dictionary,
}


def run_checks() -> list[CheckResult]:
    results = []
    for name, check in CHECKS.items():
        start = time.perf_counter()
        try:
            detail, ok = check(), True
        except Exception as exc:  # noqa: BLE001 - every failure is reported by name, the next check still runs
            detail, ok = f"{type(exc).__name__}: {exc}".splitlines()[0], False
        results.append(CheckResult(name, ok, detail, time.perf_counter() - start))
    return results
