"""Models that must not load: each gets a one-line message, and the engine stays usable."""

import json
import re
import shutil

import pytest
from safetensors.torch import load_file, save_file

from engine import EditRequest, Engine, EngineError, backend_for


def load_error(spec) -> str:
    with Engine() as eng:
        with pytest.raises(EngineError) as info:
            eng.load(lambda: backend_for(str(spec), device="cpu")).result()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def copy(checkpoint, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(checkpoint, folder)
    return folder


def test_missing_folder(tmp_path):
    assert load_error(tmp_path / "absent") == f"model not found: {tmp_path / 'absent'} does not exist"


def test_hub_id_not_in_cache_is_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    message = load_error("google/diffusiongemma-26B-A4B-it")
    assert "not in the local Hugging Face cache" in message and "never downloads" in message


def test_pickle_weights_are_refused(copy):
    weights = load_file(copy / "model.safetensors")
    (copy / "model.safetensors").unlink()
    (copy / "pytorch_model.bin").write_bytes(b"\x80\x04pickle that must never be unpickled")
    assert weights  # the folder is otherwise a complete checkpoint
    message = load_error(copy)
    assert message.startswith("refusing to load pytorch_model.bin: Redraft loads only safetensors")


def test_truncated_safetensors(copy):
    path = copy / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert load_error(copy) == (
        f"model.safetensors is truncated: {len(data) // 2:,} bytes on disk, {len(data):,} expected (re-download it)"
    )


def test_garbage_safetensors(copy):
    (copy / "model.safetensors").write_bytes(b"not a safetensors file at all")
    assert load_error(copy).startswith("model.safetensors is not a valid safetensors file")


def test_config_of_another_architecture(copy):
    config = json.loads((copy / "config.json").read_text())
    config.update(model_type="llama", architectures=["LlamaForCausalLM"])
    (copy / "config.json").write_text(json.dumps(config))
    assert load_error(copy) == (
        "model is a 'llama' checkpoint (LlamaForCausalLM); this backend runs 'diffusion_gemma' models"
    )


def test_missing_weights_are_refused_not_randomly_initialised(copy):
    weights = load_file(copy / "model.safetensors")
    dropped = sorted(k for k in weights if "decoder" in k)[0]
    save_file({k: v for k, v in weights.items() if k != dropped}, copy / "model.safetensors", {"format": "pt"})
    assert re.search(r"^model is incomplete: \d+ weights missing \(first: .*\); refusing to run", load_error(copy))


def test_out_of_memory_while_loading_is_reported_and_engine_stays_usable(copy, checkpoint):
    # A real allocation failure: the config asks for a vision tower of 2**20 x 2**20 weights (~4 TB) that the
    # checkpoint does not hold, so loading must allocate it.
    weights = load_file(copy / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "vision" not in k}, copy / "model.safetensors", {"format": "pt"})
    config = json.loads((copy / "config.json").read_text())
    config["vision_config"].update(hidden_size=1 << 20, intermediate_size=1 << 20)
    (copy / "config.json").write_text(json.dumps(config))
    with Engine() as eng:
        with pytest.raises(EngineError, match=r"^out of memory loading model on cpu .*can't allocate memory"):
            eng.load(lambda: backend_for(str(copy), device="cpu")).result()
        eng.load(lambda: backend_for(str(checkpoint), device="cpu")).result()
        assert eng.edit(EditRequest("still works", 0, 5, seed=0)).ok


def test_a_file_named_gguf_that_is_not_one(tmp_path):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    assert load_error(gguf).startswith("model.gguf is truncated or not a GGUF file")
