"""The first-start notice in the real window (offscreen): on a first start with the bundled model it names the
model and its measured rates in a bar (not a dialog), "Choose a model…" opens the model manager, and once closed
it never comes back; the model button's tooltip says the same thing."""

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from app.storage.settings import Settings
from app.window.first_start_notice import DISMISSED_KEY, FirstStartNotice
from app.window.main_window import create_main_window
from engine import BUNDLED_NAME, MODEL_ENV, bundled_summary
from tests.app import close_window


def settings_at(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def open_window(qtbot, tmp_path, settings):
    window = create_main_window([], settings=settings, journal_dir=str(tmp_path / "journal"))
    qtbot.addWidget(window)
    window.show()
    return window


def test_a_first_start_names_the_bundled_model_offers_a_choice_and_stays_closed(qtbot, tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("app.window.model_manager.ModelManager.speed_cache", str(tmp_path / "speed"))
    settings = settings_at(tmp_path)
    settings.setValue("models/dir", str(tmp_path / "models"))
    window = open_window(qtbot, tmp_path, settings)
    notice = window.first_start_notice
    assert isinstance(notice, FirstStartNotice) and notice.isVisible()
    assert window.toolBarArea(notice) == Qt.ToolBarArea.TopToolBarArea
    assert BUNDLED_NAME in notice.text.text() and notice.text.text() == bundled_summary()
    assert "quality benchmark" in notice.text.text()
    # As tall as its lines at its width, not the toolbar's guess from a narrow label (three times that).
    qtbot.waitUntil(lambda: notice.text.height() == notice.text.heightForWidth(notice.text.width())
                    and notice.height() <= notice.text.height() + 24)
    assert QApplication.activeModalWidget() is None  # a bar, not a dialog: the editor takes keys meanwhile
    qtbot.keyClicks(window.editor, "typing works")
    assert window.editor.toPlainText() == "typing works"

    # The model button says the same once the bundled model is loaded.
    qtbot.waitUntil(lambda: window.bridge.model_info is not None, timeout=60_000)
    assert window.model_label.toolTip().startswith(bundled_summary())

    # "Choose a model…" opens the model manager; the notice stays until it is closed.
    qtbot.mouseClick(notice.choose_button, Qt.MouseButton.LeftButton)
    assert window.model_manager is not None and window.model_manager.isVisible() and notice.isVisible()
    qtbot.waitUntil(lambda: window.model_manager.survey is not None and not window.model_manager._scanning, timeout=60_000)

    with qtbot.waitSignal(notice.dismissed):
        qtbot.mouseClick(notice.close_button, Qt.MouseButton.LeftButton)
    assert not notice.isVisible() and settings.value(DISMISSED_KEY) in (True, "true")
    close_window(qtbot, window)

    again = open_window(qtbot, tmp_path, settings_at(tmp_path))  # the next start reads the flag from the file
    assert again.first_start_notice is None
    close_window(qtbot, again)


def test_no_notice_when_a_model_is_chosen_or_named_by_the_environment(qtbot, tmp_path, checkpoint, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    settings = settings_at(tmp_path)
    Settings(model=str(checkpoint), device="cpu").save(settings)
    chosen = open_window(qtbot, tmp_path, settings)
    assert chosen.first_start_notice is None
    qtbot.waitUntil(lambda: chosen.bridge.model_info is not None, timeout=60_000)
    assert bundled_summary() not in chosen.model_label.toolTip()  # the tooltip describes the model in use
    close_window(qtbot, chosen)

    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    by_env = open_window(qtbot, fresh, settings_at(fresh))
    assert by_env.first_start_notice is None
    close_window(qtbot, by_env)
