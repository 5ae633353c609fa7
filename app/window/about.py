"""Help > About: the version, the model active now and its backend, and the licence of the bundled model."""

from __future__ import annotations

import html
from importlib import metadata

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from engine import ModelInfo

# The model shipped as a Python package (engine/models/bundled.py), with the terms it comes under.
BUNDLED_LICENCES = (("SmolLM2-135M-Instruct", "Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0"),)


def version() -> str:
    try:
        return metadata.version("redraft")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def about_text(info: ModelInfo | None) -> str:
    """The About box's text (HTML)."""
    if info is None:
        model = "none loaded"
    else:
        model = f"{html.escape(info.id)} ({html.escape(info.backend)}, {html.escape(info.device)})"
    licences = "".join(
        f'<li>{name}: <a href="{url}">{terms}</a></li>' for name, terms, url in BUNDLED_LICENCES
    )
    return (
        f"<h3>Redraft {html.escape(version())}</h3>"
        "<p>A local editor that rewrites a selected span in place with language models.</p>"
        f"<p>Active model: {model}</p>"
        f"<p>Bundled model:</p><ul>{licences}</ul>"
    )


def about_box(info: ModelInfo | None, parent: QWidget) -> QMessageBox:
    """The About box, not yet shown (non-modal: `show()` it)."""
    box = QMessageBox(QMessageBox.Icon.NoIcon, "About Redraft", about_text(info), QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.RichText)
    return box
