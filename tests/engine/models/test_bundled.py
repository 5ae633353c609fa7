"""The bundled model's file: found through its package's metadata, checked against its recorded sha256, and
a missing or damaged file is one line that says to reinstall, before llama.cpp ever sees it."""

from __future__ import annotations

import sys

import pytest

from engine import Engine, EngineError, backend_for
from engine.models.bundled import BUNDLED, FILE, bundled_file_path, bundled_model_path
from engine.types import ModelLoadError
from tests.bundled_package import fake_bundled_package


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    return tmp_path


def test_the_installed_file_is_found_and_matches_its_record():
    path = bundled_model_path()
    assert path == bundled_file_path() and path.name == FILE and path.stat().st_size > 90_000_000


@pytest.mark.parametrize("data, word", [(None, "missing"), (b"GGUF" + b"\0" * 64, "damaged")])
def test_a_missing_or_damaged_file_is_one_line_and_the_engine_stays_up(stand_in, data, word):
    path = fake_bundled_package(stand_in, data)
    assert bundled_file_path() == path
    with pytest.raises(ModelLoadError) as info:
        bundled_model_path()
    message = str(info.value)
    assert "\n" not in message and word in message and "reinstall" in message
    engine = Engine()
    try:
        with pytest.raises(EngineError, match=word):
            engine.load(lambda: backend_for(BUNDLED)).result(timeout=60)
    finally:
        engine.close()


def test_a_file_damaged_at_the_same_size_is_caught_by_its_checksum(stand_in):
    real = bundled_model_path()
    size = real.stat().st_size
    with real.open("rb") as f:
        head = f.read(1 << 20)
    fake_bundled_package(stand_in, head + b"\0" * (size - len(head)))  # right size, wrong bytes
    with pytest.raises(ModelLoadError, match="damaged"):
        bundled_model_path()
