"""The remote backend against real servers on 127.0.0.1: llama-cpp-python's OpenAI-compatible server with the
bundled Gemma 3 270M, and tiny stdlib servers that fail on purpose (HTTP errors, silence, a cut stream)."""

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine import EditRequest, Engine, EngineError
from engine.models.bundled import bundled_model_path
from engine.backends import remote
from engine.backends.remote import RemoteBackend

DOC = "The meeting is on Monday.\nWe will discuss the budget and the new office plans.\nPlease bring your notes.\n"
SPAN = (DOC.index("We will"), DOC.index("Please") - 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """llama_cpp.server on a free port. The GGUF has no chat template; its fallback (llama-2) makes this base
    model stop at once, so the server is told to use Gemma's own turn format."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "2048", "--n_threads", "1", "--chat_format", "gemma"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                RemoteBackend(url).load()
                break
            except EngineError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def remote_engine(server_url):
    with Engine() as eng:
        info = eng.load(lambda: RemoteBackend(server_url)).result(30)
        assert info.family == "remote" and info.id.endswith(".gguf") and info.device.startswith("127.0.0.1:")
        yield eng


def test_rewrite_streams_drafts_and_splices_cleanly(remote_engine):
    drafts = []
    request = EditRequest(DOC, *SPAN, seed=1, max_new_tokens=24)
    result = remote_engine.edit(request, drafts.append)
    # The bundled base model, given the marked-document prompt, may echo the span markers: the engine then
    # refuses the answer (engine/usable.py) but the stream was the same.
    refused = result.stop_reason == "error" and "prompt text" in result.error
    assert refused or (result.ok and result.stop_reason in ("eos", "length") and result.error is None)
    assert result.text
    assert [d.step for d in drafts] == list(range(1, len(drafts) + 1)) and len(drafts) == result.tokens <= 24
    for before, after in zip(drafts, drafts[1:]):
        assert after.text.startswith(before.text) and len(after.text) > len(before.text)
        assert after.changed[-1] and not any(after.changed[:-1]) and set(after.confidence) == {1.0}
    assert drafts[-1].text == result.text == "".join(drafts[-1].pieces)
    assert all(d.max_steps == 24 for d in drafts) and result.first_draft_s <= result.elapsed_s
    spliced = request.splice(result.text)
    assert spliced.startswith(DOC[: SPAN[0]]) and spliced.endswith(DOC[SPAN[1] :])


def test_seed_is_honoured_and_max_new_tokens_too(remote_engine):
    a = remote_engine.edit(EditRequest(DOC, *SPAN, seed=5, max_new_tokens=12))
    b = remote_engine.edit(EditRequest(DOC, *SPAN, seed=5, max_new_tokens=12))
    assert a.text == b.text  # llama_cpp.server seeds its sampler per request
    short = remote_engine.edit(EditRequest(DOC, SPAN[0], SPAN[0], mode="fill", seed=2, max_new_tokens=5))
    refused = short.stop_reason == "error" and "prompt text" in short.error  # see the test above
    assert (refused or short.stop_reason == "length") and 0 < short.tokens <= 5


def test_cancel_after_the_second_draft_stops_the_stream(remote_engine):
    seen = []

    def on_draft(draft):
        seen.append(draft.step)
        if draft.step == 2:
            remote_engine.cancel()

    request = EditRequest(DOC, SPAN[0], SPAN[0], mode="fill", seed=3, max_new_tokens=200)
    result = remote_engine.edit(request, on_draft)
    assert result.stop_reason == "cancelled" and result.text == "" and seen == [1, 2]
    assert remote_engine.edit(EditRequest(DOC, *SPAN, seed=1, max_new_tokens=4)).ok  # the server serves on


def test_unreachable_server_is_one_clear_line():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with Engine() as eng, pytest.raises(EngineError, match="connection refused") as info:
        eng.load(lambda: RemoteBackend(url)).result(10)
    assert str(info.value) == f"cannot reach the server at {url}: connection refused"


def test_a_model_the_server_does_not_list_is_refused(server_url):
    with Engine() as eng, pytest.raises(EngineError, match="does not serve 'no-such-model'; it serves: "):
        eng.load(lambda: RemoteBackend(server_url, model="no-such-model")).result(10)


# -- tiny stdlib servers that misbehave on purpose ------------------------------------------------------------


class Fake(BaseHTTPRequestHandler):
    """GET lists one model unless the test gives `on_get(handler)`; POST runs the test's `on_post(handler)`."""

    on_get = on_post = None
    seen_headers: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        Fake.seen_headers.append(dict(self.headers))
        if self.on_get:
            return self.on_get()
        self.reply(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.on_post()

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def start_stream(self, chunked=False):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def event(self, content, chunked=False):
        data = f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': content}}]})}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        self.wfile.flush()


@pytest.fixture
def fake():
    """Serve `Fake` with the given scripts; returns the base URL."""
    servers, release = [], threading.Event()
    Fake.seen_headers = []

    def serve(on_get=None, on_post=None, protocol="HTTP/1.0"):
        attributes = {"on_get": on_get, "on_post": on_post, "protocol_version": protocol, "release": release}
        handler = type("Scripted", (Fake,), attributes)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield serve
    release.set()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "status, payload, expected",
    [
        (500, {"error": {"message": "model crashed"}}, "answered HTTP 500 Internal Server Error: model crashed"),
        (404, {"detail": "Not Found"}, "answered HTTP 404 Not Found: Not Found"),
        (401, {"error": {"message": "Invalid API key"}}, "the server refused the API key (HTTP 401 Unauthorized"),
        (403, {"message": "forbidden"}, "the server refused the API key (HTTP 403 Forbidden: forbidden)"),
    ],
)
def test_http_errors_are_one_clear_line(fake, status, payload, expected):
    url = fake(lambda h: h.reply(status, payload))
    with Engine() as eng, pytest.raises(EngineError) as info:
        eng.load(lambda: RemoteBackend(url)).result(10)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_api_key_from_the_environment_is_sent_only_when_set(fake, monkeypatch):
    url = fake()
    monkeypatch.delenv("REDRAFT_API_KEY", raising=False)
    RemoteBackend(url).load()
    monkeypatch.setenv("REDRAFT_API_KEY", "from-env")
    RemoteBackend(url).load()
    RemoteBackend(url, api_key="given").load()
    sent = [{k.lower(): v for k, v in h.items()}.get("authorization") for h in Fake.seen_headers]
    assert sent == [None, "Bearer from-env", "Bearer given"]


def test_a_silent_server_times_out_on_load(fake, monkeypatch):
    monkeypatch.setattr(remote, "LOAD_S", 0.5)
    url = fake(lambda h: h.release.wait(10))  # accepts, never answers
    started = time.monotonic()
    with pytest.raises(EngineError, match=r"cannot reach the server at .*: no answer within 0.5 s"):
        RemoteBackend(url).load()
    assert time.monotonic() - started < 8  # the limit cut it, not the server (which holds 10 s): no tight timing


@pytest.mark.parametrize("ending", ["eof", "chunked", "reset"])
def test_the_server_going_away_mid_stream_is_an_error_result(fake, ending):
    def two_tokens_then_gone(h):
        chunked = ending == "chunked"
        h.start_stream(chunked)
        h.event("Hello", chunked)
        h.event(" there", chunked)
        h.close_connection = True
        if ending == "reset":
            time.sleep(0.2)  # let the client read both tokens before the reset
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()

    url = fake(on_post=two_tokens_then_gone, protocol="HTTP/1.1" if ending == "chunked" else "HTTP/1.0")
    drafts = []
    with Engine() as eng:
        eng.load(lambda: RemoteBackend(url)).result(10)
        result = eng.edit(EditRequest(DOC, *SPAN, seed=1), drafts.append)
    assert result.stop_reason == "error" and result.text == "" and [d.text for d in drafts] == ["Hello", "Hello there"]
    assert result.error.startswith("the server closed the stream after 2 tokens: ")


def test_cancel_takes_effect_while_the_server_is_silent(fake):
    def one_token_then_silence(h):
        h.start_stream()
        h.event("Hello")
        h.release.wait(10)

    url = fake(on_post=one_token_then_silence)
    with Engine() as eng:
        eng.load(lambda: RemoteBackend(url)).result(10)
        cancelled_at = []

        def on_draft(_draft):
            threading.Timer(0.3, lambda: (cancelled_at.append(time.monotonic()), eng.cancel())).start()

        result = eng.edit(EditRequest(DOC, *SPAN, seed=1), on_draft)
        waited = time.monotonic() - cancelled_at[0]
    # Ended by the cancel, not by the server (which stays silent 10 s); a bound far from one run's timing.
    assert result.stop_reason == "cancelled" and waited < 5


def finish_chunk(reason):
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': {}, 'finish_reason': reason}]})}\n\n".encode()


@pytest.mark.parametrize(
    "ending, expected",
    [
        (b": ping\n\ndata: [DONE]\n\n", "the server closed the stream after 1 tokens: it sent [DONE] without a finish"),
        (finish_chunk("abort") + b"data: [DONE]\n\n", "the server stopped after 1 tokens: finish reason 'abort'"),
        (b'data: {"error": {"message": "CUDA out of memory"}}\n\n', "the server failed after 1 tokens: CUDA out of"),
        (b"data: {not json\n\n", "the server sent an unreadable chunk after 1 tokens: "),
    ],
)
def test_a_stream_that_ends_badly_is_an_error_result(fake, ending, expected):
    def one_token_then(h):
        h.start_stream()
        h.event("Hello")
        h.wfile.write(ending)

    url = fake(on_post=one_token_then)
    with Engine() as eng:
        eng.load(lambda: RemoteBackend(url)).result(10)
        result = eng.edit(EditRequest(DOC, *SPAN, seed=1))
    assert result.stop_reason == "error" and result.text == "" and result.error.startswith(expected)


def test_a_well_formed_fake_stream_and_an_http_error_on_the_edit(fake):
    def stream(h):
        h.start_stream()
        h.event("Hello")
        h.wfile.write(b": ping\r\n\r\n" + finish_chunk("stop"))  # a comment line, CRLF endings
        h.wfile.write(b'data: {"choices": [], "usage": {"completion_tokens": 3}}\n\ndata: [DONE]\n\n')

    with Engine() as eng:
        eng.load(lambda: RemoteBackend(fake(on_post=stream))).result(10)
        result = eng.edit(EditRequest(DOC, *SPAN, seed=1))
        assert (result.stop_reason, result.text, result.steps, result.tokens) == ("eos", "Hello", 1, 3)
        too_long = {"object": "error", "message": "This model's maximum context length is 2048 tokens", "code": 400}
        eng.load(lambda: RemoteBackend(fake(on_post=lambda h: h.reply(400, too_long)))).result(10)
        result = eng.edit(EditRequest(DOC, *SPAN, seed=1))
    assert result.stop_reason == "error" and result.error.endswith(
        "answered HTTP 400 Bad Request: This model's maximum context length is 2048 tokens"
    )
