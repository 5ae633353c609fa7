"""Finding and checking a model on disk before any weights are read.

Cheap checks with clear messages: the folder exists, its config names a supported architecture, its weights
are safetensors (pickle files are refused: loading them can run code) and none is truncated. A hub id is
resolved only from the local Hugging Face cache: nothing is downloaded here.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from engine.types import ModelLoadError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@dataclass(frozen=True)
class Checkpoint:
    """A local checkpoint folder that passed the cheap checks."""

    folder: Path
    model_type: str
    config: dict
    weight_files: tuple[Path, ...]

    @property
    def weight_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.weight_files)


def resolve(spec: str) -> Path:
    """A local path, or a hub id already in the local Hugging Face cache."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    looks_like_path = spec.startswith((".", "/", "~")) or spec.count("/") != 1 or Path(spec).suffix
    if looks_like_path:
        raise ModelLoadError(f"model not found: {spec} does not exist")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(spec, local_files_only=True))
    except LocalEntryNotFoundError:
        raise ModelLoadError(
            f"model {spec} is not in the local Hugging Face cache; Redraft never downloads on its own "
            "(download it first, or pass a local folder)"
        ) from None


def inspect_folder(folder: Path, expected_model_type: str) -> Checkpoint:
    if not folder.is_dir():
        raise ModelLoadError(f"model folder not found: {folder}")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{folder} has no config.json; it is not a model checkpoint folder")
    try:
        config = _load_json(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ModelLoadError(f"{config_path} is not readable JSON ({_first_line(exc)})") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{config_path} is not a JSON object")
    model_type = config.get("model_type", "")
    if model_type != expected_model_type:
        architectures = config.get("architectures")
        listed = ", ".join(map(str, architectures)) if isinstance(architectures, list) else ""
        raise ModelLoadError(
            f"{folder.name} is a {str(model_type)[:80] or 'model of unknown type'!r} checkpoint "
            f"({listed[:200] or 'no architectures listed'}); this backend runs {expected_model_type!r} models"
        )
    weights = _weight_files(folder)
    for weight_file in weights:
        check_safetensors(weight_file)
    return Checkpoint(folder=folder, model_type=model_type, config=config, weight_files=weights)


def _weight_files(folder: Path) -> tuple[Path, ...]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = _load_json(index.read_text(encoding="utf-8")).get("weight_map")
            shards = sorted(set(weight_map.values()))
            if not all(isinstance(s, str) and s == Path(s).name and s not in ("", ".", "..") for s in shards):
                raise ValueError("a shard is not a plain file name in the folder")
        except (OSError, ValueError, AttributeError, TypeError) as exc:  # not an object, or a map of non-strings
            raise ModelLoadError(f"{index} is not a valid safetensors index ({_first_line(exc)})") from None
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise ModelLoadError(f"{folder.name} is incomplete: missing {', '.join(missing)}")
        return tuple(folder / s for s in shards)
    found = tuple(sorted(folder.glob("*.safetensors")))
    if found:
        return found
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelLoadError(
            f"refusing to load {', '.join(pickles)}: Redraft loads only safetensors weights "
            "(pickle files can run arbitrary code); convert the checkpoint to safetensors"
        )
    raise ModelLoadError(f"{folder} has no weights (no .safetensors files)")


# Bytes per element of the safetensors dtypes (sub-byte float formats are packed: their sizes are not checked).
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "C64": 8,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
MAX_HEADER_BYTES = 32 * 2**20  # real headers are a few MB at most (thousands of tensors); safetensors allows 100 MB


def check_safetensors(path: Path) -> None:
    """Read the header and check the file holds every byte it declares (a truncated download fails here).
    Any malformed header ends in one ModelLoadError line, after reading at most MAX_HEADER_BYTES."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise ValueError("shorter than its 8-byte header length")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > size - 8:
                raise ValueError("header length is past the end of the file")
            if header_len > MAX_HEADER_BYTES:
                raise ValueError(f"a {header_len:,}-byte header (at most {MAX_HEADER_BYTES:,})")
            raw = f.read(header_len)
        header = _load_json(raw.decode("utf-8"))
        data_end = _tensor_data_end(header)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ModelLoadError(f"{path.name} is not a valid safetensors file ({_first_line(exc)})") from None
    expected = 8 + header_len + data_end
    if size < expected:
        raise ModelLoadError(
            f"{path.name} is truncated: {size:,} bytes on disk, {expected:,} expected (re-download it)"
        )


def _load_json(text: str):
    """json.loads, with too deep a nesting (the parser recurses once per level) reported as a ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the header nests too deeply to be a safetensors header") from None


def _tensor_data_end(header) -> int:
    """Where the last tensor's data ends, after checking each entry's fields and that its bytes match its shape."""
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise ValueError("__metadata__ is not a map of strings")
            continue
        if not isinstance(info, dict):
            raise ValueError(f"tensor {name[:80]!r} is not described by an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or not _ints(shape) or not _ints(offsets) or len(offsets) != 2:
            raise ValueError(f"tensor {name[:80]!r} needs a dtype string, a shape and two data offsets")
        begin, stop = offsets
        if begin > stop:
            raise ValueError(f"tensor {name[:80]!r} ends before it begins")
        elements = 1
        for d in shape:
            elements *= d
        if dtype in _DTYPE_BYTES and stop - begin != elements * _DTYPE_BYTES[dtype]:
            raise ValueError(f"tensor {name[:80]!r} holds {stop - begin:,} bytes, its shape needs {elements * _DTYPE_BYTES[dtype]:,}")
        end = max(end, stop)
    return end


def _ints(value) -> bool:
    return isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
