"""Remote backend: any OpenAI-compatible server (vLLM serving DiffusionGemma, llama.cpp's server, ...).

This is how a GPU box or a cluster serves the editor. Each edit is one streamed `POST /chat/completions` with
the same user message every backend sends; each content delta is one draft. Choices, checked against
llama-cpp-python's server:
- Tokens are counted approximately (`count_tokens`): the server tokenizes, and asking it would cost a round
  trip per line. Three UTF-8 bytes per token over-counts English and code, so the context stays inside the
  request's budget.
- Only `seed` is sent with the sampling parameters (random when the request has none): the server applies
  the model's own sampling defaults (vLLM reads the model's generation config) and a seed makes them
  reproducible. Temperature 0 is not forced: it would give every seed the same text.
- Servers send no per-token confidence, so every piece reports 1.0: streamed tokens are final.
- Each request runs as a coroutine (httpx, streaming) on a private event loop, watched every `POLL_S`:
  a cancel, or no progress for the idle limit, cancels the coroutine, which closes the connection at once,
  whether it is connecting, sending or waiting. Closing it is what makes the server stop generating.
- What a server sends is bounded: lines (`MAX_LINE_BYTES`), bodies (`MAX_BODY_BYTES`), tokens (a few times
  what was asked for) and time without a new token (`IDLE_S`). Every failure is one line naming the cause.
- A stream that ends without a finish reason (reset, cut off, or `[DONE]` too early), or with one other than
  "stop" or "length" (vLLM's "abort", "content_filter"), is an error: the text is incomplete, and the user's
  text stays as it was.
Only the configured URL is contacted: no redirects are followed and no proxy settings are read.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2 as httpx

from engine.prompt import build_context
from engine.types import (
    Cancelled,
    Draft,
    EditRequest,
    EditResult,
    EngineError,
    ModelInfo,
    ModelLoadError,
    RequestError,
    one_line,
)

API_KEY_ENV = "REDRAFT_API_KEY"
POLL_S = 0.05  # how often a running request looks at the cancel flag and the idle clock
CONNECT_S = 10.0  # a server that has not accepted the connection by then is unreachable
LOAD_S = 10.0  # the model list (connect, answer and body) must have come by then
IDLE_S = 60.0  # an edit cut off after this long without a new token (prompt processing included; pings don't count)
MAX_LINE_BYTES = 1 << 20  # one line of the event stream; a whole 256-token canvas is a few KB
MAX_BODY_BYTES = 1 << 20  # a model list; an error body is read up to this and cut
OUTPUT_SLACK = 2  # a server may send this many times the tokens asked for before it is cut off
TOKEN_BYTES = 32  # bytes of text counted as one token against that cap (no real token is longer)
FILL_TOKENS = 64
MAX_REWRITE_TOKENS = 1024
MID_ANSWER = "the connection ended mid-answer"
SERVER_WORDS = 200  # characters of a server's own error message quoted in ours

# What each HTTP status means for the user, after the server's own words.
_STATUS_HINTS = {
    404: "check the URL (it usually ends in /v1) and the model name",
    429: "the server is rate limiting requests: wait and try again",
    500: "the server failed; its log says why",
    502: "the server (or a proxy in front of it) is unavailable: try again later",
    503: "the server (or a proxy in front of it) is unavailable: try again later",
    504: "the server (or a proxy in front of it) timed out: try again later",
}


class _Malformed(Exception):
    """The server sent something that is not an OpenAI-compatible answer; the message says what."""


class _Stalled(Exception):
    """Nothing progressed for the idle limit."""


class _ServerFailed(Exception):
    """The stream carried an error event; the message is the server's own words."""


class RemoteBackend:
    family = "remote"

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key or os.environ.get(API_KEY_ENV) or None
        self._info: ModelInfo | None = None
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"the server URL must start with http:// or https://, not {base_url!r}")
        self._url = url
        self._tls = httpx.create_ssl_context()  # built once: httpx would build one per client (~0.1 s each)

    def load(self) -> ModelInfo:
        # 1. Ask the server what it serves; any failure is one line naming the server.
        try:
            body = _Watch(threading.Event(), LOAD_S).run(self._get_models())
        except _Stalled:
            raise ModelLoadError(f"cannot reach the server at {self.base_url}: no answer within {LOAD_S:g} s") from None
        except EngineError as exc:
            raise ModelLoadError(str(exc)) from None
        except (_Malformed, httpx.TransportError) as exc:
            raise ModelLoadError(f"the server at {self.base_url} sent an unreadable model list: {_why(exc)}") from None
        models = _listed_models(body, self.base_url)
        # 2. Pick the model: the one asked for, which the server must list, else the first listed.
        if not models:
            raise ModelLoadError(f"the server at {self.base_url} lists no models")
        if self.model is None:
            self.model = next(iter(models))
        elif self.model not in models:
            raise ModelLoadError(
                f"the server at {self.base_url} does not serve {self.model!r}; it serves: {', '.join(models)}"
            )
        entry = models[self.model]
        details = {"base_url": self.base_url}
        details |= {k: one_line(entry[k]) for k in ("owned_by", "max_model_len") if k in entry}
        self._info = ModelInfo(
            id=self.model, family=self.family, backend="openai-compatible", device=self._url.netloc,
            dtype="server-side", details=details,
        )  # fmt: skip
        return self._info

    def info(self) -> ModelInfo:
        if self._info is None:
            raise RuntimeError("the backend is not loaded")
        return self._info

    def close(self) -> None:
        pass  # nothing is held between edits: each one opens and closes its own connection

    def count_tokens(self, text: str) -> int:
        return len(text.encode("utf-8")) // 3 + 1  # an over-estimate, see the module docstring

    def edit(
        self, request: EditRequest, on_draft: Callable[[Draft], None], cancel_event: threading.Event
    ) -> EditResult:
        started = time.perf_counter()
        if self._info is None:
            raise RuntimeError("the backend is not loaded")
        # 1. Prompt and limits: the server tokenizes, so the budget is kept with approximate counts.
        context = build_context(request, self.count_tokens, request.context_budget)
        if request.max_new_tokens:
            max_tokens = request.max_new_tokens
        elif request.mode == "fill":
            max_tokens = FILL_TOKENS
        else:
            max_tokens = min(2 * context.span_tokens + 16, MAX_REWRITE_TOKENS)
        body = {
            "model": self.model,
            "messages": context.messages(),
            "max_tokens": max_tokens,
            "seed": request.seed if request.seed is not None else random.randrange(2**31),
            "stream": True,
            "stream_options": {"include_usage": True},  # ignored by servers that do not know it
        }

        # 2. Stream: one draft per content delta, until the server finishes, a limit is hit, or cancel.
        stream = _Stream(max_tokens, on_draft, started)
        watch = _Watch(cancel_event, IDLE_S)
        try:
            watch.run(self._stream(body, stream, watch))
            if stream.finish is None:  # llama_cpp.server ends a stream this way when a newer request interrupts it
                why = "it sent [DONE] without a finish reason" if stream.done else MID_ANSWER
                raise RequestError(f"the server closed the stream after {stream.count} tokens: {why}")
            if stream.finish not in ("stop", "length"):
                raise RequestError(
                    f"the server stopped after {stream.count} tokens: finish reason {one_line(stream.finish)!r}"
                )
            stop_reason = "eos" if stream.finish == "stop" else "length"
        except Cancelled:
            stop_reason = "cancelled"
        except _Stalled:
            raise RequestError(
                f"the server sent no new token for {IDLE_S:g} s after {stream.count} tokens; it was cut off"
            ) from None
        except _ServerFailed as exc:
            raise RequestError(f"the server failed after {stream.count} tokens: {exc}") from None
        except _Malformed as exc:
            raise RequestError(f"the server sent an unreadable chunk after {stream.count} tokens: {exc}") from None
        except httpx.TransportError as exc:
            raise RequestError(f"the server closed the stream after {stream.count} tokens: {_why(exc)}") from None

        # 3. Result: the accumulated deltas; nothing on cancel.
        elapsed = time.perf_counter() - started
        text = "".join(stream.pieces) if stop_reason != "cancelled" else ""
        tokens = stream.text_tokens() if text else 0
        return EditResult(
            text=text,
            steps=len(stream.pieces),
            tokens=tokens,
            first_draft_s=stream.first_draft_s,
            elapsed_s=elapsed,
            tokens_per_s=tokens / elapsed if elapsed > 0 else 0.0,
            model_id=self.model or "",
            stop_reason=stop_reason,
        )

    # -- the coroutines a `_Watch` runs ----------------------------------------------------------------------

    async def _get_models(self) -> bytes:
        async with self._client() as client:
            response = await self._open(client, "GET", "/models", None)
            try:
                return await _read_body(response, refuse_over=True)
            finally:
                await response.aclose()

    async def _stream(self, body: dict, stream: _Stream, watch: _Watch) -> None:
        async with self._client() as client:
            response = await self._open(client, "POST", "/chat/completions", body)
            try:
                kind = response.headers.get("content-type", "")
                if not kind.startswith("text/event-stream"):
                    words = _error_message(await _read_body(response))
                    said = f": {words}" if words else ""
                    raise RequestError(
                        f"the server at {self.base_url} answered with {kind or 'no type'}, not a stream{said}"
                    )
                async for data in _data_lines(response):
                    if watch.cancel_event.is_set():
                        raise Cancelled  # between events too: no draft after a cancel
                    if data == "[DONE]":
                        stream.done = True
                        break
                    if stream.take(data):
                        watch.progress()
                    if stream.capped:
                        break  # the cap: closing the connection stops the server
            finally:
                await response.aclose()  # a body not read to its end closes the connection

    def _client(self) -> httpx.AsyncClient:
        headers = {"Accept-Encoding": "identity"}  # raw bytes: a compressed body could expand past the limits
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(None, connect=CONNECT_S),  # the rest is the watch's idle limit
            verify=self._tls,
            trust_env=False,  # no proxies or .netrc from the environment: only the configured URL
        )

    async def _open(self, client: httpx.AsyncClient, method: str, path: str, body: dict | None) -> httpx.Response:
        """Send one request; a connection or HTTP failure becomes a `RequestError` naming the server."""
        accept = "text/event-stream" if body else "application/json"
        request = client.build_request(method, path, json=body, headers={"Accept": accept})
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise RequestError(f"cannot reach the server at {self.base_url}: {_why(exc)}") from None
        if response.status_code == 200:
            return response
        try:
            words = _error_message(await _read_body(response))
        except httpx.TransportError:
            words = ""
        finally:
            await response.aclose()
        raise RequestError(self._http_error(response, words))

    def _http_error(self, response: httpx.Response, words: str) -> str:
        status = response.status_code
        said = f"HTTP {status} {one_line(response.reason_phrase or '')}".strip()
        said += f": {words}" if words else ""
        if status in (401, 403):
            unset = "" if self.api_key else " (none is set)"
            return f"the server refused the API key ({said}): check {API_KEY_ENV}{unset}"
        hint = _STATUS_HINTS.get(status)
        return f"the server at {self.base_url} answered {said}" + (f"; {hint}" if hint else "")


@dataclass
class _Stream:
    """What an edit's stream has brought so far; `take` reads one event into it."""

    max_tokens: int
    on_draft: Callable[[Draft], None]
    started: float
    pieces: list[str] = field(default_factory=list)
    text_bytes: int = 0
    usage_tokens: int | None = None
    finish: str | None = None
    first_draft_s: float | None = None
    done: bool = False  # the server sent [DONE]
    capped: bool = False  # the output cap ended it

    @property
    def count(self) -> int:
        return len(self.pieces)

    def take(self, data: str) -> bool:
        """Read one `data:` payload; True if it brought a token or a finish reason (progress)."""
        content, finish, usage = _parse_chunk(data)
        self.usage_tokens = usage if usage is not None else self.usage_tokens
        self.finish = finish or self.finish
        if not content:
            return finish is not None
        self.pieces.append(content)
        self.text_bytes += len(content.encode("utf-8"))
        elapsed = time.perf_counter() - self.started
        self.first_draft_s = self.first_draft_s or elapsed
        self.on_draft(Draft.streamed(self.pieces, self.max_tokens, elapsed))
        # The cap: a server that ignores max_tokens is cut off, its text kept as a server's own "length" is.
        if max(self.count, self.text_bytes // TOKEN_BYTES) >= OUTPUT_SLACK * self.max_tokens:
            self.finish, self.capped = "length", True
        return True

    def text_tokens(self) -> int:
        """Decoded tokens of the text: the server's own count where it gives one (vLLM sends a canvas as one
        delta), which is at least one per delta and at most one per byte (padding and end tokens add none)."""
        if self.usage_tokens is None:
            return self.count
        return max(self.count, min(self.usage_tokens, self.text_bytes))


class _Watch:
    """Runs one request's coroutine on a private event loop and cancels it when the cancel flag is set or
    nothing has progressed for `idle_s`. Cancelling it closes its connection, in any phase."""

    def __init__(self, cancel_event: threading.Event, idle_s: float) -> None:
        self.cancel_event, self.idle_s = cancel_event, idle_s
        self.last = time.monotonic()

    def progress(self) -> None:
        self.last = time.monotonic()

    def run(self, work: Coroutine):
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(self._watch(work))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()  # not asyncio.run: it would wait for a name lookup still running in the executor

    async def _watch(self, work: Coroutine):
        task = asyncio.ensure_future(work)
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_S)
            if done:
                return task.result()
            if self.cancel_event.is_set():
                why: Exception = Cancelled()
            elif time.monotonic() - self.last > self.idle_s:
                why = _Stalled()
            else:
                continue
            if not task.cancel():
                return task.result()  # it finished meanwhile
            try:
                await task  # runs the client's cleanup: the connection is closed before this returns
            except asyncio.CancelledError:
                pass  # the cancel we asked for; the reason to report is `why`
            raise why


async def _data_lines(response: httpx.Response) -> AsyncIterator[str]:
    """The `data:` payloads of a Server-Sent Events stream; comments (pings) and other fields are skipped.

    A line is refused as soon as it is over `MAX_LINE_BYTES`, so no more than that is ever held."""
    pending = bytearray()
    async for chunk in response.aiter_raw():
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            line, start = bytes(pending[start:end]).rstrip(b"\r"), end + 1
            if len(line) > MAX_LINE_BYTES:
                break
            if line.startswith(b"data:"):
                try:
                    yield line[5:].strip().decode("utf-8")
                except UnicodeDecodeError:
                    raise _Malformed("a data line that is not UTF-8") from None
        del pending[:start]
        if len(pending) > MAX_LINE_BYTES:
            raise _Malformed(f"a line over {MAX_LINE_BYTES} bytes")


async def _read_body(response: httpx.Response, refuse_over: bool = False) -> bytes:
    """Up to `MAX_BODY_BYTES` of a body: refused past that when `refuse_over`, else cut there."""
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            if refuse_over:
                raise _Malformed(f"a body over {MAX_BODY_BYTES} bytes")
            del body[MAX_BODY_BYTES:]
            break
    return bytes(body)


def _parse_chunk(data: str) -> tuple[str, str | None, int | None]:
    """One chat-completion chunk's content, finish reason and completion-token count (first choice only).

    Raises `_Malformed` saying what is wrong, or `_ServerFailed` with the server's words for an error event."""
    if not data:
        raise _Malformed("an empty data line")
    try:
        chunk = json.loads(data)
    except ValueError:
        raise _Malformed(f"not JSON: {_excerpt(data)}") from None
    if not isinstance(chunk, dict):
        raise _Malformed(f"JSON that is not an object: {_excerpt(data)}")
    if "error" in chunk or chunk.get("object") == "error":
        raise _ServerFailed(_error_message(chunk))
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise _Malformed(f"no list of choices: {_excerpt(data)}")
    usage = chunk.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    tokens = tokens if type(tokens) is int and tokens >= 0 else None
    content, finish = "", None
    for choice in choices:
        if not isinstance(choice, dict) or not isinstance(choice.get("delta", {}), dict):
            raise _Malformed(f"a choice that is not an object with a delta: {_excerpt(data)}")
        if choice.get("index", 0) != 0:
            continue  # one choice is asked for
        if "delta" not in choice and choice.get("finish_reason") is None:
            raise _Malformed(f"a choice with neither a delta nor a finish reason: {_excerpt(data)}")
        piece, reason = (choice.get("delta") or {}).get("content"), choice.get("finish_reason")
        if not isinstance(piece, str | None) or not isinstance(reason, str | None):
            raise _Malformed(f"content or finish reason that is not text: {_excerpt(data)}")
        content, finish = content + (piece or ""), reason or finish
    return content, finish, tokens


def _listed_models(body: bytes, where: str) -> dict[str, dict]:
    """The models of an OpenAI `GET /models` answer by id; anything else is one line."""
    try:
        listing = json.loads(body)
    except ValueError:
        said = _error_message(body)
        raise ModelLoadError(f"the server at {where} sent a model list that is not JSON: {said}") from None
    listed = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(listed, list):
        said = _excerpt(body.decode("utf-8", "replace"))
        raise ModelLoadError(f"the server at {where} sent no list of models: {said}")
    return {m["id"]: m for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)}


def _error_message(body: bytes | dict) -> str:
    """The server's own words: OpenAI's {"error": {"message"}}, vLLM's {"message"}, FastAPI's {"detail"}; an
    HTML page's title; else the start of the text."""
    try:
        data = json.loads(body) if isinstance(body, bytes) else body
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        found = error.get("message") if isinstance(error, dict) else error or data.get("message") or data.get("detail")
        if found:
            return _excerpt(found if isinstance(found, str) else json.dumps(found))
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else json.dumps(body)
    if re.match(r"\s*<(!doctype html|html)", text, re.IGNORECASE):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        return f"an HTML page{f' titled {_excerpt(title[1])!r}' if title and title[1].strip() else ''}"
    return _excerpt(text) if text.strip() else ""


def _excerpt(text: str) -> str:
    """At most `SERVER_WORDS` characters of what a server said, on one line."""
    text = " ".join(text.split())
    return text if len(text) <= SERVER_WORDS else text[: SERVER_WORDS - 3] + "..."


def _why(exc: BaseException) -> str:
    """A transport failure in words: the OS's reason beneath httpx's wrappers where there is one."""
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {CONNECT_S:g} s"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{MID_ANSWER} ({one_line(exc)})"
    return one_line(exc) if str(exc).strip() else "the connection failed"  # not httpx's bare class name


def _causes(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
