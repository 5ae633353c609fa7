"""The stored session: round trip through a real INI file, bounded, and bad stored values skipped, never raised."""

import pytest
from PySide6.QtCore import QByteArray, QSettings

from app.storage.session_state import MAX_FILES, SavedTab, SessionState


@pytest.fixture
def ini(tmp_path):
    return str(tmp_path / "settings.ini")


def _store(ini):
    return QSettings(ini, QSettings.Format.IniFormat)


def test_round_trip_through_the_file(ini):
    state = SessionState(
        (SavedTab("/home/ann/notes é.md", 42, 7), SavedTab("/srv/b.py", 0, 0)),
        1,
        QByteArray(b"\x01\xffgeometry"),
        QByteArray(b"state\x00"),
        (300, 100),
    )
    state.save(_store(ini))
    assert SessionState.load(_store(ini)) == state


def test_nothing_stored_is_the_empty_session(ini):
    assert SessionState.load(_store(ini)) == SessionState()


def test_at_most_max_files_are_kept(ini):
    tabs = tuple(SavedTab(f"/f/{n}.txt", n, n) for n in range(MAX_FILES + 20))
    SessionState(tabs, 3).save(_store(ini))
    loaded = SessionState.load(_store(ini))
    assert loaded.tabs == tabs[:MAX_FILES] and loaded.current == 3


@pytest.mark.parametrize(
    "files",
    [
        "not json {",
        '["a list, not an object"]',
        '{"tabs": "nope", "current": 0}',
        '{"tabs": [], "current": 5}',
        "42",
    ],
)
def test_a_session_that_does_not_parse_is_empty(ini, files):
    store = _store(ini)
    store.setValue("session/files", files)
    store.setValue("window/geometry", "a string, not bytes")
    store.setValue("window/previewSplit", "[1, 2, 3]")
    store.sync()
    assert SessionState.load(_store(ini)) == SessionState()


def test_bad_entries_are_skipped_and_the_good_ones_kept(ini):
    store = _store(ini)
    store.setValue(
        "session/files",
        '{"tabs": [{"path": "/ok.txt", "cursor": 3, "top_line": 1}, {"path": ""}, {"path": 5}, "x",'
        ' {"path": "/neg.txt", "cursor": -1}, {"path": "/bool.txt", "cursor": true},'
        ' {"path": "/float.txt", "top_line": 1.5}, {"path": "/defaults.txt"}], "current": 1}',
    )
    store.setValue("window/previewSplit", "[0, 0]")  # all zero: nothing to restore
    store.sync()
    loaded = SessionState.load(_store(ini))
    assert loaded.tabs == (SavedTab("/ok.txt", 3, 1), SavedTab("/defaults.txt", 0, 0))
    assert loaded.current == 1 and loaded.preview_split == ()
