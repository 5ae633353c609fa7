"""The window: files open in tabs, unreadable ones are reported, the model active is named."""

import dataclasses

from PySide6.QtCore import QSettings

from app.storage.settings import Settings
from app.window.main_window import create_main_window
from engine import MODEL_ENV
from tests.app import close_window


def test_window_opens_files_and_names_the_model(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, "/models/tiny")
    good = tmp_path / "notes.md"
    good.write_text("# Notes\nhéllo 🦊\n", encoding="utf-8")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02binary")
    window = create_main_window([str(good), str(binary)])
    qtbot.addWidget(window)
    assert window.tabs.count() == 1
    assert window.editor.toPlainText() == "# Notes\nhéllo 🦊\n"
    assert window.model_label.text() == "Model: /models/tiny"
    assert len(window.errors) == 1 and "binary" in window.errors[0]
    window.show()
    assert not window.grab().isNull()


def test_a_failed_model_switch_names_the_model_still_active(qtbot, tmp_path, checkpoint, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    Settings(model=str(checkpoint)).save(store)
    window = create_main_window([], store)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.bridge.model_info is not None, timeout=20000)
    active = window.bridge.model_info
    with qtbot.waitSignal(window.modelFailed, timeout=20000):
        window.apply_preferences(dataclasses.replace(window.preferences, model=str(tmp_path / "missing.gguf")))
    # The engine kept the previous model; everything that names a model says so.
    assert window.bridge.model_info is active and window.bridge.model_spec == str(checkpoint)
    assert window.model_label.text() == f"Model: {active.id}"
    assert window.run_label.text() == f"Still using {active.id}"
    assert "Model failed" in window.statusBar().currentMessage()
    assert window.preferences.model == str(checkpoint) == Settings.load(store).model
    close_window(qtbot, window)


def test_every_request_carries_the_documents_language(qtbot, tmp_path, checkpoint, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    source = tmp_path / "tool.py"
    source.write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    window = create_main_window([str(source)])
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.bridge.model_info is not None, timeout=20000)
    requests = []
    submit = window.bridge.submit
    monkeypatch.setattr(window.bridge, "submit", lambda request: requests.append(request) or submit(request))
    editor = window.editor
    cursor = editor.textCursor()
    cursor.setPosition(4)
    cursor.setPosition(7, cursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    assert editor.start_rewrite()
    qtbot.waitUntil(editor.task.done, timeout=20000)
    editor.cancel_rewrite()
    assert window.save_as(str(tmp_path / "notes.md"))  # saved under another name: another language
    cursor.setPosition(0)
    cursor.setPosition(3, cursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    assert editor.start_rewrite()
    qtbot.waitUntil(editor.task.done, timeout=20000)
    assert [(r.span, r.language) for r in requests] == [("add", "Python"), ("def", "Markdown")]
    close_window(qtbot, window)


def test_a_model_that_does_not_fit_beside_the_active_one_replaces_it_and_the_status_says_so(qtbot, checkpoint, monkeypatch):
    import app.window.main_window as main_window

    monkeypatch.setenv(MODEL_ENV, str(checkpoint))
    window = create_main_window()
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.bridge.model_info is not None, timeout=20000)
    first = window.bridge.model_info
    # This machine's free memory, as the test sets it: the second model does not fit beside the first.
    monkeypatch.setattr(main_window, "must_unload_first", lambda spec, device, active: active is first)
    seen = []
    task = window.load_model(str(checkpoint), "cpu")
    qtbot.waitUntil(lambda: (seen.append(window.run_label.text()) or task.done()), timeout=20000)
    assert any("Unloading" in text and first.id in text for text in seen)
    assert window.bridge.model_info is not first and window.run_label.text().startswith("Ready")
    close_window(qtbot, window)
