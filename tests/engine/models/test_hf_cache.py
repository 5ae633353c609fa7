"""A hub id already in the local Hugging Face cache loads with no network; `models` finds it there."""

import json
import shutil

from engine import EditRequest, Engine, MODEL_ENV, backend_for
from engine.cli import main


def put_in_cache(cache, checkpoint, repo_id="google/tiny-diffusion-gemma", revision="0" * 40):
    """The cache layout huggingface_hub writes: models--org--name/{refs/main, snapshots/REV/...}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(checkpoint, repo / "snapshots" / revision)
    return repo_id


def test_cached_hub_id_loads_and_is_listed(tmp_path, checkpoint, monkeypatch, capsys):
    cache = tmp_path / "hub"
    # huggingface_hub reads HF_HUB_CACHE once, at import: point its constant at the test's cache.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.delenv(MODEL_ENV, raising=False)
    repo_id = put_in_cache(cache, checkpoint)
    with Engine() as eng:
        info = eng.load(lambda: backend_for(repo_id, device="cpu")).result()
        assert info.id == repo_id and info.family == "diffusion_gemma"
        assert eng.edit(EditRequest("from the cache", 5, 14, seed=0)).ok
    assert main(["models", "--json"]) == 0
    (found,) = [m for m in json.loads(capsys.readouterr().out)["found"] if m["source"] == "hf-cache"]
    assert (found["id"], found["family"], found["source"]) == (repo_id, "diffusion_gemma", "hf-cache")
