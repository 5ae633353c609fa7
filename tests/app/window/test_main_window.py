"""The minimal window: files open in tabs, unreadable ones are reported, the model is named."""

from app.window.main_window import create_main_window
from engine import MODEL_ENV


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
