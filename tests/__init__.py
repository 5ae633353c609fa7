"""Redraft's tests; the tree mirrors engine/ and app/."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository
