import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HF_HUB_OFFLINE"] = "1"  # nothing is downloaded at test time

import hypothesis  # noqa: F401 - see below
import pytest

# CPython 3.11's AST constructor keeps its recursion counter per interpreter, not per thread: pytest parsing a
# module for assertion rewriting while an engine thread compiles a chat template (jinja2 compiles Python
# source) failed with "SystemError: AST constructor recursion depth mismatch". The one module pytest parsed
# late, at the session's end, was hypothesis (its plugin imports it lazily): importing it here parses it
# before any engine thread exists.

from engine import Engine, backend_for
from tests.tiny_models import save_checkpoint


@pytest.fixture(autouse=True)
def _private_qsettings(tmp_path_factory):
    """Every QSettings a test creates lives in a fresh temporary folder, never in the user's settings."""
    from PySide6.QtCore import QSettings

    folder = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, folder)
        QSettings.setPath(fmt, QSettings.Scope.SystemScope, folder)
    yield folder


@pytest.fixture(autouse=True)
def _private_journal(tmp_path_factory, monkeypatch):
    """Every window's recovery journal lives in a fresh temporary folder, never in the user's state dir."""
    monkeypatch.setenv("REDRAFT_JOURNAL_DIR", str(tmp_path_factory.mktemp("journal")))


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A tiny random-weight DiffusionGemma on disk: canvas 32, 8 denoising steps."""
    return save_checkpoint(tmp_path_factory.mktemp("models") / "tiny-diffusion-gemma")


@pytest.fixture
def engine(checkpoint):
    with Engine() as eng:
        eng.load(lambda: backend_for(str(checkpoint), device="cpu")).result()
        yield eng


@pytest.fixture(autouse=True)
def _gui_loop_only_while_a_test_runs(request):
    """The GUI's asyncio loop (app/event_loop.py) marks itself running on the main thread, as qasync does
    under an event loop it did not start. Between tests it is unmarked, so a test that runs a backend's own
    private event loop on the main thread (the remote backend's) is not refused by a GUI test before it; a
    GUI test (one using qtbot) gets it marked again."""
    import asyncio
    import sys

    event_loop = sys.modules.get("app.event_loop")
    loop = getattr(event_loop, "_loop", None)
    if "qtbot" in request.fixturenames and loop is not None and not loop.is_closed():
        asyncio.events._set_running_loop(loop)
    yield
    asyncio.events._set_running_loop(None)
