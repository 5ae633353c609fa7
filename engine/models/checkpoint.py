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
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{config_path} is not readable JSON ({exc})") from None
    model_type = config.get("model_type", "")
    if model_type != expected_model_type:
        raise ModelLoadError(
            f"{folder.name} is a {model_type or 'model of unknown type'!r} checkpoint "
            f"({', '.join(config.get('architectures') or []) or 'no architectures listed'}); "
            f"this backend runs {expected_model_type!r} models"
        )
    weights = _weight_files(folder)
    for weight_file in weights:
        check_safetensors(weight_file)
    return Checkpoint(folder=folder, model_type=model_type, config=config, weight_files=weights)


def _weight_files(folder: Path) -> tuple[Path, ...]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"{index} is not a valid safetensors index ({exc})") from None
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


def check_safetensors(path: Path) -> None:
    """Read the header and check the file holds every byte it declares (a truncated download fails here)."""
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > size - 8 or header_len > 100_000_000:
                raise ValueError("header length is past the end of the file")
            header = json.loads(f.read(header_len))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path.name} is not a valid safetensors file ({exc})") from None
    data_end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    expected = 8 + header_len + data_end
    if size < expected:
        raise ModelLoadError(
            f"{path.name} is truncated: {size:,} bytes on disk, {expected:,} expected (re-download it)"
        )
