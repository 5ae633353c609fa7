"""A GGUF file's header, read without llama.cpp: llama.cpp aborts the process on some malformed or hostile files,
so every GGUF is checked here first (read_gguf is what the backends call before loading).

What is checked: the structure (magic, version, metadata, tensor table; every length bounded by the file and
by the limits below, so a bad file costs bounded time and memory), that the data is all there (no tensor
claims bytes past the end of the file), and the hyperparameters llama.cpp sizes its allocations by (layers,
heads, widths, vocabulary) against limits generous enough for real models up to ~1T parameters. Any failure
is one ModelLoadError line; nothing else escapes.

Only scalar and string metadata is kept; arrays (the vocabulary) are skipped and recorded by length (its short
tokens kept, to check the byte tokens). A context length over MAX_CONTEXT is refused; below it
`GgufInfo.context_length` exposes it and the backends cap their n_ctx at what memory and a request allow.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from engine.types import ModelLoadError

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_INTEGERS = {0, 1, 2, 3, 4, 5, 10, 11}
_STRING, _ARRAY = 8, 9
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")
DEFAULT_ALIGNMENT = 32
SUPPORTED_VERSIONS = (2, 3)  # what llama.cpp's gguf reader accepts

# Structure. Each bounds the time and memory a crafted header can cost before it is refused.
MAX_HEADER_BYTES = 64 * 2**20  # metadata + tensor table; real ones are under ~10 MB even with a 262k vocabulary
MAX_METADATA_KEYS = 65_536  # real files have under 100 (the whole vocabulary is one array key)
MAX_TENSORS = 1 << 17  # 131,072; a 1T MoE has ~1,200 (stacked experts), even unstacked 384 x 3 x 61 is 70k
MAX_ARRAY_LENGTH = 1 << 22  # 4M: the largest vocabularies and merge lists hold ~262k and ~500k entries
MAX_STRING_BYTES = 1 << 24  # 16 MiB: chat templates, the longest strings in real files, are tens of KB
MAX_DIMS = 4  # GGML_MAX_DIMS: a tensor has at most four dimensions
MAX_TENSOR_NAME = 63  # GGML_MAX_NAME is 64 bytes with the terminating zero

# Hyperparameters (per architecture, `<arch>.<key>`): llama.cpp allocates by them before it reads a weight.
MAX_LAYERS = 512  # llama.cpp's own LLAMA_MAX_LAYERS; the deepest open models have ~126 (Llama 3.1 405B)
MAX_HEADS = 1024  # attention heads; the most in an open model is 128 (Llama 3.1 405B, DeepSeek-V3)
MAX_EMBEDDING = 1 << 17  # 131,072 wide; the widest open models are 16,384 (Llama 3.1 405B)
MAX_FEED_FORWARD = 1 << 20  # ~1M; the widest open feed-forward is 53,248 (Llama 3.1 405B)
MAX_HEAD_DIM = 1 << 14  # key/value width per head; real ones are 64..576 (DeepSeek's MLA)
MAX_EXPERTS = 512  # llama.cpp's LLAMA_MAX_EXPERTS; Qwen3-Next has 512, Kimi K2 384
MAX_VOCAB = 1 << 22  # 4M tokens; the largest real vocabulary is Gemma's 262,144
# 16M tokens, past every real model (10M at most today). Not only n_ctx: llama-cpp-python's tokenize allocates a
# buffer of the TRAINED context for every call, so 2^31-1 took 8 GB per tokenize (the stress suite's find).
MAX_CONTEXT = 1 << 24

# key suffix -> (smallest, largest, why in a word); a per-layer array is checked element by element.
_HYPERPARAMETERS = {
    "block_count": (1, MAX_LAYERS, "layers"),
    "context_length": (1, MAX_CONTEXT, "context length"),
    "embedding_length": (1, MAX_EMBEDDING, "embedding width"),
    "feed_forward_length": (0, MAX_FEED_FORWARD, "feed-forward width"),
    "expert_feed_forward_length": (0, MAX_FEED_FORWARD, "expert feed-forward width"),
    "attention.head_count": (0, MAX_HEADS, "attention heads"),  # 0: no attention (Mamba)
    "attention.head_count_kv": (0, MAX_HEADS, "key/value heads"),
    "attention.key_length": (1, MAX_HEAD_DIM, "key width per head"),
    "attention.value_length": (1, MAX_HEAD_DIM, "value width per head"),
    "expert_count": (0, MAX_EXPERTS, "experts"),
    "vocab_size": (1, MAX_VOCAB, "vocabulary size"),
}


class _Malformed(ValueError):
    """The structure is broken: reported as 'truncated or not a GGUF file (why)'."""


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    architecture: str
    metadata: dict  # scalars and strings; an array becomes its length
    size_bytes: int

    def get(self, key: str, default=None):
        return self.metadata.get(key, default)

    @property
    def context_length(self) -> int | None:
        """The trained context as the file states it (checked to be a positive uint32, not to be small):
        callers cap their n_ctx at what they need."""
        return self.metadata.get(f"{self.architecture}.context_length")


def read_gguf(path: str | Path) -> GgufInfo:
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model not found: {path} does not exist")
    try:
        with path.open("rb") as f:
            if path.stat().st_size == 0:
                raise _Malformed("the file is empty")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _parse(path, data)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except (_Malformed, struct.error, OverflowError, IndexError) as exc:
        # struct.error / IndexError / OverflowError are backstops: every read is bounds-checked first.
        raise ModelLoadError(f"{path.name} is truncated or not a GGUF file ({exc})") from None


class _Reader:
    """Reads forward through the header; every read is checked against the file and MAX_HEADER_BYTES."""

    def __init__(self, data) -> None:
        self.data, self.pos = data, 0
        self.end = min(len(data), MAX_HEADER_BYTES)

    def need(self, n: int) -> int:
        """Advance by n bytes; the start of those bytes."""
        start, self.pos = self.pos, self.pos + n
        if self.pos > self.end:
            if self.pos > len(self.data):
                raise _Malformed("the header runs past the end of the file")
            raise _Malformed(f"the header is larger than {MAX_HEADER_BYTES // 2**20} MiB")
        return start

    def u32(self) -> int:
        return _U32.unpack_from(self.data, self.need(4))[0]

    def u64(self) -> int:
        return _U64.unpack_from(self.data, self.need(8))[0]

    def string(self, what: str) -> str:
        length = self.u64()
        if length > MAX_STRING_BYTES:
            raise _Malformed(f"{what} claims {length:,} bytes")
        start = self.need(length)
        try:
            return bytes(self.data[start : start + length]).decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed(f"{what} is not UTF-8") from None

    def skip_strings(self, count: int) -> None:
        """An array of strings (the vocabulary): walked by length, not decoded (the hot loop of a real file)."""
        data, end, pos, unpack = self.data, self.end - 8, self.pos, _U64.unpack_from
        for _ in range(count):
            if pos > end:
                break
            pos += 8 + unpack(data, pos)[0]
        else:
            self.pos = pos
            self.need(0)  # the last string may run past the end
            return
        self.pos = pos
        self.need(8)  # a length that is not there: past the end, or over the header limit

    def short_strings(self, count: int) -> frozenset[bytes]:
        """Read past `count` strings, keeping those of at most 6 bytes (the byte tokens are among them)."""
        data, unpack, short = self.data, _U64.unpack_from, set()
        for _ in range(count):
            size = unpack(data, self.need(8))[0]
            start = self.need(size)
            if size <= 6:
                short.add(bytes(data[start : start + size]))
        return frozenset(short)

    def value(self, kind: int, key: str):
        """A metadata value: a scalar, a string, or an array (returned as (item kind, count, small values))."""
        if kind in _SCALARS:
            fmt = _SCALARS[kind]
            return struct.unpack_from(fmt, self.data, self.need(struct.calcsize(fmt)))[0]
        if kind == _STRING:
            return self.string(f"the value of {key}")
        if kind != _ARRAY:
            raise _Malformed(f"{key} has unknown metadata type {kind}")
        item_kind, count = self.u32(), self.u64()
        if count > MAX_ARRAY_LENGTH:
            raise _Malformed(f"{key} claims {count:,} entries (at most {MAX_ARRAY_LENGTH:,})")
        if item_kind in _SCALARS:
            size = struct.calcsize(_SCALARS[item_kind])
            start = self.need(count * size)
            small = None
            if item_kind in _INTEGERS and count <= MAX_LAYERS:  # per-layer hyperparameters are such arrays
                small = struct.unpack_from(f"<{count}{_SCALARS[item_kind][1]}", self.data, start)
            return _Array(item_kind, count, small)
        if item_kind == _STRING:
            if key == "tokenizer.ggml.tokens":
                return _Array(item_kind, count, None, self.short_strings(count))
            self.skip_strings(count)
            return _Array(item_kind, count, None)
        if item_kind == _ARRAY:
            raise _Malformed(f"{key} is an array of arrays, which GGUF readers do not support")
        raise _Malformed(f"{key} is an array of unknown type {item_kind}")


@dataclass(frozen=True)
class _Array:
    item_kind: int
    count: int
    values: tuple | None  # integers of a short integer array (per-layer hyperparameters), else None
    short: frozenset[bytes] = frozenset()  # the vocabulary's tokens of at most 6 bytes (tokenizer.ggml.tokens)


def _parse(path: Path, data) -> GgufInfo:
    r = _Reader(data)
    if r.end < 24 or data[:4] != b"GGUF":
        raise _Malformed("no GGUF magic bytes")
    r.pos = 4
    version, n_tensors, n_kv = r.u32(), r.u64(), r.u64()
    if version not in SUPPORTED_VERSIONS:
        raise _Malformed(f"GGUF version {version} is not supported (only {' and '.join(map(str, SUPPORTED_VERSIONS))})")
    if n_kv > MAX_METADATA_KEYS or n_tensors > MAX_TENSORS:
        raise _Malformed(f"it claims {n_kv:,} metadata keys and {n_tensors:,} tensors")

    metadata: dict = {}
    arrays: dict[str, _Array] = {}
    for _ in range(n_kv):
        key = r.string("a metadata key")
        if key in metadata:
            raise _Malformed(f"metadata key {key} appears twice")
        value = r.value(r.u32(), key)
        if isinstance(value, _Array):
            arrays[key] = value
            value = value.count
        metadata[key] = value

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise _Malformed(f"general.alignment is {alignment!r}, not a power of two")

    end, names = 0, set()
    for _ in range(n_tensors):
        name = r.string("a tensor name")
        if len(name.encode()) > MAX_TENSOR_NAME or name in names:
            raise _Malformed(f"tensor name {name[:80]!r} is too long or appears twice")
        names.add(name)
        n_dims = r.u32()
        if n_dims > MAX_DIMS:
            raise _Malformed(f"tensor {name} has {n_dims:,} dimensions (at most {MAX_DIMS})")
        dims = [r.u64() for _ in range(n_dims)]
        kind, offset = r.u32(), r.u64()
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
        except (ValueError, KeyError):
            raise _Malformed(f"tensor {name} has unknown type {kind}") from None
        if dims and dims[0] % block:
            raise _Malformed(f"tensor {name}'s rows of {dims[0]:,} are not whole blocks of {block}")
        if offset % alignment:
            raise _Malformed(f"tensor {name}'s offset {offset:,} is not a multiple of the alignment {alignment}")
        elements = 1
        for d in dims:
            elements *= d  # Python integers do not overflow; the size is checked against the file below
        end = max(end, offset + elements // block * type_size)
    data_start = -(-r.pos // alignment) * alignment
    if data_start + end > len(data):
        raise _Malformed(f"{len(data):,} bytes on disk, {data_start + end:,} expected")

    architecture = metadata.get("general.architecture")
    if not isinstance(architecture, str) or not architecture:
        raise _Malformed("no general.architecture")
    refused = _hostile(architecture, metadata, arrays)
    if refused:
        raise ModelLoadError(f"{path.name} is refused before loading: {refused}")
    return GgufInfo(path=path, architecture=architecture, metadata=metadata, size_bytes=len(data))


def _hostile(arch: str, metadata: dict, arrays: dict[str, _Array]) -> str | None:
    """Why the hyperparameters cannot be a real model, or None."""
    seen: dict[str, int] = {}  # the largest value of each, for the cross-checks
    for suffix, (low, high, what) in _HYPERPARAMETERS.items():
        key = f"{arch}.{suffix}"
        if key not in metadata:
            continue
        if key in arrays:
            values = arrays[key].values
            if values is None:
                return f"{key} is an array of {arrays[key].count:,} values, not one integer per layer"
        else:
            values = (metadata[key],)
        for value in values:
            if type(value) is not int:
                return f"{key} is {value!r}, not an integer"
            if not low <= value <= high:
                return f"{key} = {value:,} ({what}) is outside {low:,}..{high:,}; no real model has that"
        seen[suffix] = max(values, default=0)
    tokens = arrays.get("tokenizer.ggml.tokens")
    if tokens is not None and tokens.count > MAX_VOCAB:
        return f"tokenizer.ggml.tokens has {tokens.count:,} tokens (at most {MAX_VOCAB:,})"
    heads, kv, width = seen.get("attention.head_count"), seen.get("attention.head_count_kv"), seen.get("embedding_length")
    if heads and width and heads > width:
        return f"{arch}.attention.head_count = {heads:,} is more heads than the embedding's {width:,} dimensions"
    if heads and kv and (kv > heads or heads % kv):
        return f"{arch}.attention.head_count_kv = {kv:,} does not divide {heads:,} attention heads"
    missing = _missing_byte_tokens(metadata.get("tokenizer.ggml.model"), tokens)
    if missing:
        return (f"its {metadata['tokenizer.ggml.model']} vocabulary lacks {missing} of the 256 byte tokens; "
                "llama.cpp aborts on text it cannot spell with them")
    return None


# SentencePiece byte fallback: llama.cpp's SPM tokenizer looks a byte it cannot merge up with
# std::unordered_map::at, so a vocabulary without these terminates the process on the first such text. Its BPE
# (gpt2) tokenizer skips a byte it has no token for instead: SmolLM2's real vocabulary lacks 21 of them and
# tokenizes every byte value (tests/engine/models/test_hostile_files.py), so BPE vocabularies are not checked.
_BYTE_TOKENS = {"llama": [f"<0x{b:02X}>".encode() for b in range(256)]}


def _missing_byte_tokens(model, tokens: _Array | None) -> int:
    """How many byte tokens a vocabulary lacks that llama.cpp looks up unchecked (std::unordered_map::at:
    a miss throws through the C API and terminates the process) when it tokenizes arbitrary text."""
    needed = _BYTE_TOKENS.get(model)
    if needed is None or tokens is None:
        return 0
    return sum(1 for token in needed if token not in tokens.short)
