"""Tiny random-weight masked-diffusion GGUFs (LLaDA layout) written with the `gguf` package, for tests.

The tokenizer is a SentencePiece-style ("llama") vocabulary: the special tokens, the 256 `<0xNN>` byte tokens
(so any UTF-8 text round-trips, characters outside the vocabulary as bytes) and a few whole words with every
left prefix ("▁t", "▁th", "▁the"), which llama.cpp's SPM tokenizer needs to merge up to the word. No space is
prepended to each tokenisation, so a span tokenised alone gives the same tokens as inside the document.

`sharpness` scales the output matrix: random logits with a large spread give some positions a confident
argmax, so a threshold sampler has something to commit early (as a trained model would).
Writing one takes a few milliseconds; a default model is ~150 KB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFWriter, TokenType

from engine.self_check import add_llama_blocks, add_llama_shape, random_matrix

SPECIALS = ["<unk>", "<s>", "</s>", "<|eot_id|>", "<|mdm_mask|>"]
UNK, BOS, EOS, EOT, MASK = range(len(SPECIALS))
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "and", "a", "big", "red", "house", "is", "was", "in"]


def vocabulary(size: int | None = None) -> tuple[list[str], list[float], list[int]]:
    """The test vocabulary; `size` pads it with unreachable filler pieces (a realistic vocabulary size makes the
    output layer, the logits and the sampler cost what they cost in a real model)."""
    tokens = list(SPECIALS)
    types = [TokenType.UNKNOWN] + [TokenType.CONTROL] * (len(SPECIALS) - 1)
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    pieces: list[str] = ["\u2581"]
    for word in WORDS:
        for end in range(1, len(word) + 1):
            piece = "\u2581" + word[:end]
            if piece not in pieces:
                pieces.append(piece)
    tokens += pieces
    types += [TokenType.NORMAL] * len(pieces)
    # SPM merges the pair whose result scores highest: longer pieces score higher.
    scores = [0.0] * (len(tokens) - len(pieces)) + [float(len(p)) for p in pieces]
    filler = max(0, (size or 0) - len(tokens))
    tokens += [f"<filler_{i}>" for i in range(filler)]
    types += [TokenType.UNUSED] * filler
    scores += [0.0] * filler
    return tokens, scores, [int(t) for t in types]


def write_llada_gguf(
    path: str | Path,
    *,
    architecture: str = "llada",
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    ffn: int = 128,
    context_length: int = 256,
    sharpness: float = 1.0,
    mask_token: bool = True,
    shift_logits: bool = False,
    vocab_size: int | None = None,
    chat_template: str | None = None,
    key_length: int | None = None,
    words_only: bool = False,
) -> Path:
    """Write a tiny random-weight model. `architecture="llama"` gives an autoregressive one with the same
    tensors; `"diffusion-gemma"` one this llama.cpp does not know; `mask_token=False` one without a mask id;
    `vocab_size` pads the vocabulary (32,000 for a LLaDA-sized output layer); `chat_template` adds one;
    `key_length` only changes the header (what the KV cache would take), not the tensors; `words_only` zeroes
    the output rows of every special, byte and filler token, so the model's choice is (all but surely) a whole
    word piece: its drafts are readable and one piece per position, and it never ends the text itself."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    tokens, scores, types = vocabulary(vocab_size)
    vocab = len(tokens)

    writer = GGUFWriter(str(path), architecture)
    writer.add_name(f"tiny-{architecture}")
    add_llama_shape(writer, context_length=context_length, hidden=hidden, layers=layers, heads=heads, ffn=ffn)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(vocab)
    writer.add_diffusion_shift_logits(shift_logits)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(UNK)
    writer.add_bos_token_id(BOS)
    writer.add_eos_token_id(EOS)
    writer.add_eot_token_id(EOT)
    if mask_token:
        writer.add_mask_token_id(MASK)
    if chat_template:
        writer.add_chat_template(chat_template)
    if key_length:
        writer.add_key_length(key_length)
        writer.add_value_length(key_length)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)

    writer.add_tensor("token_embd.weight", (rng.standard_normal((vocab, hidden))).astype(np.float32))
    output = random_matrix(rng, vocab, hidden, 16.0 * sharpness)
    if words_only:
        output[np.array(types) != int(TokenType.NORMAL)] = 0.0  # logit 0, far under the best word's
    writer.add_tensor("output.weight", output)
    add_llama_blocks(writer, rng, layers, hidden, ffn)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
