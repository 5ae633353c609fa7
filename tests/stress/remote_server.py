"""A misbehaving OpenAI-compatible server on 127.0.0.1 against the remote backend, through the real Engine.

Each case is a raw socket server (the shapes of tests/engine/backends/test_remote_misbehaving.py) that serves
a model list, then misbehaves on the edit: connections cut (before answering, after the head, mid-event, by
a reset), malformed events, one 10 MB line, a slow drip of a valid answer, a drip of keep-alives only (cut at
the backend's idle limit), and HTTP 401/429/500. Each must end in a result: text, or one error line with no
Python words in it. Figures per case: the time to the result and the peak of Python allocations during it
(tracemalloc, every thread), and the RSS gained over the whole run.
"""

from __future__ import annotations

import re
import socket
import struct
import time
import tracemalloc

from tests.stress import common

PYTHON = re.compile(r"Traceback|\w+(Error|Exception)\b|object has no attribute|not subscriptable|NoneType")


def _cases(quick: bool):
    from tests.engine.backends.test_remote_misbehaving import STREAM_HEAD, answers, finish, read_request, token

    def sends(payload: bytes, then_close: str = "close"):
        def script(server, conn):
            read_request(conn)
            conn.sendall(payload)
            if then_close == "reset":  # RST instead of FIN
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return script

    def drips(payload: bytes, delay: float):
        def script(server, conn):
            read_request(conn)
            for i in range(len(payload)):
                conn.send(payload[i : i + 1])
                time.sleep(delay)
        return script

    def keepalives(server, conn):
        read_request(conn)
        conn.sendall(STREAM_HEAD + token("Hello"))
        while not server.stop.is_set():
            for byte in b": keep-alive\n\n":
                conn.send(bytes([byte]))
                time.sleep(0.01)

    valid = STREAM_HEAD + token("Hello") + token(" world") + finish("stop") + b"data: [DONE]\n\n"
    json_ = b"application/json"
    cases = [
        ("cut: closed before answering", sends(b"")),
        ("cut: closed after the response head", sends(STREAM_HEAD)),
        ("cut: closed mid-event", sends(STREAM_HEAD + token("Hello") + b'data: {"choi')),
        ("cut: reset (RST) mid-stream", sends(STREAM_HEAD + token("Hello"), "reset")),
        ("cut: [DONE] without a finish reason", sends(STREAM_HEAD + token("Hello") + b"data: [DONE]\n\n")),
        ("malformed: JSON that is not an object", sends(STREAM_HEAD + token("Hi") + b"data: [1, 2]\n\n")),
        ("malformed: not JSON", sends(STREAM_HEAD + token("Hi") + b"data: {not json\n\n")),
        ("malformed: not UTF-8", sends(STREAM_HEAD + token("Hi") + b"data: \xff\xfe{}\n\n")),
        ("malformed: choices not a list", sends(STREAM_HEAD + token("Hi") + b'data: {"choices": "abc"}\n\n')),
        ("malformed: content a number", sends(STREAM_HEAD + b'data: {"choices": [{"index": 0, "delta": {"content": 5}}]}\n\n')),
        ("malformed: an HTML page instead of a stream", answers(b"200 OK", b"text/html", b"<html><title>Bad Gateway</title></html>")),
        ("one 10 MB line", sends(STREAM_HEAD + token("Hello") + b"data: " + b"x" * 10_000_000 + b"\n\n")),
        ("slow drip: a valid answer, 1 byte per 3 ms", drips(valid, 0.003)),
        ("drip of keep-alives only (cut at the idle limit)", keepalives),
        ("HTTP 401", answers(b"401 Unauthorized", json_, b'{"error": {"message": "Invalid API key"}}')),
        ("HTTP 429", answers(b"429 Too Many Requests", json_, b'{"error": {"message": "slow down"}}')),
        ("HTTP 500", answers(b"500 Internal Server Error", json_, b'{"error": "model crashed"}')),
    ]
    return cases


def run(quick: bool) -> dict:
    started = time.monotonic()
    from engine import EditRequest, Engine
    from engine.backends import remote
    from engine.backends.remote import RemoteBackend
    from tests.engine.backends.test_remote_misbehaving import DOC, SPAN, RawServer

    idle_default = remote.IDLE_S
    if quick:
        remote.IDLE_S = 3.0  # the keep-alive drip would otherwise take the default's whole minute
    rss0 = common.rss_mb()
    figures, failures, rows = {}, [], []
    worst_time, worst_peak = (0.0, ""), (0.0, "")
    for name, script in _cases(quick):
        server = RawServer(script)
        try:
            with Engine() as engine:
                engine.load(lambda: RemoteBackend(server.url)).result(30)
                tracemalloc.start()
                t0 = time.monotonic()
                try:
                    result = engine.submit(EditRequest(DOC, *SPAN, seed=1)).result(idle_default + 60)
                    elapsed = time.monotonic() - t0
                finally:
                    _, peak = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
        except TimeoutError:
            failures.append(f"{name}: no result")
            continue
        finally:
            server.close()
        line = result.error or ""
        one_line = result.ok or (bool(line) and "\n" not in line and len(line) <= 400 and not PYTHON.search(line))
        ending = result.stop_reason if result.ok else f"error: {line}"
        rows.append((name, elapsed, peak))
        if not one_line:
            failures.append(f"{name}: not one clear line: {line!r}")
        figures[f"{name}"] = f"{elapsed:.2f} s, {peak / 2**20:.1f} MB peak — {ending[:160]}"
        if elapsed > worst_time[0]:
            worst_time = (elapsed, name)
        if peak > worst_peak[0]:
            worst_peak = (peak, name)
    remote.IDLE_S = idle_default
    rss1 = common.rss_mb()
    summary = {
        "cases": len(rows),
        "idle limit used (s)": 3.0 if quick else idle_default,
        "worst time to result (s)": round(worst_time[0], 2),
        "worst time, case": worst_time[1],
        "worst peak Python allocations (MB)": round(worst_peak[0] / 2**20, 1),
        "worst peak, case": worst_peak[1],
        "RSS before/after all cases (MB)": f"{rss0:.0f}/{rss1:.0f}",
    }
    n_ok = len(rows) - len(failures)
    checks = [
        common.check("server cases ending in a result or one clear line", f"{n_ok}/{len(rows)}", f"{len(rows)}/{len(rows)}", not failures and rows),
        common.check("worst peak Python allocations (MB)", round(worst_peak[0] / 2**20, 1), "< 16", worst_peak[0] < 16 * 2**20),
    ]
    return common.result("A misbehaving server (remote backend)", __doc__.split("\n\n")[1].replace("\n", " "),
                         {**summary, **figures}, checks, failures, started)


if __name__ == "__main__":
    common.main(run)
