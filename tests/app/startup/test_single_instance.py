"""Single instance: a second start hands its files over; a crashed instance's socket does not block a start."""

import os
import signal
import subprocess
import sys
import uuid

from PySide6.QtCore import QSettings
from PySide6.QtNetwork import QLocalServer

from app.window.main_window import create_main_window
from app.startup.single_instance import InstanceServer, hand_over
from engine import MODEL_ENV
from tests.app import close_window

SECOND_START = (
    "import sys\n"
    "from PySide6.QtCore import QCoreApplication\n"
    "app = QCoreApplication([])\n"
    "from app.startup.single_instance import hand_over\n"
    "sys.exit(0 if hand_over(sys.argv[2:], sys.argv[1]) else 3)\n"
)
CRASHING_FIRST = (
    "import os, sys\n"
    "from PySide6.QtCore import QCoreApplication\n"
    "app = QCoreApplication([])\n"
    "from app.startup.single_instance import InstanceServer\n"
    "server = InstanceServer(sys.argv[1])\n"
    "assert server.listen()\n"
    "print('listening', flush=True)\n"
    "os.kill(os.getpid(), 9)\n"
)


def unique_name() -> str:
    return f"redraft-test-{uuid.uuid4().hex[:12]}"


def start_second(name: str, *paths: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SECOND_START, name, *paths], cwd=os.getcwd())


def test_nobody_listening_means_this_start_runs():
    assert hand_over(["x.txt"], unique_name()) is False


def test_second_start_hands_its_file_to_the_running_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "no-model"))  # the model fails fast; files are the point
    document = tmp_path / "notes.md"
    document.write_text("# from the second start\n", encoding="utf-8")
    window = create_main_window([], QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    server = InstanceServer(unique_name())
    assert server.listen()
    server.openRequested.connect(window.open_handed_over)
    with qtbot.waitSignal(server.openRequested, timeout=10000) as signal_:
        second = start_second(server.name, str(document))
    assert second.wait(10) == 0  # acknowledged: the second start exits
    assert signal_.args == [[str(document)]]
    assert window.tab.buffer.path == document
    assert window.editor.toPlainText() == "# from the second start\n"
    server.close()
    close_window(qtbot, window)


def test_a_crashed_instance_does_not_block_the_next_start(qtbot, tmp_path):
    name = unique_name()
    first = subprocess.run(
        [sys.executable, "-c", CRASHING_FIRST, name], cwd=os.getcwd(), capture_output=True, text=True, timeout=30
    )
    assert first.returncode == -signal.SIGKILL and "listening" in first.stdout
    probe = QLocalServer()
    assert not probe.listen(name)  # the stale socket is really there: a plain listen fails
    assert hand_over(["a.txt"], name) is False  # nobody answers on it
    server = InstanceServer(name)
    assert server.listen()
    with qtbot.waitSignal(server.openRequested, timeout=10000) as signal_:
        second = start_second(name, str(tmp_path / "b.txt"))
    assert second.wait(10) == 0
    assert signal_.args == [[str(tmp_path / "b.txt")]]
    server.close()


def test_a_garbled_request_is_refused_and_opens_nothing(qtbot):
    from PySide6.QtNetwork import QLocalSocket

    server = InstanceServer(unique_name())
    assert server.listen()
    opened = []
    server.openRequested.connect(opened.append)
    socket = QLocalSocket()
    socket.connectToServer(server.name)
    assert socket.waitForConnected(1000)
    socket.write(b"not json\n")
    qtbot.waitUntil(lambda: socket.canReadLine(), timeout=5000)
    assert bytes(socket.readLine().data()) == b"bad request\n"
    assert opened == []
    server.close()
