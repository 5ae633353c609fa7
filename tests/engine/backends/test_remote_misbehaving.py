"""The remote backend against servers that misbehave at the socket level, on 127.0.0.1: one that never
answers, one that never accepts, one that reads the request slowly, one that drips bytes, one that never
stops, and ones that send lines, chunks and pages no OpenAI-compatible server should.

Each server serves its first connection a model list (for `load`) and runs its script on the next ones.
Waits are hang guards (`GUARD`), never measurements; limits are shrunk with monkeypatch instead of waited for.
"""

import json
import re
import socket
import threading
import tracemalloc
from pathlib import Path

import pytest

from engine import EditRequest, Engine, EngineError
from engine.backends import remote
from engine.backends.remote import RemoteBackend

GUARD = 10.0  # seconds: only ever reached when something hangs
DOC = "The meeting is on Monday.\nWe will discuss the budget and the new office plans.\nPlease bring your notes.\n"
SPAN = (DOC.index("We will"), DOC.index("Please") - 1)
MODELS = json.dumps({"object": "list", "data": [{"id": "raw", "object": "model"}]}).encode()
STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


def token(content: str) -> bytes:
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': content}}]})}\n\n".encode()


def finish(reason: str, **extra) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}], **extra}
    return f"data: {json.dumps(chunk)}\n\n".encode()


def read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    """The request's head, and whatever of its body came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            break
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def read_request(conn: socket.socket) -> bytes:
    head, body = read_head(conn)
    while len(body) < content_length(head):
        body += conn.recv(65536)
    return body


def sees_close(conn: socket.socket) -> bool:
    """Read until the client closes (EOF or reset); False if it is still open after `GUARD`."""
    conn.settimeout(GUARD)
    try:
        while conn.recv(1 << 20):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


class RawServer:
    """A listening socket; the first connection gets `MODELS`, each later one runs `script(server, conn)`.

    `accept=False` stops accepting after the first: later connections wait in the (tiny) backlog."""

    def __init__(self, script=None, accept=True, backlog=8, rcvbuf=None):
        self.script, self.accept = script, accept
        self.closed = threading.Event()  # a script saw the client close its connection
        self.reached = threading.Event()  # a script got to the point the test waits for
        self.stop = threading.Event()
        self.sent = 0  # bytes a script managed to send, or read, as the script counts them
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # accepted sockets inherit it
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.threads = [threading.Thread(target=self._serve, daemon=True)]
        self.threads[0].start()

    def _serve(self):
        first = True
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(GUARD)
            if first:
                read_request(conn)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n")
                conn.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(MODELS), MODELS))
                conn.close()
                first = False
                if not self.accept:
                    return
                continue
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _run(self, conn):
        try:
            self.script(self, conn)
        except OSError:
            self.closed.set()  # a send to a closed connection
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        for thread in self.threads:
            thread.join(GUARD)


@pytest.fixture
def raw():
    servers = []

    def make(script=None, **kwargs):
        servers.append(RawServer(script, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def edit_and_cancel_when(server, request=None, reached=None):
    """Load, submit an edit, cancel it once `reached` (default: the server's `reached`) is set; the result."""
    with Engine() as eng:
        eng.load(lambda: RemoteBackend(server.url)).result(GUARD)
        job = eng.submit(request or EditRequest(DOC, *SPAN, seed=1))
        assert (reached or server.reached.wait)(GUARD), "the server never got to the point of the test"
        job.cancel()
        return job.result(GUARD)


def edit(server, request=None, drafts=None):
    with Engine() as eng:
        eng.load(lambda: RemoteBackend(server.url)).result(GUARD)
        return eng.edit(request or EditRequest(DOC, *SPAN, seed=1), drafts.append if drafts is not None else None)


# -- cancel closes the connection in every phase -----------------------------------------------------------


def test_cancel_while_the_server_never_answers_closes_the_connection(raw):
    def accepts_reads_never_answers(server, conn):
        read_request(conn)
        server.reached.set()
        if sees_close(conn):
            server.closed.set()

    server = raw(accepts_reads_never_answers)
    result = edit_and_cancel_when(server)
    assert result.stop_reason == "cancelled" and result.text == ""
    assert server.closed.wait(GUARD)


def syn_sent_to(port: int) -> int:
    """Sockets of this machine still trying to connect (SYN_SENT) to `port` on 127.0.0.1."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[3] == "02" and int(row.split()[2].split(":")[1], 16) == port)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads connection states from Linux's /proc")
def test_cancel_while_connecting_closes_the_socket(raw):
    server = raw(accept=False, backlog=0)
    with Engine() as eng:
        eng.load(lambda: RemoteBackend(server.url)).result(GUARD)
        server.threads[0].join(GUARD)  # it no longer accepts
        with socket.create_connection(("127.0.0.1", server.port)):  # fills the backlog: SYNs now go unanswered
            job = eng.submit(EditRequest(DOC, *SPAN, seed=1))
            for _ in range(int(GUARD / 0.01)):
                if syn_sent_to(server.port):
                    break
                threading.Event().wait(0.01)
            assert syn_sent_to(server.port) == 1, "the edit never started connecting"
            job.cancel()
            result = job.result(GUARD)
            assert result.stop_reason == "cancelled" and syn_sent_to(server.port) == 0


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads connection states from Linux's /proc")
def test_load_against_a_server_that_never_accepts_fails_with_one_line(raw, monkeypatch):
    monkeypatch.setattr(remote, "CONNECT_S", 0.3)
    server = raw(accept=False, backlog=0)
    RemoteBackend(server.url).load()  # the one connection it accepts
    server.threads[0].join(GUARD)
    with socket.create_connection(("127.0.0.1", server.port)), pytest.raises(EngineError) as info:
        RemoteBackend(server.url).load()
    assert str(info.value) == f"cannot reach the server at {server.url}: no connection within 0.3 s"
    assert syn_sent_to(server.port) == 0


def test_cancel_while_sending_the_request_closes_the_connection(raw):
    """A server that reads the request slowly: the edit is stuck sending a long document when it is cancelled."""

    def reads_slowly(server, conn):
        head, body = read_head(conn)
        server.size = content_length(head)
        got = len(body)
        while got < 256 * 1024:
            got += len(conn.recv(4096))
            threading.Event().wait(0.001)
        server.reached.set()
        server.finished.wait(GUARD)  # the test has its result: now read fast until the client is gone
        conn.settimeout(GUARD)
        try:
            while more := conn.recv(1 << 20):
                got += len(more)
        except ConnectionError:
            pass
        server.sent = got
        server.closed.set()

    server = raw(reads_slowly, rcvbuf=4096)
    server.finished = threading.Event()
    line = "A line of a long document, long enough to keep the sender busy for a while.\n"
    text = line * (16_000_000 // len(line))  # 16 MB: more than the kernel buffers between the two hold
    request = EditRequest(text, 0, len(line) - 1, seed=1, context_budget=len(text))
    result = edit_and_cancel_when(server, request)
    server.finished.set()
    assert result.stop_reason == "cancelled"
    assert server.closed.wait(GUARD) and server.sent < server.size  # the request was cut off mid-body


def test_cancel_while_the_server_drips_bytes_closes_the_connection(raw):
    def drips(server, conn):
        read_request(conn)
        conn.sendall(STREAM_HEAD + token("Hello"))
        while True:  # one byte at a time, of events that never end; a send fails once the client has gone
            for byte in b": keep-alive\n\n" + token(" and"):
                conn.send(bytes([byte]))
                threading.Event().wait(0.002)

    server = raw(drips)
    first = threading.Event()
    with Engine() as eng:
        eng.load(lambda: RemoteBackend(server.url)).result(GUARD)
        job = eng.submit(EditRequest(DOC, *SPAN, seed=1), lambda draft: first.set())
        assert first.wait(GUARD)
        job.cancel()
        result = job.result(GUARD)
    assert result.stop_reason == "cancelled" and result.text == ""
    assert server.closed.wait(GUARD)


# -- limits on what a server may send ----------------------------------------------------------------------


def test_a_server_sending_only_keep_alives_is_cut_off_at_the_idle_limit(raw, monkeypatch):
    monkeypatch.setattr(remote, "IDLE_S", 0.5)

    def pings_forever(server, conn):
        read_request(conn)
        conn.sendall(STREAM_HEAD + token("Hello"))
        while True:
            conn.sendall(b": ping\n\n" + b'data: {"choices": []}\n\n')  # neither is a token
            threading.Event().wait(0.02)

    server = raw(pings_forever)
    result = edit(server)
    assert result.stop_reason == "error" and result.text == ""
    assert result.error == "the server sent no new token for 0.5 s after 1 tokens; it was cut off"
    assert server.closed.wait(GUARD)


def test_a_server_that_never_answers_an_edit_is_cut_off_at_the_idle_limit(raw, monkeypatch):
    monkeypatch.setattr(remote, "IDLE_S", 0.5)

    def never_answers(server, conn):
        read_request(conn)
        if sees_close(conn):
            server.closed.set()

    server = raw(never_answers)
    result = edit(server)
    assert result.error == "the server sent no new token for 0.5 s after 0 tokens; it was cut off"
    assert server.closed.wait(GUARD)


def test_a_10_mb_line_is_refused_without_holding_it(raw):
    huge = STREAM_HEAD + token("Hello") + b"data: " + b"x" * 10_000_000 + b"\n\n"  # built before tracing
    answers = iter([STREAM_HEAD + token("Hi") + finish("stop"), huge])  # a first edit imports what edits need

    def one_huge_line(server, conn):
        read_request(conn)
        conn.sendall(next(answers))

    backend = RemoteBackend(raw(one_huge_line).url)
    backend.load()
    assert backend.edit(EditRequest(DOC, *SPAN, seed=1), lambda draft: None, threading.Event()).text == "Hi"
    tracemalloc.start()
    try:
        with pytest.raises(EngineError) as info:
            backend.edit(EditRequest(DOC, *SPAN, seed=1), lambda draft: None, threading.Event())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == f"the server sent an unreadable chunk after 1 tokens: a line over {1 << 20} bytes"
    assert peak < 3_000_000  # the line limit and one read, not the line


def test_a_server_that_ignores_max_tokens_is_cut_off_with_stop_reason_length(raw):
    def never_stops(server, conn):
        read_request(conn)
        conn.sendall(STREAM_HEAD)
        while True:
            conn.sendall(token("tok "))
            server.sent += 1

    server = raw(never_stops)
    drafts = []
    result = edit(server, EditRequest(DOC, *SPAN, seed=1, max_new_tokens=8), drafts)
    cap = remote.OUTPUT_SLACK * 8
    assert (result.stop_reason, result.text, result.steps, len(drafts)) == ("length", "tok " * cap, cap, cap)
    assert result.ok and server.closed.wait(GUARD)


def test_huge_tokens_count_against_the_cap_by_their_bytes(raw):
    def big_pieces(server, conn):
        read_request(conn)
        conn.sendall(STREAM_HEAD)
        while True:
            conn.sendall(token("y" * 1000))

    server = raw(big_pieces)
    result = edit(server, EditRequest(DOC, *SPAN, seed=1, max_new_tokens=8))
    assert result.stop_reason == "length" and len(result.text) <= remote.OUTPUT_SLACK * 8 * remote.TOKEN_BYTES + 1000


# -- malformed answers are one clear line --------------------------------------------------------------------


def one_token_then(ending: bytes):
    def script(server, conn):
        read_request(conn)
        conn.sendall(STREAM_HEAD + token("Hello") + ending)

    return script


PYTHON = re.compile(r"Traceback|\w+(Error|Exception)\b|object has no attribute|not subscriptable|NoneType")


@pytest.mark.parametrize(
    "ending, expected",
    [
        (b"data: [1, 2]\n\n", "JSON that is not an object: [1, 2]"),
        (b'data: "hello"\n\n', 'JSON that is not an object: "hello"'),
        (b"data: 42\n\n", "JSON that is not an object: 42"),
        (b'data: {"id": "chunk-1"}\n\n', 'no list of choices: {"id": "chunk-1"}'),
        (b'data: {"choices": "abc"}\n\n', "no list of choices: "),
        (b'data: {"choices": [null]}\n\n', "a choice that is not an object with a delta: "),
        (b'data: {"choices": [{"index": 0, "delta": "x"}]}\n\n', "a choice that is not an object with a delta: "),
        (b'data: {"choices": [{"index": 0}]}\n\n', "a choice with neither a delta nor a finish reason: "),
        (b'data: {"choices": [{"index": 0, "delta": {"content": 5}}]}\n\n', "content or finish reason that is not"),
        (b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": 3}]}\n\n', "content or finish reason that"),
        (b'data: {"choices": [{"index": 0, "delta": {"content": ["a"]}}]}\n\n', "content or finish reason that"),
        (b"data: \xff\xfe{}\n\n", "a data line that is not UTF-8"),
        (b"data:\n\n", "an empty data line"),
        (b"data: {not json\n\n", "not JSON: {not json"),
    ],
)
def test_a_malformed_chunk_is_one_clear_line(raw, ending, expected):
    result = edit(raw(one_token_then(ending)))
    assert result.stop_reason == "error" and result.text == "" and "\n" not in result.error
    assert result.error.startswith("the server sent an unreadable chunk after 1 tokens: " + expected)
    assert not PYTHON.search(result.error)


def test_a_usage_count_of_the_wrong_type_is_ignored(raw):
    result = edit(raw(one_token_then(finish("stop", usage={"completion_tokens": "many"}))))
    assert (result.stop_reason, result.text, result.tokens) == ("eos", "Hello", 1)


HTML = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>" + b"<p>nginx</p>\n" * 500


def answers(status: bytes, kind: bytes, body: bytes):
    def script(server, conn):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (status, kind, len(body)))
        conn.sendall(b"Connection: close\r\n\r\n" + body)

    return script


def test_an_html_page_instead_of_a_stream_is_one_clear_line(raw):
    server = raw(answers(b"200 OK", b"text/html", HTML))
    result = edit(server)
    assert result.error == (
        f"the server at {server.url} answered with text/html, not a stream: an HTML page titled '502 Bad Gateway'"
    )


# -- HTTP statuses, each one clear line ----------------------------------------------------------------------

JSON = b"application/json"


@pytest.mark.parametrize(
    "status, kind, body, expected",
    [
        (b"401 Unauthorized", JSON, b'{"error": {"message": "Invalid API key"}}',
         "refused the API key (HTTP 401 Unauthorized: Invalid API key): check REDRAFT_API_KEY (none is set)"),
        (b"403 Forbidden", JSON, b'{"detail": "forbidden"}',
         "the server refused the API key (HTTP 403 Forbidden: forbidden): check REDRAFT_API_KEY (none is set)"),
        (b"404 Not Found", JSON, b'{"detail": "Not Found"}',
         "answered HTTP 404 Not Found: Not Found; check the URL (it usually ends in /v1) and the model name"),
        (b"429 Too Many Requests", JSON, b'{"error": {"message": "slow down"}}',
         "answered HTTP 429 Too Many Requests: slow down; the server is rate limiting requests: wait and try again"),
        (b"500 Internal Server Error", JSON, b'{"error": "model crashed"}',
         "answered HTTP 500 Internal Server Error: model crashed; the server failed; its log says why"),
        (b"502 Bad Gateway", b"text/html", HTML,
         "answered HTTP 502 Bad Gateway: an HTML page titled '502 Bad Gateway'; the server (or a proxy in front of it) "
         "is unavailable: try again later"),
        (b"503 Service Unavailable", b"text/plain", b"upstream connect error\n" * 1000,
         "answered HTTP 503 Service Unavailable: upstream connect error upstream"),
    ],
)  # fmt: skip
def test_http_statuses_on_an_edit_are_one_clear_line(raw, monkeypatch, status, kind, body, expected):
    monkeypatch.delenv("REDRAFT_API_KEY", raising=False)
    result = edit(raw(answers(status, kind, body)))
    assert result.stop_reason == "error" and expected in result.error and "\n" not in result.error
    assert len(result.error) <= 400 and not PYTHON.search(result.error)


def test_a_refused_api_key_that_was_set_says_to_check_it(raw, monkeypatch):
    monkeypatch.setenv("REDRAFT_API_KEY", "wrong")
    result = edit(raw(answers(b"401 Unauthorized", JSON, b"{}")))
    assert result.error == "the server refused the API key (HTTP 401 Unauthorized: {}): check REDRAFT_API_KEY"


def serves(models_body: bytes, status: bytes = b"200 OK", kind: bytes = JSON):
    """A server whose model list is `models_body` (on the first connection, as `load` sees it)."""

    class Listing(RawServer):
        def _serve(self):
            while not self.stop.is_set():
                try:
                    conn, _ = self.sock.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                with conn:
                    read_request(conn)
                    conn.sendall(b"HTTP/1.1 %s\r\nContent-Type: %s\r\nConnection: close\r\n" % (status, kind))
                    conn.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(models_body), models_body))

    return Listing


@pytest.mark.parametrize(
    "body, status, expected",
    [
        (b"[]", b"200 OK", "sent no list of models: []"),
        (b'{"data": {"id": "x"}}', b"200 OK", 'sent no list of models: {"data": {"id": "x"}}'),
        (b'{"data": [{"id": 5}, "x", null]}', b"200 OK", "lists no models"),
        (b"<html><title>Login</title></html>", b"200 OK", "sent a model list that is not JSON: an HTML page titled"),
        (b"{}", b"403 Forbidden", "the server refused the API key (HTTP 403 Forbidden: {}): check REDRAFT_API_KEY"),
        (b"no", b"404 Not Found", "answered HTTP 404 Not Found: no; check the URL"),
        (b"", b"429 Too Many Requests", "answered HTTP 429 Too Many Requests; the server is rate limiting"),
        (b"", b"503 Service Unavailable", "answered HTTP 503 Service Unavailable; the server (or a proxy"),
    ],
)
def test_a_bad_model_list_is_one_clear_line(monkeypatch, body, status, expected):
    monkeypatch.delenv("REDRAFT_API_KEY", raising=False)
    server = serves(body, status)(None)
    try:
        with pytest.raises(EngineError) as info:
            RemoteBackend(server.url).load()
    finally:
        server.close()
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert not PYTHON.search(str(info.value))


def test_a_model_list_over_the_body_limit_is_refused(monkeypatch):
    monkeypatch.setattr(remote, "MAX_BODY_BYTES", 1000)
    server = serves(json.dumps({"data": [{"id": f"m{i}"} for i in range(1000)]}).encode())(None)
    try:
        with pytest.raises(EngineError, match="sent an unreadable model list: a body over 1000 bytes"):
            RemoteBackend(server.url).load()
    finally:
        server.close()


# -- results: stop reasons, tokens, the request's context budget ----------------------------------------------


def test_finish_length_ends_with_stop_reason_length_and_keeps_the_text(raw):
    result = edit(raw(one_token_then(token(" there") + finish("length") + b"data: [DONE]\n\n")))
    assert (result.stop_reason, result.text, result.ok) == ("length", "Hello there", True)


def test_tokens_count_the_text_not_the_canvas(raw):
    """vLLM reports a whole canvas's positions (padding and end token included) for a short text."""
    result = edit(raw(one_token_then(finish("stop", usage={"completion_tokens": 256}) + b"data: [DONE]\n\n")))
    assert (result.stop_reason, result.text) == ("eos", "Hello")
    assert 1 <= result.tokens <= len("Hello")
    assert result.tokens_per_s == pytest.approx(result.tokens / result.elapsed_s)


def test_the_context_budget_is_the_requests(raw):
    seen = []

    def records(server, conn):
        seen.append(json.loads(read_request(conn))["messages"][-1]["content"])
        conn.sendall(STREAM_HEAD + token("Hi") + finish("stop") + b"data: [DONE]\n\n")

    far = "A far away line that only a large budget carries.\n" * 50
    text = far + DOC
    start, end = len(far) + SPAN[0], len(far) + SPAN[1]
    server = raw(records)
    with Engine() as eng:
        eng.load(lambda: RemoteBackend(server.url)).result(GUARD)
        assert eng.edit(EditRequest(text, start, end, seed=1)).ok
        assert eng.edit(EditRequest(text, start, end, seed=1, context_budget=40)).ok
    assert "far away" in seen[0] and "far away" not in seen[1] and "We will discuss" in seen[1]
