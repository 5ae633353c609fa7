"""Models already on disk, found before anything is offered for download.

Where it looks: the model `REDRAFT_MODEL` names, Redraft's models folder (where downloads go), folders and
.gguf files the user added, the local Hugging Face cache (huggingface_hub's own cache scan), and the bundled
model. Each find is matched to the catalog when its name or repository says which entry it is, and checked
cheaply — config readable and of a supported architecture, safetensors headers complete, GGUF header and
architecture — without reading weights. A find that fails a check is still listed, with its `problem` in one
line, so the user learns why a folder they pointed at is not offered (a partial download, another
architecture, a symlink leading out of the folder).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from platformdirs import user_data_path

from engine.models.choice import chosen_model
from engine.models.bundled import BUNDLED, bundled_file_path
from engine.models.catalog import CatalogEntry, load_catalog
from engine.models.checkpoint import inspect_folder
from engine.models.gguf_header import read_gguf
from engine.types import ModelLoadError, one_line

if TYPE_CHECKING:
    from engine.models.hardware import Fit, Hardware

FOLDER_ARCHITECTURE = "diffusion_gemma"  # the one checkpoint-folder family the transformers backend runs
MODELS_DIR_ENV = "REDRAFT_MODELS_DIR"


def models_dir(setting: str | None = None) -> Path:
    """Where downloads go and the first place looked: `REDRAFT_MODELS_DIR`, else the user's setting, else
    the platform's per-user data folder."""
    chosen = os.environ.get(MODELS_DIR_ENV) or setting
    return Path(chosen).expanduser().absolute() if chosen else user_data_path("Redraft", appauthor=False) / "models"


@dataclass(frozen=True)
class FoundModel:
    id: str
    family: str  # a config's model_type, or the GGUF's architecture
    path: str
    size_bytes: int
    source: str  # "REDRAFT_MODEL", "models-folder", "folder", "hf-cache" or "bundled"
    catalog_id: str | None = None
    problem: str | None = None  # why it cannot be used as it is; None when it passed the checks

    @property
    def spec(self) -> str:
        """What `backend_for` takes to load it."""
        return BUNDLED if self.source == "bundled" else self.path

    def to_dict(self) -> dict:
        return {**asdict(self), "spec": self.spec}


def find_models(
    folders: list[str] | tuple[str, ...] = (),
    models_dir: str | Path | None = None,
    catalog: tuple[CatalogEntry, ...] | None = None,
) -> list[FoundModel]:
    """Everything on disk, each path once. `folders`: folders or .gguf files the user added."""
    catalog = load_catalog() if catalog is None else catalog
    found = [*_from_env(catalog)]
    if models_dir is not None and Path(models_dir).expanduser().is_dir():
        found += scan(models_dir, "models-folder", catalog)
    for folder in folders:
        found += scan(folder, "folder", catalog)
    found += [*_from_hf_cache(catalog), _bundled()]
    seen: set[str] = set()
    return [m for m in found if not (m.path in seen or seen.add(m.path))]


def scan(folder: str | Path, source: str, catalog: tuple[CatalogEntry, ...]) -> list[FoundModel]:
    """A model folder, a .gguf file, or a folder holding those (one level down, and one more for the
    models folder's `<id>/<file>.gguf` layout). Entries that resolve outside `folder` are refused."""
    root = Path(folder).expanduser().absolute()
    if root.is_file() or (root / "config.json").is_file():
        return [_checked(root, source, catalog)]
    if not root.is_dir():
        return [FoundModel(root.name, "unknown", str(root), 0, source, problem=f"{root} does not exist")]
    try:
        children = sorted(root.iterdir())
    except OSError as exc:
        return [FoundModel(root.name, "unknown", str(root), 0, source, problem=f"cannot list {root}: {one_line(exc)}")]
    found = []
    for child in children:
        if child.name.startswith("."):
            continue
        if not _inside(child, root):
            found.append(
                FoundModel(child.name, "unknown", str(child), 0, source, problem=f"refused: {child} leads outside {root}")
            )
        elif child.is_file() and child.suffix.lower() == ".gguf":
            found.append(_checked(child, source, catalog))
        elif child.is_dir() and ((child / "config.json").is_file() or _partials(child)):
            found.append(_checked(child, source, catalog))
        elif child.is_dir():
            found += [
                _checked(g, source, catalog) if _inside(g, root) else
                FoundModel(g.name, "unknown", str(g), 0, source, problem=f"refused: {g} leads outside {root}")
                for g in sorted(child.glob("*.gguf"))
            ]
    return found


def _checked(path: Path, source: str, catalog: tuple[CatalogEntry, ...], **names) -> FoundModel:
    """`_describe`, but never an exception: one bad file is listed with its problem and the scan goes on.
    The checkers turn every malformed file into a ModelLoadError; this is the backstop for what they miss
    (an unreadable file, a link that vanished mid-scan)."""
    try:
        return _describe(path, source, catalog, **names)
    except Exception as exc:  # noqa: BLE001 - one line for the user, the rest of the list still shows
        why = str(exc) if isinstance(exc, ModelLoadError) else f"cannot be checked: {one_line(exc)}"
        return FoundModel(names.get("model_id") or path.name, "unknown", str(path), 0, source, problem=why)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


def _bundled() -> FoundModel:
    try:
        path = bundled_file_path()
    except ModelLoadError as exc:  # its package is not installed
        return FoundModel(BUNDLED, "llama", "", 0, "bundled", catalog_id=BUNDLED, problem=str(exc))
    size = path.stat().st_size if path.is_file() else 0
    return FoundModel(BUNDLED, "llama", str(path), size, "bundled", catalog_id=BUNDLED)


def _from_env(catalog: tuple[CatalogEntry, ...]) -> list[FoundModel]:
    spec = chosen_model()
    if spec == BUNDLED or not Path(spec).expanduser().exists():
        return []
    return [_checked(Path(spec).expanduser().absolute(), "REDRAFT_MODEL", catalog, model_id=spec)]


def _from_hf_cache(catalog: tuple[CatalogEntry, ...]) -> list[FoundModel]:
    from huggingface_hub import constants, scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir(constants.HF_HUB_CACHE)  # the same cache snapshot_download resolves from
    except CacheNotFound:
        return []
    models = []
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revision = max(repo.revisions, key=lambda r: r.last_modified)  # the newest snapshot is enough
        snapshot = Path(revision.snapshot_path)
        if (snapshot / "config.json").is_file():
            models.append(_checked(snapshot, "hf-cache", catalog, model_id=repo.repo_id))
        models.extend(
            _checked(g, "hf-cache", catalog, model_id=f"{repo.repo_id}/{g.name}", repo=repo.repo_id)
            for g in sorted(snapshot.glob("*.gguf"))
        )
    return models + _unfinished_in_hf_cache(Path(constants.HF_HUB_CACHE), {m.id for m in models})


def _unfinished_in_hf_cache(cache: Path, listed: set[str]) -> list[FoundModel]:
    """Repositories whose only trace is an interrupted huggingface_hub download (`blobs/*.incomplete`, left
    when the process was killed): the cache scan does not list them, the user should hear of them."""
    found = []
    for folder in sorted(cache.glob("models--*")):
        repo_id = folder.name.removeprefix("models--").replace("--", "/")
        partial = list((folder / "blobs").glob("*.incomplete"))
        if not partial or any(i == repo_id or i.startswith(repo_id + "/") for i in listed):
            continue
        size = sum(p.stat().st_size for p in partial)
        found.append(
            FoundModel(
                repo_id,
                "unknown",
                str(folder),
                size,
                "hf-cache",
                problem=f"unfinished Hugging Face download ({size / 1e6:,.0f} MB in {len(partial)} file(s)); "
                "run the download again to finish it",
            )
        )
    return found


def _describe(
    path: Path, source: str, catalog: tuple[CatalogEntry, ...], model_id: str | None = None, repo: str | None = None
) -> FoundModel:
    if path.is_file():
        return _describe_gguf(path, source, catalog, model_id or path.name, repo)
    model_id = model_id or path.name
    entry = _match_folder(path, model_id, catalog)
    partial = _partials(path)
    if partial:
        done = sum(p.stat().st_size for p in partial)
        total = sum(_declared_size(p) for p in partial)
        where = f"`redraft-cli download {entry.id}` or the model manager" if entry else "a new download"
        return FoundModel(
            model_id,
            entry.family if entry else "unknown",
            str(path),
            done,
            source,
            entry.id if entry else None,
            f"partial download ({done / 1e6:,.0f} of {total / 1e6:,.0f} MB): resume it with {where}",
        )
    try:
        family = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type") or "unknown"
    except (OSError, ValueError, AttributeError, RecursionError):  # inspect_folder below says what is wrong
        family = "unknown"
    family = family if isinstance(family, str) else "unknown"
    size = sum(f.stat().st_size for f in path.glob("*.safetensors"))
    try:
        inspect_folder(path, FOLDER_ARCHITECTURE)
        problem = None
    except ModelLoadError as exc:
        problem = str(exc)
    if entry and family not in (entry.architecture, "unknown") and problem is None:
        problem = f"named like {entry.name}, but its config says {family!r}"
    return FoundModel(model_id, family, str(path), size, source, entry.id if entry else None, problem)


def _describe_gguf(
    path: Path, source: str, catalog: tuple[CatalogEntry, ...], model_id: str, repo: str | None
) -> FoundModel:
    if path.suffix.lower() != ".gguf":
        return FoundModel(model_id, "unknown", str(path), path.stat().st_size, source, problem="not a .gguf file")
    try:
        info = read_gguf(path)
    except ModelLoadError as exc:
        return FoundModel(model_id, "unknown", str(path), path.stat().st_size, source, problem=str(exc))
    entry = next(
        (
            e
            for e in catalog
            if e.format == "gguf"
            and e.architecture == info.architecture
            and (e.wants(path.name) or e.id == path.parent.name or (repo is not None and e.repo == repo))
        ),
        None,
    )
    return FoundModel(model_id, info.architecture, str(path), info.size_bytes, source, entry.id if entry else None)


def _match_folder(path: Path, model_id: str, catalog: tuple[CatalogEntry, ...]) -> CatalogEntry | None:
    for entry in catalog:
        if entry.format == "safetensors" and (path.name == entry.id or model_id in (entry.id, entry.repo)):
            return entry
    return None


def _partials(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.part"))


def _declared_size(part: Path) -> int:
    """The full size recorded next to a partial download (see engine/models/download.py)."""
    try:
        return int(json.loads(part.with_name(part.name + ".json").read_text(encoding="utf-8"))["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return part.stat().st_size


@dataclass(frozen=True)
class Survey:
    """What the model manager and `redraft-cli models` show: finds, the catalog, this machine, verdicts."""

    found: tuple[FoundModel, ...]
    catalog: tuple[CatalogEntry, ...]
    hardware: "Hardware"
    fits: dict[str, "Fit"]  # catalog id -> verdict for the best option its backend can load here
    models_dir: Path

    def fit_of(self, model: FoundModel) -> "Fit":
        """The catalog's verdict when the model is matched, else one from its size on disk."""
        from engine.models.hardware import fit_weights

        if model.catalog_id in self.fits:
            return self.fits[model.catalog_id]
        # A checkpoint folder is stored in bf16 (as released) and the transformers backend loads fp32 on a CPU.
        folder = model.family == FOLDER_ARCHITECTURE and not model.path.endswith(".gguf")
        return fit_weights(model.size_bytes, self.hardware, self.catalog, cpu_factor=2.0 if folder else 1.0)

    @property
    def on_disk(self) -> set[str]:
        """Catalog ids with a usable copy on disk."""
        return {m.catalog_id for m in self.found if m.catalog_id and not m.problem}


def survey(folders: list[str] | tuple[str, ...] = (), models_dir_setting: str | None = None) -> Survey:
    """Scan everything and judge every catalog entry against this machine (seconds: run it off the GUI thread)."""
    from engine.models.hardware import detect, fit

    catalog = load_catalog()
    folder = models_dir(models_dir_setting)
    found = find_models(folders=folders, models_dir=folder, catalog=catalog)
    hardware = detect(folder)
    return Survey(tuple(found), catalog, hardware, {e.id: fit(e, hardware, catalog) for e in catalog}, folder)
