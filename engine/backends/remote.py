"""Remote backend: any OpenAI-compatible server (vLLM serving DiffusionGemma, llama.cpp's server, ...).

This is how a GPU box or a cluster serves the editor. Each edit is one streamed `POST /chat/completions` with
the same user message every backend sends; each content delta is one draft. Choices, checked against
llama-cpp-python's server:
- Tokens are counted approximately (`count_tokens`): the server tokenizes, and asking it would cost a round
  trip per line. Three UTF-8 bytes per token over-counts English and code, so the context stays inside the
  budget.
- Only `seed` is sent with the sampling parameters (random when the request has none): the server applies
  the model's own sampling defaults (vLLM reads the model's generation config) and a seed makes them
  reproducible. Temperature 0 is not forced: it would give every seed the same text.
- Servers send no per-token confidence, so every piece reports 1.0: streamed tokens are final.
- Reads wait in slices of `POLL_S` (a socket timeout), so a cancel is seen within `POLL_S` even while the
  server is silent; the connection is then closed, which makes the server stop generating.
- A stream that ends without a finish reason (reset, cut off, or `[DONE]` too early), or with one other than
  "stop" or "length" (vLLM's "abort", "content_filter"), is an error: the text is incomplete, and the user's
  text stays as it was.
Only the configured URL is contacted: http.client follows no redirects. Standard library only.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from engine.prompt import DEFAULT_CONTEXT_BUDGET, build_context
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
POLL_S = 0.25  # how long a read waits before looking at the cancel flag again
FILL_TOKENS = 64
MAX_REWRITE_TOKENS = 1024
MID_ANSWER = "the connection ended mid-answer"


class RemoteBackend:
    family = "remote"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        context_budget: int = DEFAULT_CONTEXT_BUDGET,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key or os.environ.get(API_KEY_ENV) or None
        self.timeout_s = timeout_s
        self.context_budget = context_budget
        self._info: ModelInfo | None = None
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"the server URL must start with http:// or https://, not {base_url!r}")
        self._url = url

    def load(self) -> ModelInfo:
        # 1. Ask the server what it serves; any failure is one line naming the server.
        try:
            conn, response = self._send("GET", "/models", None, threading.Event())
            try:
                listing = json.loads(response.read())
            finally:
                response.close()
                conn.close()
        except EngineError as exc:
            raise ModelLoadError(str(exc)) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ModelLoadError(
                f"the server at {self.base_url} sent an unreadable model list: {one_line(exc)}"
            ) from None
        listed = listing.get("data") if isinstance(listing, dict) else None
        models = {m["id"]: m for m in listed or [] if isinstance(m, dict) and "id" in m}
        # 2. Pick the model: the one asked for, which the server must list, else the first listed.
        if not models:
            raise ModelLoadError(f"the server at {self.base_url} lists no models")
        if self.model is None:
            self.model = next(iter(models))
        elif self.model not in models:
            raise ModelLoadError(
                f"the server at {self.base_url} does not serve {self.model!r}; it serves: {', '.join(map(str, models))}"
            )
        entry = models[self.model]
        details = {"base_url": self.base_url}
        details |= {k: str(entry[k]) for k in ("owned_by", "max_model_len") if k in entry}
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
        context = build_context(request, self.count_tokens, self.context_budget)
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

        # 2. Stream: one draft per content delta; cancel is seen between chunks and while waiting for one.
        pieces: list[str] = []
        first_draft_s = usage_tokens = finish = None
        conn = response = None
        done = False
        try:
            conn, response = self._send("POST", "/chat/completions", body, cancel_event)
            kind = response.getheader("Content-Type", "")
            if not kind.startswith("text/event-stream"):
                raise RequestError(f"the server at {self.base_url} answered with {kind or 'no type'}, not a stream")
            for event in _sse_events(response):
                if done := event == "[DONE]":
                    break
                chunk = json.loads(event)
                if "error" in chunk or chunk.get("object") == "error":
                    raise RequestError(f"the server failed after {len(pieces)} tokens: {_error_message(chunk)}")
                usage_tokens = (chunk.get("usage") or {}).get("completion_tokens", usage_tokens)
                for choice in chunk.get("choices") or []:
                    finish = choice.get("finish_reason") or finish
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        pieces.append(piece)
                        elapsed = time.perf_counter() - started
                        first_draft_s = first_draft_s or elapsed
                        on_draft(Draft.streamed(pieces, max_tokens, elapsed))
                if cancel_event.is_set():
                    raise Cancelled
            if finish is None:  # llama_cpp.server ends a stream this way when a newer request interrupts it
                why = "it sent [DONE] without a finish reason" if done else MID_ANSWER
                raise RequestError(f"the server closed the stream after {len(pieces)} tokens: {why}")
            if finish not in ("stop", "length"):
                raise RequestError(f"the server stopped after {len(pieces)} tokens: finish reason {finish!r}")
            stop_reason = "eos" if finish == "stop" else "max_steps"
        except Cancelled:
            stop_reason = "cancelled"
        except TimeoutError:
            raise RequestError(
                f"the server stopped sending after {len(pieces)} tokens: nothing came for {self.timeout_s:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            why = MID_ANSWER if isinstance(exc, http.client.IncompleteRead) else one_line(exc)
            raise RequestError(f"the server closed the stream after {len(pieces)} tokens: {why}") from None
        except ValueError as exc:  # json: a chunk that is not JSON
            raise RequestError(
                f"the server sent an unreadable chunk after {len(pieces)} tokens: {one_line(exc)}"
            ) from None
        finally:
            for part in (response, conn):
                if part is not None:
                    part.close()  # on cancel, this is what stops the server

        # 3. Result: the accumulated deltas; nothing on cancel.
        elapsed = time.perf_counter() - started
        text = "".join(pieces) if stop_reason != "cancelled" else ""
        tokens = usage_tokens if isinstance(usage_tokens, int) else len(pieces)
        return EditResult(
            text=text,
            steps=len(pieces),
            tokens=tokens,
            first_draft_s=first_draft_s,
            elapsed_s=elapsed,
            tokens_per_s=tokens / elapsed if text and elapsed > 0 else 0.0,
            model_id=self.model or "",
            stop_reason=stop_reason,
        )

    def _send(self, method: str, path: str, body: dict | None, cancel_event: threading.Event):
        """Send one request; a connection or HTTP failure becomes an `EngineError` naming the server."""
        url, where = self._url, f"cannot reach the server at {self.base_url}"
        kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = kind(url.hostname, url.port, timeout=self.timeout_s)
        conn.response_class = lambda sock, **kw: _PatientResponse(sock, cancel_event, self.timeout_s, **kw)
        headers = {"Accept": "text/event-stream" if body else "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = json.dumps(body).encode("utf-8") if body is not None else None
        try:
            conn.request(method, url.path + path, body=payload, headers=headers)
            response = conn.getresponse()
        except ConnectionRefusedError:
            conn.close()
            raise RequestError(f"{where}: connection refused") from None
        except socket.gaierror:
            conn.close()
            raise RequestError(f"{where}: unknown host {url.hostname!r}") from None
        except TimeoutError:
            conn.close()
            raise RequestError(f"{where}: no answer within {self.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise RequestError(f"{where}: {one_line(exc)}") from None
        if response.status != 200:
            status = f"HTTP {response.status} {response.reason}".strip()
            message = _error_message(response.read(65536))
            conn.close()
            said = f"{status}: {message}" if message else status
            if response.status in (401, 403):
                hint = "" if self.api_key else f"; none was sent: set {API_KEY_ENV}"
                raise RequestError(f"the server refused the API key ({said}){hint}")
            raise RequestError(f"the server at {self.base_url} answered {said}")
        return conn, response


class _PatientResponse(http.client.HTTPResponse):
    """An HTTP response whose bytes are read in `POLL_S` slices, so waiting for the server can be cancelled."""

    def __init__(self, sock, cancel_event: threading.Event, stall_s: float, **kwargs) -> None:
        super().__init__(sock, **kwargs)
        sock.settimeout(POLL_S)
        self.fp = io.BufferedReader(_SlicedReader(self.fp, sock, cancel_event, stall_s))


class _SlicedReader(io.RawIOBase):
    """Reads the socket directly; holds the socket's own file, which keeps it open until this is closed."""

    def __init__(self, socket_file, sock, cancel_event: threading.Event, stall_s: float) -> None:
        self._file, self._sock, self._cancel, self._stall_s = socket_file, sock, cancel_event, stall_s

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()
        super().close()

    def readinto(self, buffer) -> int:
        waited = 0.0
        while not self._cancel.is_set():
            try:
                return self._sock.recv_into(buffer)
            except TimeoutError:
                waited += POLL_S
                if waited >= self._stall_s:
                    raise
        raise Cancelled


def _sse_events(response):
    """The `data:` payloads of a Server-Sent Events stream; comments (pings) and other fields are skipped."""
    pending = b""
    while chunk := response.read1(65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if line.startswith(b"data:"):
                yield line[5:].strip().decode("utf-8")


def _error_message(body: bytes | dict) -> str:
    """The server's own words: OpenAI's {"error": {"message"}}, vLLM's {"message"}, FastAPI's {"detail"}."""
    try:
        data = json.loads(body) if isinstance(body, bytes) else body
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        found = error.get("message") if isinstance(error, dict) else error or data.get("message") or data.get("detail")
        if found:
            return one_line(found)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else json.dumps(body)
    return one_line(text) if text.strip() else ""
