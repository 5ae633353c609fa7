"""The model manager in the real window (offscreen): the status bar's model button opens it, found models are
listed with their problems, "Use this model" loads through the engine and is remembered, downloads from a real
local Hub server show progress and can be cancelled. Scans and downloads run off the GUI thread."""

import json
import shutil
import threading

import pytest
from PySide6.QtCore import QSettings, Qt

from app.window.main_window import create_main_window
from app.storage.settings import Settings
from engine import BUNDLED_NAME, MODEL_ENV
from engine.models.speed import CACHE_NAME, machine_key
from tests.hub_server import ENTRY, REPO, HubServer, Repo
from tests.app import close_window


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, checkpoint):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.delenv("REDRAFT_MODELS_DIR", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    # This machine's throughput as the probe would have cached it: rates chosen so the verdicts do not depend on
    # how busy the test machine is (a 2-core laptop's: 30 GB/s copies, 60 GFLOPS).
    speed = tmp_path / "speed"
    speed.mkdir()
    rates = {"bandwidth_gbps": 30.0, "matmul_gflops": 60.0, "cpu": "test", "cores": 2, "probe_s": 0.3}
    (speed / CACHE_NAME).write_text(json.dumps({machine_key(): rates}), encoding="utf-8")
    monkeypatch.setattr("app.window.model_manager.ModelManager.speed_cache", str(speed))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    Settings(model=str(checkpoint), device="cpu").save(settings)  # start on the tiny model, not the bundled one
    settings.setValue("models/dir", str(tmp_path / "models"))
    win = create_main_window([], settings=settings, journal_dir=str(tmp_path / "journal"))
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.bridge.model_info is not None, timeout=60_000)
    yield win
    close_window(qtbot, win)


def open_manager(qtbot, window):
    """Click the status bar's model button; the first scan ends on its own thread."""
    qtbot.mouseClick(window.model_label, Qt.MouseButton.LeftButton)
    manager = window.model_manager
    assert manager is not None and manager.isVisible()
    qtbot.waitUntil(lambda: manager.survey is not None and not manager._scanning, timeout=30_000)
    return manager


def rows(table):
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_a_found_model_is_made_active_and_remembered(qtbot, window, tmp_path, checkpoint):
    folder = tmp_path / "my-models"
    shutil.copytree(checkpoint, folder / "second-model")
    shutil.copytree(checkpoint, folder / "wrong-arch")
    config = folder / "wrong-arch" / "config.json"
    config.write_text(config.read_text().replace('"diffusion_gemma"', '"llama"'), encoding="utf-8")
    manager = open_manager(qtbot, window)
    assert "RAM" in manager.hardware_label.text()
    assert len(rows(manager.catalog_table)) >= 9  # the shipped catalog, each with a verdict
    assert all(r[5].startswith(("fits", "does not fit")) for r in rows(manager.catalog_table))
    bundled = next(r for r in rows(manager.catalog_table) if r[0].startswith(BUNDLED_NAME))
    assert bundled[1] == "on disk" and bundled[5].startswith("fits")

    with qtbot.waitSignal(manager.scanned, timeout=30_000):
        manager.add_folder(str(folder))
    paths = [r[4] for r in rows(manager.found_table)]
    wrong = paths.index(str(folder / "wrong-arch"))
    assert "'llama'" in rows(manager.found_table)[wrong][3]
    manager.found_table.selectRow(wrong)
    assert not manager.use_button.isEnabled()  # a model with a problem cannot be made active

    manager.found_table.selectRow(paths.index(str(folder / "second-model")))
    assert manager.use_button.isEnabled()
    with qtbot.waitSignal(window.modelLoaded, timeout=60_000) as loaded:
        qtbot.mouseClick(manager.use_button, Qt.MouseButton.LeftButton)
    assert loaded.args[0].id == str(folder / "second-model")
    assert window.model_label.text() == f"Model: {folder / 'second-model'}"
    assert Settings.load(window.settings).model == str(folder / "second-model")
    assert manager.folders() == [str(folder)]


@pytest.fixture
def hub(checkpoint, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    with HubServer() as server:
        server.repos[REPO] = Repo(files={p.name: p.read_bytes() for p in checkpoint.iterdir() if p.is_file()})
        yield server


def test_download_shows_progress_then_the_model_is_found(qtbot, window, hub, tmp_path):
    manager = open_manager(qtbot, window)
    seen: list[str] = []
    manager.downloadProgress.connect(lambda p: seen.append(manager.progress_label.text()))
    with qtbot.waitSignal(manager.downloadFinished, timeout=60_000) as done:
        manager.start_download(ENTRY, endpoint=hub.url)
        assert manager.downloading and manager.cancel_button.isEnabled() and manager.progress.isVisible()
    assert done.args == [ENTRY.id]
    assert any("MB/s" in text for text in seen)
    assert manager.message.text() == f"Downloaded {ENTRY.id}" and not manager.progress.isVisible()
    qtbot.waitUntil(lambda: not manager._scanning, timeout=30_000)
    assert str(tmp_path / "models" / ENTRY.id) in [r[4] for r in rows(manager.found_table)]


def test_cancel_stops_the_download_and_keeps_the_partial_file(qtbot, window, hub, tmp_path):
    release = threading.Event()
    hub.hold["model.safetensors"] = (300_000, release)  # the server pauses mid-file until the user has cancelled
    manager = open_manager(qtbot, window)
    with qtbot.waitSignal(manager.downloadFinished, timeout=60_000) as done:
        manager.start_download(ENTRY, endpoint=hub.url)
        qtbot.waitUntil(lambda: "model.safetensors" in manager.progress_label.text(), timeout=30_000)
        qtbot.mouseClick(manager.cancel_button, Qt.MouseButton.LeftButton)
        release.set()
    assert done.args == [""] and "cancelled" in manager.message.text()
    assert (tmp_path / "models" / ENTRY.id / "model.safetensors.part").is_file()
    assert not (tmp_path / "models" / ENTRY.id / "model.safetensors").exists()
    qtbot.waitUntil(lambda: not manager._scanning, timeout=30_000)
    partial = [r for r in rows(manager.found_table) if r[4] == str(tmp_path / "models" / ENTRY.id)]
    assert partial and "partial download" in partial[0][3]


def test_a_gated_download_without_a_token_says_so(qtbot, window, hub):
    hub.repos[REPO].token = "hf_secret"
    manager = open_manager(qtbot, window)
    with qtbot.waitSignal(manager.downloadFinished, timeout=60_000):
        manager.start_download(ENTRY, endpoint=hub.url)
    assert "gated" in manager.message.text()
    manager.token_edit.setText("hf_secret")
    with qtbot.waitSignal(manager.downloadFinished, timeout=60_000) as done:
        manager.start_download(ENTRY, endpoint=hub.url)
    assert done.args == [ENTRY.id]


def test_each_row_has_a_speed_estimate_one_is_recommended_and_blocked_downloads_say_why(qtbot, window):
    manager = open_manager(qtbot, window)
    if manager.survey.hardware.gpus:
        pytest.skip("the verdicts below are those of a machine without a GPU")
    table = {r[0]: r for r in rows(manager.catalog_table)}
    # Every model that fits and runs here says how long a 64-token rewrite takes; the others say nothing.
    small = table["Gemma 3 1B it (GGUF Q4_K_M)  ★ Recommended"]
    assert small[1] == "can download" and small[4].startswith("about ") and small[4].endswith("for a 64-token rewrite")
    assert table["Qwen3 4B Instruct 2507 (GGUF Q4_K_M)"][4].startswith("about ")
    assert table["DiffusionGemma 26B-A4B-it"][4] == "—"
    # One mark, on the best model that fits and edits in a few seconds (the 4B models take longer here).
    assert [name for name in table if name.endswith("★ Recommended")] == ["Gemma 3 1B it (GGUF Q4_K_M)  ★ Recommended"]
    assert manager.recommended.id == "gemma-3-1b-it-gguf"
    assert "Gemma 3 1B it" in manager.recommend_label.text() and "64-token rewrite" in manager.recommend_label.text()

    # Rows Download cannot help: the reason in the row, the button disabled with the reason as its tooltip.
    names = [r[0] for r in rows(manager.catalog_table)]
    for name, short in [
        ("DiffusionGemma 26B-A4B-it", "cannot download: needs a GPU"),
        ("DiffusionGemma 26B-A4B-it (GGUF Q4_K_M)", "cannot download: cannot run here"),
    ]:
        assert table[name][1] == short
        manager.catalog_table.selectRow(names.index(name))
        assert not manager.download_button.isEnabled()
        assert manager.download_button.toolTip().startswith(f"Cannot download {name}: {short.removeprefix('cannot download: ')}")
    gguf = manager.catalog_table.item(names.index("DiffusionGemma 26B-A4B-it (GGUF Q4_K_M)"), 0).data(Qt.ItemDataRole.UserRole)
    manager.start_download(gguf)  # called directly, it refuses with the same reason
    assert not manager.downloading and "PR #24423" in manager.message.text()
    manager.catalog_table.selectRow(names.index("Gemma 3 1B it (GGUF Q4_K_M)  ★ Recommended"))
    assert manager.download_button.isEnabled() and manager.download_button.toolTip() == "Download Gemma 3 1B it (GGUF Q4_K_M)"
