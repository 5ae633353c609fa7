"""Downloads through huggingface_hub from a real HTTP server on 127.0.0.1 serving a real tiny checkpoint:
progress, an interrupted transfer, cancel and resume, checksums, gated repositories, disk space."""

import contextlib
import json
import os
import subprocess
import sys
import threading
from dataclasses import replace

import pytest

from engine import EditRequest, Engine, backend_for
from engine.models.discovery import find_models
from engine.models.download import DownloadCancelled, DownloadError, DownloadProgress, download, model_folder
from tests.hub_server import ENTRY, REPO, HubServer, Repo


@pytest.fixture
def hub(checkpoint, monkeypatch):
    # conftest turns huggingface_hub's offline mode on for the whole run; these tests reach 127.0.0.1 only.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    # Small reads so a 2 MB file arrives in many pieces (cancel and progress are checked per piece).
    monkeypatch.setattr("huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    files = {p.name: p.read_bytes() for p in sorted(checkpoint.iterdir()) if p.is_file()}
    with HubServer() as server:
        server.repos[REPO] = Repo(files=files)
        yield server


def test_download_reports_progress_verifies_and_the_model_loads(hub, tmp_path):
    progress: list[DownloadProgress] = []
    path = download(ENTRY, tmp_path, progress.append, endpoint=hub.url)
    assert path == tmp_path / ENTRY.id
    for name, data in hub.repos[REPO].files.items():
        assert (path / name).read_bytes() == data
    assert not list(path.glob("*.part*"))
    total = sum(len(d) for d in hub.repos[REPO].files.values())
    assert progress[-1].done_bytes == progress[-1].total_bytes == total
    assert [p.done_bytes for p in progress] == sorted(p.done_bytes for p in progress)
    assert len([p for p in progress if p.filename == "model.safetensors"]) > 10  # many pieces, not one jump
    assert all(p.rate_bytes_per_s >= 0 for p in progress) and progress[-1].eta_s == 0
    (found,) = [m for m in find_models(folders=[str(tmp_path)], catalog=(ENTRY,)) if m.path == str(path)]
    assert (found.catalog_id, found.problem) == (ENTRY.id, None)
    with Engine() as eng:
        eng.load(lambda: backend_for(str(path), device="cpu")).result()
        assert eng.edit(EditRequest("downloaded model", 0, 10, seed=0)).ok


def test_an_interrupted_transfer_resumes_with_a_range_request(hub, tmp_path):
    hub.drop_after["model.safetensors"] = 300_000  # the server hangs up after 300 kB
    path = download(ENTRY, tmp_path, endpoint=hub.url)
    assert (path / "model.safetensors").read_bytes() == hub.repos[REPO].files["model.safetensors"]
    first, second = hub.ranges("model.safetensors")
    # It resumes from the last whole piece it wrote, not from zero.
    assert first is None and 0 < int(second.removeprefix("bytes=").rstrip("-")) <= 300_000


def test_cancel_keeps_the_partial_file_and_the_next_download_resumes_it(hub, tmp_path):
    cancel = threading.Event()

    def on_progress(p: DownloadProgress) -> None:
        if p.filename == "model.safetensors" and p.done_bytes > 1_000_000:
            cancel.set()

    with pytest.raises(DownloadCancelled, match="cancelled"):
        download(ENTRY, tmp_path, on_progress, cancel, endpoint=hub.url)
    part = tmp_path / ENTRY.id / "model.safetensors.part"
    kept = part.stat().st_size
    assert 500_000 < kept < len(hub.repos[REPO].files["model.safetensors"])
    # The half-downloaded model is found, and said to be partial, not offered as usable.
    (found,) = [m for m in find_models(folders=[str(tmp_path)], catalog=(ENTRY,)) if m.catalog_id == ENTRY.id]
    assert "partial download" in found.problem
    progress: list[DownloadProgress] = []
    download(ENTRY, tmp_path, progress.append, endpoint=hub.url)
    assert hub.ranges("model.safetensors")[-1] == f"bytes={kept}-"
    assert (tmp_path / ENTRY.id / "model.safetensors").read_bytes() == hub.repos[REPO].files["model.safetensors"]
    assert not part.exists()


def test_a_wrong_checksum_deletes_the_file(hub, tmp_path):
    hub.repos[REPO].wrong_sha256.add("model.safetensors")
    with pytest.raises(DownloadError, match="sha256 check"):
        download(ENTRY, tmp_path, endpoint=hub.url)
    assert not (tmp_path / ENTRY.id / "model.safetensors").exists()
    assert not (tmp_path / ENTRY.id / "model.safetensors.part").exists()


def test_a_gated_repository_needs_a_token(hub, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored token either
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))
    hub.repos[REPO].token = "hf_secret"
    with pytest.raises(DownloadError, match="gated.*token"):
        download(ENTRY, tmp_path, endpoint=hub.url)
    assert download(ENTRY, tmp_path, token="hf_secret", endpoint=hub.url).is_dir()


def test_not_enough_disk_is_refused_before_any_transfer(hub, tmp_path):
    hub.repos[REPO].claimed_size["model.safetensors"] = 10**18  # an exabyte
    with pytest.raises(DownloadError, match="not enough disk space"):
        download(ENTRY, tmp_path, endpoint=hub.url)
    assert hub.ranges("model.safetensors") == []


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MB filesystem (tmpfs), where the machine lets the tests mount one."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_no_space_left_during_the_transfer_cleans_up(hub, small_disk):
    filler = small_disk / "someone-else.bin"

    def fill_the_disk(p: DownloadProgress) -> None:  # another program takes the space mid-download
        if p.filename == "model.safetensors" and not filler.exists():
            with filler.open("wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"x" * 65536)
                    f.flush()

    with pytest.raises(DownloadError, match="no space left"):
        download(ENTRY, small_disk, fill_the_disk, endpoint=hub.url)
    assert not (small_disk / ENTRY.id / "model.safetensors.part").exists()
    assert not (small_disk / ENTRY.id / "model.safetensors").exists()


def test_unknown_repository_and_paths_out_of_the_folder_are_refused(hub, tmp_path):
    with pytest.raises(DownloadError, match="not known"):
        download(replace(ENTRY, repo=None), tmp_path, endpoint=hub.url)
    with pytest.raises(DownloadError, match="cannot reach the Hub"):
        download(ENTRY, tmp_path, endpoint="http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(DownloadError, match="comes with Redraft"):
        download(replace(ENTRY, id="bundled", repo=None), tmp_path, endpoint=hub.url)
    with pytest.raises(DownloadError, match="not found"):
        download(replace(ENTRY, repo="test-org/missing"), tmp_path, endpoint=hub.url)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / ENTRY.id).symlink_to(outside)
    with pytest.raises(DownloadError, match="outside the models folder"):
        model_folder(ENTRY, tmp_path / "models")
    victim = outside / "precious.txt"
    victim.write_text("keep me", encoding="utf-8")
    (tmp_path / "linked" / ENTRY.id).mkdir(parents=True)
    (tmp_path / "linked" / ENTRY.id / "model.safetensors.part").symlink_to(victim)
    with pytest.raises(DownloadError, match="outside the models folder"):
        download(ENTRY, tmp_path / "linked", endpoint=hub.url)
    assert victim.read_text(encoding="utf-8") == "keep me"
    hub.repos[REPO].files["../escape.json"] = b"{}"
    with pytest.raises(DownloadError, match="inside the model's folder"):
        download(ENTRY, tmp_path / "fresh", endpoint=hub.url)


def test_cli_downloads_a_catalog_model_and_then_lists_it_on_disk(hub, tmp_path):
    """`redraft-cli download ID` in a fresh process: HF_ENDPOINT is read when huggingface_hub is imported."""
    hub.repos["google/diffusiongemma-26B-A4B-it"] = hub.repos.pop(REPO)  # the real catalog entry's repository
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_OFFLINE": "0",
        "REDRAFT_MODELS_DIR": str(tmp_path / "models"),
        "HF_HUB_CACHE": str(tmp_path / "empty-cache"),
    }
    env.pop("REDRAFT_MODEL", None)
    cli = [sys.executable, "-m", "engine.cli"]
    done = subprocess.run([*cli, "download", "diffusiongemma-26b-a4b-it"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "models" / "diffusiongemma-26b-a4b-it"
    assert done.stdout.strip() == str(folder)
    assert "100.0%" in done.stderr and "MB/s" in done.stderr
    listed = subprocess.run([*cli, "models", "--json"], capture_output=True, text=True, env=env, timeout=120)
    report = json.loads(listed.stdout)
    (found,) = [m for m in report["found"] if m["source"] == "models-folder"]
    assert (found["catalog_id"], found["problem"], found["spec"]) == ("diffusiongemma-26b-a4b-it", None, str(folder))
    assert found["fit_message"].startswith(("fits", "does not fit"))
    entry = next(e for e in report["catalog"] if e["id"] == "diffusiongemma-26b-a4b-it")
    assert entry["on_disk"] and entry["fit"] in ("fits", "cpu-only", "no")
    missing = subprocess.run([*cli, "download", "no-such-model"], capture_output=True, text=True, env=env, timeout=120)
    assert (missing.returncode, missing.stderr.strip()) == (
        2, "redraft-cli: no catalog model 'no-such-model'; `redraft-cli models` lists them"
    )
