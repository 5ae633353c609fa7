"""Models already on disk: the local Hugging Face cache, the model `REDRAFT_MODEL` names, the bundled one.

Cheap: reads configs and headers, never weights. (The catalog and user folders build on this.)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .backends import chosen_model
from .bundled import BUNDLED, bundled_file_path


@dataclass(frozen=True)
class FoundModel:
    id: str
    family: str  # a config's model_type, or "gguf"
    path: str
    size_bytes: int
    source: str  # "hf-cache", "REDRAFT_MODEL" or "bundled"

    def to_dict(self) -> dict:
        return asdict(self)


def find_models() -> list[FoundModel]:
    found = [*_from_env(), *_from_hf_cache(), _bundled()]
    seen: set[str] = set()
    return [m for m in found if not (m.path in seen or seen.add(m.path))]


def _bundled() -> FoundModel:
    path = bundled_file_path()
    size = path.stat().st_size if path.is_file() else 0  # written on first use
    return FoundModel(BUNDLED, "gemma3 (gguf, autoregressive)", str(path), size, "bundled")


def _from_env() -> list[FoundModel]:
    spec = chosen_model()
    if spec == BUNDLED or not Path(spec).expanduser().exists():
        return []
    return [_describe(Path(spec).expanduser(), spec, "REDRAFT_MODEL")]


def _from_hf_cache() -> list[FoundModel]:
    from huggingface_hub import constants, scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir(constants.HF_HUB_CACHE)  # the same cache snapshot_download resolves from
    except CacheNotFound:
        return []
    models = []
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            snapshot = Path(revision.snapshot_path)
            if (snapshot / "config.json").is_file():
                models.append(_describe(snapshot, repo.repo_id, "hf-cache"))
            models.extend(_describe(g, f"{repo.repo_id}/{g.name}", "hf-cache") for g in snapshot.glob("*.gguf"))
            break  # the newest snapshot is enough
    return models


def _describe(path: Path, model_id: str, source: str) -> FoundModel:
    if path.is_file():
        return FoundModel(model_id, "gguf" if path.suffix == ".gguf" else "unknown", str(path), path.stat().st_size, source)
    try:
        family = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type", "unknown")
    except (OSError, ValueError):
        family = "unknown"
    size = sum(f.stat().st_size for f in path.glob("*.safetensors"))
    return FoundModel(model_id, family, str(path), size, source)
