"""Whether a new model fits beside the active one (engine/models/room.py)."""

from engine import ModelInfo, must_unload_first
from engine.models import room

ACTIVE = ModelInfo(id="active", family="gemma", backend="llama_cpp", device="cpu", dtype="q4")


def test_a_model_bigger_than_the_free_memory_replaces_the_active_one(tmp_path, monkeypatch):
    weights = tmp_path / "big.gguf"
    weights.write_bytes(b"\0" * 10_000_000)
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / "model-00001.safetensors").write_bytes(b"\0" * 6_000_000)
    (folder / "model-00002.safetensors").write_bytes(b"\0" * 6_000_000)
    monkeypatch.setattr(room, "free_bytes", lambda device: 11_000_000)  # this machine, as the test sets it
    assert room.weights_bytes(str(weights)) == 10_000_000 and room.weights_bytes(str(folder)) == 12_000_000
    assert must_unload_first(str(weights), None, ACTIVE)  # 10 MB x 1.2 margin > 11 MB free
    assert must_unload_first(str(folder), "cpu", ACTIVE)
    monkeypatch.setattr(room, "free_bytes", lambda device: 100_000_000)
    assert not must_unload_first(str(weights), None, ACTIVE)


def test_nothing_is_unloaded_when_the_size_is_unknown_or_nothing_is_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(room, "free_bytes", lambda device: 0)
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"\0" * 1000)
    assert not must_unload_first(str(weights), None, None)  # nothing active
    assert not must_unload_first("http://127.0.0.1:1/v1", None, ACTIVE)  # a server holds its own memory
    assert not must_unload_first("google/not-in-the-cache", None, ACTIVE)  # unknown here: the load decides
    assert not must_unload_first(str(tmp_path / "missing.gguf"), None, ACTIVE)


def test_free_memory_is_read_from_this_machine():
    assert room.free_bytes("cpu") > 0
