"""Downloading a catalog model, only when the user asks: progress, cancel, resume, checksums, disk check.

Why not `hf_hub_download`/`snapshot_download` as they are: huggingface_hub 2.x writes each file to a
process-unique temporary file and deletes it when the transfer fails or is interrupted, so a cancelled or
crashed 50 GB download starts again from zero, and it has no cancel. This module keeps the Hub protocol in
huggingface_hub's hands (`model_info` for the file list with sizes and hashes, `get_hf_file_metadata` for the
resolved location, `http_get` for the ranged transfer, its errors for gated repositories) and owns only the
file handling: `<models_dir>/<entry id>/<file>.part` grows across attempts (a sidecar records which commit and
hash it belongs to, so a stale partial is never resumed into a different file), is checked against the Hub's
sha256 (LFS files) or git blob id (small files) when complete, and only then is renamed into place.

The transfer runs on the caller's thread; the model manager and the CLI put it on a worker thread and pass a
`threading.Event` to cancel it. Progress arrives as `DownloadProgress` values through a callback.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.models.bundled import BUNDLED
from engine.models.catalog import GB, CatalogEntry, CatalogError, check_relative
from engine.models.hardware import free_disk_bytes
from engine.types import EngineError, one_line

class DownloadError(EngineError):
    """A download that could not start or finish; the message is one line for the user."""


class DownloadCancelled(DownloadError):
    """The user cancelled; the partial files stay on disk and the next download resumes them."""


@dataclass(frozen=True)
class DownloadProgress:
    model_id: str
    filename: str  # the file being transferred now
    done_bytes: int  # over the whole model, including what was already on disk
    total_bytes: int
    rate_bytes_per_s: float  # over this session's transfer
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    sha256: str | None  # LFS files
    git_oid: str | None  # small files: the git blob id (sha1 of "blob <size>\0" + content)


def download(
    entry: CatalogEntry,
    models_dir: str | Path,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
    token: str | None = None,
    endpoint: str | None = None,
) -> Path:
    """Fetch `entry` into `models_dir/<entry.id>/` and return the model's path (its folder, or its .gguf).

    `token`: for gated or private repositories (None: huggingface_hub's stored token or HF_TOKEN).
    `endpoint`: the Hub's address (None: huggingface_hub's, i.e. HF_ENDPOINT as read at its import).
    """
    cancel = cancel or threading.Event()
    if entry.id == BUNDLED:
        raise DownloadError(f"{entry.name} comes with Redraft: there is nothing to download")
    if not entry.downloadable:
        raise DownloadError(
            f"{entry.name}: its repository is not known to this catalog yet; download it yourself and add "
            "its folder or .gguf file in the model manager"
        )
    target = model_folder(entry, models_dir)
    commit, files = _remote_files(entry, token, endpoint)
    on_disk = {f.name: _bytes_on_disk(target, f) for f in files}
    missing = sum(f.size - on_disk[f.name] for f in files)
    free = free_disk_bytes(target)
    if missing > free:
        raise DownloadError(
            f"not enough disk space for {entry.name}: needs {missing / GB:.1f} GB more, "
            f"{free / GB:.1f} GB free at {target.parent}"
        )
    meter = _Meter(entry.id, sum(f.size for f in files), sum(on_disk.values()), on_progress, cancel)
    for remote in files:
        if on_disk[remote.name] < remote.size or not (target / remote.name).is_file():
            _fetch(entry, commit, remote, target, meter, token, endpoint)
    ggufs = [target / f.name for f in files if f.name.endswith(".gguf")]
    return ggufs[0] if entry.format == "gguf" and ggufs else target


def model_folder(entry: CatalogEntry, models_dir: str | Path) -> Path:
    """Where an entry lives under the models folder; refused if a symlink would take it elsewhere."""
    root = Path(models_dir).expanduser().absolute()
    folder = root / check_relative(entry.id, "model id")
    _check_inside(folder, root)
    return folder


def _check_inside(path: Path, root: Path) -> None:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        raise DownloadError(f"refusing {path}: it leads outside the models folder {root} (a symlink?)") from None


def _remote_files(entry: CatalogEntry, token: str | None, endpoint: str | None) -> tuple[str, list[RemoteFile]]:
    from huggingface_hub import HfApi

    with _hub_errors(entry):
        info = HfApi(endpoint=endpoint, token=token).model_info(entry.repo, files_metadata=True)
    files = []
    for sibling in info.siblings or []:
        if not entry.wants(sibling.rfilename):
            continue
        try:
            name = check_relative(sibling.rfilename, "file name from the Hub")
        except CatalogError as exc:
            raise DownloadError(str(exc)) from None
        lfs = sibling.lfs
        files.append(
            RemoteFile(
                name=name,
                size=lfs.size if lfs else sibling.size or 0,
                sha256=lfs.sha256 if lfs else None,
                git_oid=None if lfs else sibling.blob_id,
            )
        )
    if not files:
        raise DownloadError(f"{entry.repo} has no files matching {', '.join(entry.files)} (at {info.sha})")
    return info.sha, files


def _bytes_on_disk(target: Path, remote: RemoteFile) -> int:
    """What is already there: the finished file, or a partial for this very file and commit."""
    final = target / remote.name
    if final.is_file() and final.stat().st_size == remote.size:
        return remote.size
    part = _part_path(final)
    if part.is_file() and _sidecar_matches(part, remote):
        return min(part.stat().st_size, remote.size)
    return 0


def _part_path(final: Path) -> Path:
    return final.with_name(final.name + ".part")


def _sidecar(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _sidecar_matches(part: Path, remote: RemoteFile) -> bool:
    try:
        recorded = json.loads(_sidecar(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded == _identity(remote)


def _identity(remote: RemoteFile) -> dict:
    return {"size": remote.size, "sha256": remote.sha256, "git_oid": remote.git_oid}


def _fetch(
    entry: CatalogEntry,
    commit: str,
    remote: RemoteFile,
    target: Path,
    meter: "_Meter",
    token: str | None,
    endpoint: str | None,
) -> None:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    final = target / remote.name
    final.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(final)
    for path in (final, part, _sidecar(part)):  # never write through a link that leads elsewhere
        _check_inside(path, target.parent)
    if not (part.is_file() and _sidecar_matches(part, remote)):
        part.unlink(missing_ok=True)
        _sidecar(part).write_text(json.dumps(_identity(remote)), encoding="utf-8")
    resume = part.stat().st_size if part.is_file() else 0
    if resume > remote.size:  # longer than the file: not ours after all
        part.unlink()
        resume = 0
    url = hf_hub_url(entry.repo, remote.name, revision=commit, endpoint=endpoint)
    meter.start_file(remote.name)
    try:
        with _hub_errors(entry):
            location = get_hf_file_metadata(url, token=token, endpoint=endpoint).location
            with part.open("ab") as f:
                http_get(
                    location,
                    f,
                    resume_size=resume,
                    headers=build_hf_headers(token=token),
                    expected_size=remote.size,
                    tqdm_class=functools.partial(_ProgressBar, meter),
                )
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            _discard(part)
            raise DownloadError(
                f"no space left on the device while downloading {remote.name}; the partial file was deleted "
                f"({entry.size_gb or '?'} GB needed in all)"
            ) from None
        raise DownloadError(f"download of {remote.name} failed: {one_line(exc)}; try again to resume") from None
    _verify(part, remote)
    part.replace(final)
    _sidecar(part).unlink(missing_ok=True)


def _verify(part: Path, remote: RemoteFile) -> None:
    if remote.sha256:
        digest, expected, what = hashlib.sha256(), remote.sha256, "sha256"
    elif remote.git_oid:
        digest, expected, what = hashlib.sha1(), remote.git_oid, "git blob id"
        digest.update(f"blob {part.stat().st_size}\0".encode())
    else:
        return  # the Hub gave no hash for it; its size was checked by http_get
    with part.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        _discard(part)
        raise DownloadError(
            f"{remote.name} failed its {what} check (got {digest.hexdigest()[:12]}…, expected {expected[:12]}…); "
            "the file was deleted, download it again"
        )


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _sidecar(part).unlink(missing_ok=True)


@contextlib.contextmanager
def _hub_errors(entry: CatalogEntry):
    """huggingface_hub's exceptions as one-line DownloadErrors (others pass through)."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    repo = entry.repo
    try:
        yield
    except GatedRepoError:  # before its parent class, RepositoryNotFoundError
        raise DownloadError(
            f"{repo} is gated: accept its terms on the Hub, then give an access token "
            "(the token field, --token, or HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise DownloadError(f"{repo} was not found on the Hub (or it is private and needs a token)") from None
    except OfflineModeIsEnabled:
        raise DownloadError("HF_HUB_OFFLINE is set: unset it to download") from None
    except HfHubHTTPError as exc:
        raise DownloadError(f"the Hub refused {repo}: {one_line(exc)}") from None
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore")):  # after huggingface_hub's own retries
            raise DownloadError(f"cannot reach the Hub for {repo}: {one_line(exc)}") from None
        raise


class _Meter:
    """Bytes, rate and ETA over the whole model; raises DownloadCancelled when the cancel event is set."""

    def __init__(self, model_id, total, done, on_progress, cancel: threading.Event) -> None:
        self.model_id, self.total, self.done = model_id, total, done
        self.on_progress, self.cancel = on_progress, cancel
        self.started = time.monotonic()
        self.session_bytes = 0
        self.filename = ""

    def start_file(self, name: str) -> None:
        self.filename = name
        self._check()
        self._report()

    def add(self, n: int) -> None:
        self.done += n
        self.session_bytes += n
        self._report()
        self._check()

    def _check(self) -> None:
        if self.cancel.is_set():
            raise DownloadCancelled(f"download of {self.model_id} cancelled; the next download resumes it")

    def _report(self) -> None:
        if self.on_progress is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.session_bytes / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else None
        self.on_progress(DownloadProgress(self.model_id, self.filename, self.done, self.total, rate, eta))


class _ProgressBar:
    """What `http_get` takes for a tqdm bar: it only calls `update` and uses it as a context manager."""

    def __init__(self, meter: _Meter, **_tqdm_kwargs) -> None:
        self.meter = meter

    def update(self, n: int | float = 1) -> None:
        self.meter.add(int(n))

    def __enter__(self) -> "_ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def close(self) -> None:
        return None
