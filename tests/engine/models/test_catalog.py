"""The catalog file as shipped, and its refusals: every entry well formed, nothing that escapes a folder."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests import ROOT

import pytest

from engine.models.catalog import CATALOG_PATH, CatalogError, check_relative, entry_by_id, load_catalog


def test_the_shipped_catalog_loads_with_every_model_the_issue_lists():
    catalog = load_catalog()
    ids = {e.id for e in catalog}
    assert {
        "diffusiongemma-26b-a4b-it",
        "diffusiongemma-26b-a4b-it-q4_k_m-gguf",
        "diffusiongemma-26b-a4b-it-q8_0-gguf",
        "llada-moe-7b-a1b-gguf",
        "dream-7b-gguf",
        "gemma-4-26b-a4b-it-gguf",
        "qwen3-4b-instruct-2507-gguf",
        "gemma-3-1b-it-gguf",
        "bundled",
    } <= ids
    dg = entry_by_id("diffusiongemma-26b-a4b-it", catalog)
    assert dg.memory_gb == {"bf16": 50.0, "int4": 31.0, "fp32": 100.0} and dg.canvas_length == 256 and dg.wants("model-00001-of-00002.safetensors")
    assert not dg.wants("pytorch_model.bin")  # pickle files are never fetched
    assert dg.repo == "google/diffusiongemma-26B-A4B-it" and dg.active_params_b == 3.8
    # An instruction-tuned autoregressive GGUF of 1-4B that a CPU runs, with the page's exact file name and size.
    small = entry_by_id("gemma-3-1b-it-gguf", catalog)
    assert (small.repo, small.files, small.size_gb, small.confirmed) == (
        "unsloth/gemma-3-1b-it-GGUF", ("gemma-3-1b-it-Q4_K_M.gguf",), 0.806, True
    )
    assert small.cpu_ok and 1 <= small.active_params_b <= 4 and small.source.startswith("https://huggingface.co/unsloth/")
    # A masked-diffusion GGUF this llama.cpp runs (it knows llada-moe), and the DiffusionGemma GGUF it cannot yet.
    llada = entry_by_id("llada-moe-7b-a1b-gguf", catalog)
    assert llada.architecture == "llada-moe" and llada.repo and llada.unavailable is None and llada.cpu_ok
    assert "diffusion-gemma" in entry_by_id("diffusiongemma-26b-a4b-it-q4_k_m-gguf", catalog).unavailable
    for entry in catalog:
        assert entry.good_for and entry.license and entry.memory_gb and entry.active_params_b and entry.quality
        # Only the bundled model has no repository; every repository cites its page; a guess says where it came from.
        assert entry.repo is not None or entry.id == "bundled"
        assert entry.repo is None or entry.source.startswith("https://huggingface.co/")
        assert entry.confirmed or len(entry.unverified_why) > 20
    assert max(catalog, key=lambda e: e.quality).id == "diffusiongemma-26b-a4b-it"


def write(tmp_path, models):
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": models}), encoding="utf-8")
    return path


GOOD = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))["models"][0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"files": ["../../etc/passwd"]}, "must stay inside the model's folder"),
        ({"files": ["/abs/model.gguf"]}, "must stay inside the model's folder"),
        ({"id": "../outside"}, "must stay inside the model's folder"),
        ({"backend": "pickle"}, "backend 'pickle' is not one of"),
        ({"memory_gb": {"bf16": -1}}, "must be a positive number"),
        ({"repo": "no-slash"}, "repo must be 'owner/name' or null"),
        ({"unverified": ["sha256"]}, "names fields it does not have: sha256"),
        ({"good_for": ""}, "'good_for' must be a non-empty str"),
        ({"source": None}, "must cite its page in 'source'"),
        ({"source": "http://example.com"}, "must cite its page in 'source'"),
        ({"unverified_why": ""}, "'unverified_why' must say where"),
        ({"active_params_b": None}, "'active_params_b' must be a non-empty number"),
        ({"quality": True}, "'quality' must be a non-empty int"),
        ({"unavailable": ""}, "unavailable must be a non-empty reason or null"),
        ({"steps": 0}, "steps must be a positive integer or null"),
    ],
)
def test_malformed_entries_are_refused_with_the_entry_and_the_field(tmp_path, change, message):
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_catalog(write(tmp_path, [{**GOOD, **change}]))


def test_duplicates_and_unreadable_files_are_refused(tmp_path):
    with pytest.raises(CatalogError, match="duplicate model ids"):
        load_catalog(write(tmp_path, [GOOD, GOOD]))
    (tmp_path / "models.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogError, match="cannot read the model catalog"):
        load_catalog(tmp_path / "models.json")


def test_relative_names():
    assert check_relative("sub/model.safetensors") == "sub/model.safetensors"
    for bad in ("", "..", "a/../../b", "C:\\x", "~/x"):
        with pytest.raises(CatalogError):
            check_relative(bad)


# -- discovery: what is on disk, matched to the catalog and checked without loading weights ---------------------


def test_found_models_are_matched_and_checked(tmp_path, checkpoint, monkeypatch):
    import shutil

    from engine.models.discovery import find_models
    from tests.llada_gguf import write_llada_gguf

    monkeypatch.delenv("REDRAFT_MODEL", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    models = tmp_path / "models"
    (models / "llada-moe-7b-a1b-gguf").mkdir(parents=True)
    moe = write_llada_gguf(models / "llada-moe-7b-a1b-gguf" / "LLaDA-MoE-7B-A1B-Instruct-Q4_K_M.gguf", architecture="llada-moe")
    dream = write_llada_gguf(models / "Dream-org_Dream-v0-Instruct-7B-Q4_K_M.gguf", architecture="dream")
    shutil.copytree(checkpoint, models / "diffusiongemma-26b-a4b-it")
    llama = models / "diffusiongemma-26b-a4b-it" / "config.json"
    llama.write_text(llama.read_text().replace('"diffusion_gemma"', '"llama"'), encoding="utf-8")
    truncated = models / "cut.gguf"
    truncated.write_bytes(dream.read_bytes()[:5000])
    outside = tmp_path / "outside"
    shutil.copytree(checkpoint, outside / "model")
    (models / "escape").symlink_to(outside / "model")
    loose = write_llada_gguf(tmp_path / "loose.gguf")

    found = {m.path: m for m in find_models(folders=[str(models), str(loose)])}
    assert (found[str(moe)].catalog_id, found[str(moe)].family, found[str(moe)].problem) == (
        "llada-moe-7b-a1b-gguf", "llada-moe", None
    )
    assert (found[str(dream)].catalog_id, found[str(dream)].problem) == ("dream-7b-gguf", None)
    other = found[str(models / "diffusiongemma-26b-a4b-it")]
    assert other.catalog_id == "diffusiongemma-26b-a4b-it" and "'llama'" in other.problem
    assert "truncated or not a GGUF file" in found[str(truncated)].problem
    assert found[str(models / "escape")].problem.startswith("refused:")
    assert (found[str(loose)].source, found[str(loose)].family, found[str(loose)].catalog_id) == ("folder", "llada", None)
    assert found[str(loose)].spec == str(loose)
    bundled = [m for m in found.values() if m.source == "bundled"]
    assert [m.spec for m in bundled] == ["bundled"]


def test_an_interrupted_hugging_face_download_is_reported(tmp_path, checkpoint, monkeypatch):
    from engine.models.discovery import find_models
    from tests.engine.models.test_hf_cache import put_in_cache

    monkeypatch.delenv("REDRAFT_MODEL", raising=False)
    cache = tmp_path / "hub"
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    put_in_cache(cache, checkpoint)  # a complete one: listed, no problem
    # What a killed `hf download` leaves: refs and blobs/<etag>.<id>.incomplete, no snapshot files yet.
    killed = cache / "models--google--diffusiongemma-26B-A4B-it"
    (killed / "blobs").mkdir(parents=True)
    (killed / "refs").mkdir()
    (killed / "refs" / "main").write_text("1" * 40)
    (killed / "blobs" / ("a" * 64 + ".1234abcd.incomplete")).write_bytes(b"\0" * 3_000_000)
    found = {m.id: m for m in find_models() if m.source == "hf-cache"}
    assert found["google/tiny-diffusion-gemma"].problem is None
    assert found["google/diffusiongemma-26B-A4B-it"].problem == (
        "unfinished Hugging Face download (3 MB in 1 file(s)); run the download again to finish it"
    )


def test_a_wheel_installed_without_the_source_tree_finds_the_catalog(tmp_path):
    """`pip install .` (not -e): the catalog travels as a data file and engine/models/catalog.py finds it there."""
    root = ROOT
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    for name in ("engine", "app", "resources"):
        shutil.copytree(root / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path, source], check=True)
    shutil.rmtree(source)  # nothing of the tree is left to find
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    python = env / "bin" / "python"
    (wheel,) = tmp_path.glob("redraft-*.whl")
    # Without PYTHONPATH: a checkout on it (its redraft.egg-info) reads as "redraft is already installed".
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], check=True, env=clean)
    # `engine/__init__.py` imports the engine's dependencies: the new environment sees this one's after its own
    # site-packages (a .pth line is appended to sys.path, so the wheel's `engine` still wins).
    (site,) = env.glob("lib/python*/site-packages")
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    shown = subprocess.run(
        [python, "-c", "from engine.models.catalog import CATALOG_PATH, load_catalog; print(CATALOG_PATH, len(load_catalog()))"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
        env=clean,  # a checkout on the path would win
    ).stdout.split()  # fmt: skip
    assert shown == [str(env / "share" / "redraft" / "models.json"), str(len(load_catalog()))]
