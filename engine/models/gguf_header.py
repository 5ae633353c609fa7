"""A GGUF file's header, read without llama.cpp: llama.cpp aborts the process on some malformed files,
so every GGUF is checked here first (magic, metadata, tensor table, and that the data is all there).

Only scalar metadata is kept; arrays (the vocabulary) are skipped and recorded by length.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from engine.types import ModelLoadError

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
DEFAULT_ALIGNMENT = 32


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
        return self.metadata.get(f"{self.architecture}.context_length")


def read_gguf(path: str | Path) -> GgufInfo:
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model not found: {path} does not exist")
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _parse(path, data)
    except (ValueError, struct.error, UnicodeDecodeError, KeyError, OverflowError, IndexError) as exc:
        raise ModelLoadError(f"{path.name} is truncated or not a GGUF file ({exc})") from None


def _parse(path: Path, data) -> GgufInfo:
    if data[:4] != b"GGUF":
        raise ValueError("no GGUF magic bytes")
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
    if version < 2:
        raise ValueError(f"GGUF version {version} is too old")
    pos = 24
    metadata: dict = {}
    for _ in range(n_kv):
        key, pos = _string(data, pos)
        (kind,) = struct.unpack_from("<I", data, pos)
        value, pos = _value(data, pos + 4, kind)
        metadata[key] = value
    end = 0
    for _ in range(n_tensors):
        name, pos = _string(data, pos)
        (n_dims,) = struct.unpack_from("<I", data, pos)
        dims = struct.unpack_from(f"<{n_dims}Q", data, pos + 4)
        kind, offset = struct.unpack_from("<IQ", data, pos + 4 + 8 * n_dims)
        pos += 4 + 8 * n_dims + 12
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
        elements = 1
        for d in dims:
            elements *= d
        end = max(end, offset + elements // block * type_size)
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    data_start = -(-pos // alignment) * alignment
    if data_start + end > len(data):
        raise ValueError(f"{len(data):,} bytes on disk, {data_start + end:,} expected")
    architecture = metadata.get("general.architecture")
    if not isinstance(architecture, str):
        raise ValueError("no general.architecture")
    return GgufInfo(path=path, architecture=architecture, metadata=metadata, size_bytes=len(data))


def _string(data, pos: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<Q", data, pos)
    if pos + 8 + length > len(data):
        raise ValueError("a string runs past the end of the file")
    return bytes(data[pos + 8 : pos + 8 + length]).decode("utf-8"), pos + 8 + length


def _value(data, pos: int, kind: int):
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack_from(fmt, data, pos)[0], pos + struct.calcsize(fmt)
    if kind == _STRING:
        return _string(data, pos)
    if kind == _ARRAY:
        item_kind, count = struct.unpack_from("<IQ", data, pos)
        pos += 12
        if item_kind in _SCALARS:
            return count, pos + count * struct.calcsize(_SCALARS[item_kind])
        for _ in range(count):  # strings (the vocabulary) or nested arrays: walk them
            _, pos = _value(data, pos, item_kind)
        return count, pos
    raise ValueError(f"unknown metadata type {kind}")
