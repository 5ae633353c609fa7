"""Tiny random-weight DiffusionGemma checkpoints built in memory, for tests and benchmarks (no download).

The tokenizer is byte-level BPE without merges: every byte is one token, so any Unicode text round-trips
and token counts are exact. Extra vocabulary entries (three printable bytes each) pad it to the model's
vocabulary, so every canvas token decodes to something.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    DiffusionGemmaConfig,
    DiffusionGemmaForBlockDiffusion,
    Gemma4ForCausalLM,
    Gemma4TextConfig,
    PreTrainedTokenizerFast,
)

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
PAD, EOS, BOS = 0, 1, 2

# The shape of Gemma's template, enough to exercise the real chat-template path (rendered in a sandbox).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def build_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    byte_chars = list(pre_tokenizers.ByteLevel.alphabet())
    byte_chars.sort()
    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in byte_chars:
        vocab[ch] = len(vocab)
    letters = "abcdefghijklmnopqrstuvwxyz .,ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for combo in itertools.product(letters, repeat=3):
        if len(vocab) >= vocab_size:
            break
        vocab.setdefault("".join(combo).replace(" ", "Ġ"), len(vocab))
    if len(vocab) < vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is over what this tokenizer can pad to")
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def diffusion_gemma_config(
    vocab_size: int = 512,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 2,
    intermediate_size: int = 128,
    canvas_length: int = 32,
    num_experts: int = 4,
    top_k_experts: int = 2,
) -> DiffusionGemmaConfig:
    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": 1,
        "head_dim": hidden_size // heads,
        "global_head_dim": hidden_size // heads,
        "max_position_embeddings": 16384,
        "sliding_window": 64,
        "pad_token_id": PAD,
        "eos_token_id": EOS,
        "bos_token_id": BOS,
        # DiffusionGemma's layers are always mixture-of-experts; the last layer must attend globally.
        "num_experts": num_experts,
        "top_k_experts": top_k_experts,
        "moe_intermediate_size": intermediate_size // 2,
        "layer_types": ["sliding_attention"] * (layers - 1) + ["full_attention"],
    }
    # A small vision tower: the default one is ~168M parameters even when the text part is tiny.
    vision_config = {
        "model_type": "gemma4_vision",
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 8,
    }
    return DiffusionGemmaConfig(
        text_config=text_config, vision_config=vision_config, canvas_length=canvas_length
    )


GENERATION_CONFIG = {
    "max_denoising_steps": 8,
    "sampler_config": {"entropy_bound": 0.1, "_cls_name": "EntropyBoundSamplerConfig"},
    "t_min": 0.4,
    "t_max": 0.8,
    "stability_threshold": 1,
    "confidence_threshold": 0.005,
    "eos_token_id": EOS,
    "pad_token_id": PAD,
    "bos_token_id": BOS,
}


def build_model(seed: int = 0, **config_kwargs) -> DiffusionGemmaForBlockDiffusion:
    torch.manual_seed(seed)
    model = DiffusionGemmaForBlockDiffusion(diffusion_gemma_config(**config_kwargs))
    return model.eval()


def save_checkpoint(folder: Path, seed: int = 0, max_denoising_steps: int = 8, **config_kwargs) -> Path:
    """Write a complete local checkpoint: config, safetensors weights, tokenizer, generation config."""
    folder = Path(folder)
    model = build_model(seed=seed, **config_kwargs)
    model.save_pretrained(folder, safe_serialization=True)
    build_tokenizer(config_kwargs.get("vocab_size", 512)).save_pretrained(folder)
    (folder / "generation_config.json").write_text(
        json.dumps({**GENERATION_CONFIG, "max_denoising_steps": max_denoising_steps})
    )
    return folder


def gemma4_causal_config(diffusion_config: DiffusionGemmaConfig) -> Gemma4TextConfig:
    """An autoregressive Gemma 4 text config of exactly the diffusion model's shape, for side-by-side speed.

    DiffusionGemma's layer is Gemma 4's MoE layer (dense MLP + routed experts in parallel) without per-layer
    inputs, KV sharing or K=V global attention; switching those off here makes the two weight sets the same
    size, layer by layer (the diffusion model ties its encoder and decoder to one set).
    """
    text = diffusion_config.text_config.to_dict()
    keep = (
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "hidden_activation", "max_position_embeddings", "rms_norm_eps",
        "pad_token_id", "eos_token_id", "bos_token_id", "tie_word_embeddings", "sliding_window", "layer_types",
        "rope_parameters", "num_experts", "top_k_experts", "moe_intermediate_size", "per_layer_config",
    )
    return Gemma4TextConfig(
        **{key: text[key] for key in keep},
        final_logit_softcapping=diffusion_config.text_config.final_logit_softcapping,
        enable_moe_block=True,
        hidden_size_per_layer_input=0,
        num_kv_shared_layers=0,
        attention_k_eq_v=False,
    )


def build_causal_model(seed: int = 0, **config_kwargs) -> Gemma4ForCausalLM:
    """A random-weight autoregressive Gemma 4 of the same shape as `build_model(**config_kwargs)`."""
    torch.manual_seed(seed)
    model = Gemma4ForCausalLM(gemma4_causal_config(diffusion_gemma_config(**config_kwargs)))
    return model.eval()
