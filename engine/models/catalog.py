"""The catalog of known models: plain data in resources/models.json, checked when it is read.

Why data and not code: adding a model or fixing a size is an edit to one JSON file, and the same file feeds
the CLI, the model manager and the fit check. Validation is strict so a typo fails loudly at load rather than
as a strange download later; in particular a file pattern may not climb out of the model's folder (`..`,
absolute paths). Fields the catalog has not checked against the Hub are listed in an entry's `unverified`;
`repo` is null where the repository is not known yet (such entries can be found on disk, not downloaded).
"""

from __future__ import annotations

import fnmatch
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


def _catalog_path() -> Path:
    """resources/ beside the packages (a checkout, an editable install, the frozen app), else where a wheel
    installed it (pyproject.toml's data-files: <prefix>/share/redraft)."""
    beside = Path(__file__).resolve().parents[2] / "resources" / "models.json"  # engine/models/ -> the root
    return beside if beside.is_file() else Path(sys.prefix) / "share" / "redraft" / "models.json"


CATALOG_PATH = _catalog_path()
BACKENDS = ("diffusion_gemma", "llama_cpp")
FORMATS = ("safetensors", "gguf")
GB = 1_000_000_000


class CatalogError(ValueError):
    """The catalog file is malformed: one line naming the entry and the field."""


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    family: str
    backend: str
    format: str  # "safetensors" (a checkpoint folder) or "gguf" (one file)
    architecture: str  # config.json's model_type, or the GGUF's general.architecture
    repo: str | None  # None: the repository is not known yet
    files: tuple[str, ...]  # file names or glob patterns inside the repository
    size_gb: float | None
    memory_gb: dict[str, float]  # memory needed to run it, per dtype or quantisation
    canvas_length: int | None
    license: str
    good_for: str
    cpu_ok: bool = False  # small enough that CPU speed is fine
    unverified: tuple[str, ...] = field(default_factory=tuple)

    @property
    def downloadable(self) -> bool:
        return self.repo is not None

    def wants(self, filename: str) -> bool:
        """Whether a file of the repository belongs to this entry."""
        return any(fnmatch.fnmatchcase(filename, pattern) for pattern in self.files)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "backend": self.backend,
            "format": self.format,
            "architecture": self.architecture,
            "repo": self.repo,
            "files": list(self.files),
            "size_gb": self.size_gb,
            "memory_gb": dict(self.memory_gb),
            "canvas_length": self.canvas_length,
            "license": self.license,
            "good_for": self.good_for,
            "unverified": list(self.unverified),
        }


def load_catalog(path: Path = CATALOG_PATH) -> tuple[CatalogEntry, ...]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read the model catalog {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise CatalogError(f"{path.name}: expected an object with a 'models' list")
    entries = tuple(_entry(raw, i) for i, raw in enumerate(data["models"]))
    ids = [e.id for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogError(f"{path.name}: duplicate model ids {', '.join(duplicates)}")
    return entries


def entry_by_id(model_id: str, catalog: tuple[CatalogEntry, ...] | None = None) -> CatalogEntry:
    for entry in catalog if catalog is not None else load_catalog():
        if entry.id == model_id:
            return entry
    raise KeyError(model_id)


def check_relative(name: str, what: str = "path") -> str:
    """A file name from the catalog or the Hub, refused if it could land outside its model's folder."""
    pure = PurePosixPath(name)
    if not name or "\\" in name or pure.is_absolute() or ".." in pure.parts or name.startswith("~"):
        raise CatalogError(f"refusing {what} {name!r}: it must stay inside the model's folder")
    return name


_REQUIRED = {
    "id": str,
    "name": str,
    "family": str,
    "backend": str,
    "format": str,
    "architecture": str,
    "files": list,
    "memory_gb": dict,
    "license": str,
    "good_for": str,
}


def _entry(raw: object, index: int) -> CatalogEntry:
    if not isinstance(raw, dict):
        raise CatalogError(f"catalog entry {index} is not an object")
    where = f"catalog entry {raw.get('id', index)!r}"
    for key, kind in _REQUIRED.items():
        if not isinstance(raw.get(key), kind) or not raw[key]:
            raise CatalogError(f"{where}: '{key}' must be a non-empty {kind.__name__}")
    if raw["backend"] not in BACKENDS:
        raise CatalogError(f"{where}: backend {raw['backend']!r} is not one of {', '.join(BACKENDS)}")
    if raw["format"] not in FORMATS:
        raise CatalogError(f"{where}: format {raw['format']!r} is not one of {', '.join(FORMATS)}")
    check_relative(raw["id"], f"{where} id")
    if "/" in raw["id"]:
        raise CatalogError(f"{where}: an id names one folder, it may not contain '/'")
    for pattern in raw["files"]:
        if not isinstance(pattern, str):
            raise CatalogError(f"{where}: files must be strings")
        check_relative(pattern, f"{where} file")
    repo = raw.get("repo")
    if repo is not None and (not isinstance(repo, str) or repo.count("/") != 1 or ".." in repo):
        raise CatalogError(f"{where}: repo must be 'owner/name' or null")
    for key, value in raw["memory_gb"].items():
        if not isinstance(value, (int, float)) or value <= 0:
            raise CatalogError(f"{where}: memory_gb[{key!r}] must be a positive number")
    size = raw.get("size_gb")
    if size is not None and (not isinstance(size, (int, float)) or size <= 0):
        raise CatalogError(f"{where}: size_gb must be a positive number or null")
    canvas = raw.get("canvas_length")
    if canvas is not None and (not isinstance(canvas, int) or canvas <= 0):
        raise CatalogError(f"{where}: canvas_length must be a positive integer or null")
    unverified = raw.get("unverified", [])
    unknown = [f for f in unverified if f not in raw]
    if unknown:
        raise CatalogError(f"{where}: 'unverified' names fields it does not have: {', '.join(unknown)}")
    return CatalogEntry(
        id=raw["id"],
        name=raw["name"],
        family=raw["family"],
        backend=raw["backend"],
        format=raw["format"],
        architecture=raw["architecture"],
        repo=repo,
        files=tuple(raw["files"]),
        size_gb=size,
        memory_gb={k: float(v) for k, v in raw["memory_gb"].items()},
        canvas_length=canvas,
        license=raw["license"],
        good_for=raw["good_for"],
        cpu_ok=bool(raw.get("cpu_ok", False)),
        unverified=tuple(unverified),
    )
