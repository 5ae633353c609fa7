"""One Redraft per user session: a second `redraft FILE` hands FILE to the running window and exits.

The first instance listens on a QLocalServer named per user; a later start connects with QLocalSocket, sends
its (absolute) paths as one JSON line, waits for the one-line acknowledgement and exits 0. When nobody
answers, the name is stale (a crashed instance leaves its socket file behind on Unix): it is removed and this
start becomes the server, so a crash never blocks the next start. If even that fails (a read-only runtime
folder) the app still starts, just without the hand-over.
"""

from __future__ import annotations

import getpass
import json
import os
import re

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

CONNECT_MS = 500
REPLY_MS = 2000


def server_name() -> str:
    user = re.sub(r"[^A-Za-z0-9_.-]", "_", getpass.getuser() or "user")
    return f"redraft-{user}"


def hand_over(paths: list[str], name: str | None = None) -> bool:
    """Send `paths` to a running instance; True when it acknowledged them (this start should then exit)."""
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(CONNECT_MS):
        return False
    message = json.dumps({"open": [os.path.abspath(path) for path in paths]}) + "\n"
    socket.write(message.encode("utf-8"))
    socket.flush()
    acknowledged = False
    while socket.waitForReadyRead(REPLY_MS):
        if socket.canReadLine():
            acknowledged = bytes(socket.readLine().data()).strip() == b"ok"
            break
    socket.disconnectFromServer()
    return acknowledged


class InstanceServer(QObject):
    """Listens for later starts; emits `openRequested(paths)` for each (an empty list: just show the window)."""

    openRequested = Signal(list)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)  # only this user may connect
        self.server.newConnection.connect(self._on_connection)

    def listen(self) -> bool:
        """Start listening; a stale name left by a crash is removed first. False when it cannot listen."""
        if self.server.listen(self.name):
            return True
        QLocalServer.removeServer(self.name)  # only called after a hand-over found nobody answering
        return self.server.listen(self.name)

    def close(self) -> None:
        self.server.close()

    def _on_connection(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda socket=socket: self._on_ready(socket))

    def _on_ready(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        try:
            request = json.loads(bytes(socket.readLine().data()).decode("utf-8"))
            paths = [str(path) for path in request.get("open", [])]
        except (ValueError, AttributeError, TypeError):
            paths = None
        socket.readyRead.disconnect()  # one request per connection
        socket.write(b"bad request\n" if paths is None else b"ok\n")
        socket.flush()
        socket.disconnected.connect(socket.deleteLater)
        socket.disconnectFromServer()  # once the reply is written
        if paths is not None:
            self.openRequested.emit(paths)
