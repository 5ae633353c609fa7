"""The catalog of known models: plain data in resources/models.json, checked when it is read.

Why data and not code: adding a model or fixing a size is an edit to one JSON file, and the same file feeds
the CLI, the model manager and the fit check. Validation is strict so a typo fails loudly at load rather than
as a strange download later; in particular a file pattern may not climb out of the model's folder (`..`,
absolute paths). Every entry with a repository cites the public page its repository, file names and sizes
come from (`source`); fields that page did not show are listed in `unverified`, and `unverified_why` says
where the value came from instead. `repo` is null only for the bundled model (found on disk, never
downloaded); `unavailable` says why an entry cannot run here even once downloaded (its runtime lacks the
architecture), so nobody downloads 17 GB that will not load. `active_params_b` (parameters read per token)
and `quality` (a rough rank, higher is better, from the models' published sizes and results, not measured
here) feed the speed estimate and the recommendation.
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
    # Required in the catalog file; defaults only for entries built in code (tests): no estimate, lowest rank.
    active_params_b: float | None = None  # billions of parameters each token reads (an MoE: its active experts)
    quality: int = 0  # rough rank, higher is better; ties are broken by speed
    steps: int | None = None  # denoising steps per canvas (diffusion models)
    source: str | None = None  # the public page the repository, files and sizes were taken from
    unavailable: str | None = None  # why it cannot run here even when downloaded
    unverified: tuple[str, ...] = field(default_factory=tuple)
    unverified_why: str = ""

    @property
    def downloadable(self) -> bool:
        return self.repo is not None

    @property
    def confirmed(self) -> bool:
        """Every field was read off the cited page."""
        return not self.unverified

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
            "active_params_b": self.active_params_b,
            "quality": self.quality,
            "steps": self.steps,
            "source": self.source,
            "unavailable": self.unavailable,
            "unverified": list(self.unverified),
            "unverified_why": self.unverified_why,
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
    "active_params_b": (int, float),
    "quality": int,
}


def _entry(raw: object, index: int) -> CatalogEntry:
    if not isinstance(raw, dict):
        raise CatalogError(f"catalog entry {index} is not an object")
    where = f"catalog entry {raw.get('id', index)!r}"
    for key, kind in _REQUIRED.items():
        if not isinstance(raw.get(key), kind) or not raw[key] or isinstance(raw[key], bool):
            what = "number" if isinstance(kind, tuple) else kind.__name__
            raise CatalogError(f"{where}: '{key}' must be a non-empty {what}")
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
    if raw["active_params_b"] <= 0:
        raise CatalogError(f"{where}: active_params_b must be a positive number")
    steps = raw.get("steps")
    if steps is not None and (not isinstance(steps, int) or steps <= 0):
        raise CatalogError(f"{where}: steps must be a positive integer or null")
    source = raw.get("source")
    if repo is not None and not (isinstance(source, str) and source.startswith("https://")):
        raise CatalogError(f"{where}: an entry with a repo must cite its page in 'source' (an https URL)")
    unavailable = raw.get("unavailable")
    if unavailable is not None and (not isinstance(unavailable, str) or not unavailable):
        raise CatalogError(f"{where}: unavailable must be a non-empty reason or null")
    unverified = raw.get("unverified", [])
    unknown = [f for f in unverified if f not in raw]
    if unknown:
        raise CatalogError(f"{where}: 'unverified' names fields it does not have: {', '.join(unknown)}")
    why = raw.get("unverified_why", "")
    if unverified and not (isinstance(why, str) and why):
        raise CatalogError(f"{where}: 'unverified_why' must say where the unverified fields came from")
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
        active_params_b=float(raw["active_params_b"]),
        quality=raw["quality"],
        cpu_ok=bool(raw.get("cpu_ok", False)),
        steps=steps,
        source=source,
        unavailable=unavailable,
        unverified=tuple(unverified),
        unverified_why=why,
    )
