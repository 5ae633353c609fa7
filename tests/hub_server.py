"""A small real HTTP server on 127.0.0.1 that speaks the part of the Hugging Face Hub API huggingface_hub uses
to download: model info with file metadata (`/api/models/<repo>/revision/<rev>?blobs=true`) and resolve URLs
(HEAD and GET `/<repo>/resolve/<rev>/<file>`, with ETag, X-Repo-Commit, Content-Length and Range).

It serves real bytes from memory and can misbehave on purpose: drop a transfer after N bytes, require a
token (a gated repository), pause mid-transfer, claim a size larger than the disk, or announce a wrong hash.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from engine.models.catalog import CatalogEntry

LFS_SUFFIXES = (".safetensors", ".gguf")

# The catalog entry of the tiny checkpoint the tests serve as a Hub repository.
REPO = "test-org/tiny-diffusion-gemma"
ENTRY = CatalogEntry(
    id="tiny-diffusion-gemma",
    name="Tiny DiffusionGemma",
    family="diffusion_gemma",
    backend="diffusion_gemma",
    format="safetensors",
    architecture="diffusion_gemma",
    repo=REPO,
    files=("*.json", "*.jinja", "*.safetensors"),
    size_gb=0.003,
    memory_gb={"fp32": 0.01},
    canvas_length=32,
    license="Apache-2.0",
    good_for="tests",
)


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = "c0ffee" * 6 + "c0de"
    token: str | None = None  # gated: requests must carry "Bearer <token>"
    claimed_size: dict[str, int] = field(default_factory=dict)  # what model info says, if not the truth
    wrong_sha256: set[str] = field(default_factory=set)  # files whose announced hash is wrong


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range header
        self.drop_after: dict[str, int] = {}  # file name -> bytes to send before cutting the next GET
        self.hold: dict[str, tuple[int, threading.Event]] = {}  # file name -> send N bytes, wait for the event
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "HubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def ranges(self, name: str) -> list[str | None]:
        return [r for m, p, r in self.requests if m == "GET" and p.endswith("/" + name)]


def sibling(name: str, data: bytes, repo: Repo) -> dict:
    size = repo.claimed_size.get(name, len(data))
    if name.endswith(LFS_SUFFIXES):
        sha = hashlib.sha256(data).hexdigest()
        if name in repo.wrong_sha256:
            sha = hashlib.sha256(data + b"!").hexdigest()
        return {"rfilename": name, "size": size, "blobId": "0" * 40, "lfs": {"sha256": sha, "size": size, "pointerSize": 134}}
    return {"rfilename": name, "size": size, "blobId": git_oid(data)}


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _handler(hub: HubServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append((self.command, path, self.headers.get("Range")))
            info = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
            resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            repo_id = (info or resolve).group(1) if (info or resolve) else None
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            if repo.token and self.headers.get("Authorization") != f"Bearer {repo.token}":
                return self._error(401, "GatedRepo", "Access to this model is restricted")
            if info:
                payload = json.dumps(
                    {"id": repo_id, "sha": repo.commit, "siblings": [sibling(n, d, repo) for n, d in repo.files.items()]}
                ).encode()
                return self._send(200, {"Content-Type": "application/json"}, payload if body else b"", len(payload))
            name = resolve.group(3)
            if name not in repo.files:
                return self._error(404, "EntryNotFound", "Entry not found")
            data = repo.files[name]
            etag = sibling(name, data, repo).get("lfs", {}).get("sha256") or git_oid(data)
            headers = {"ETag": f'"{etag}"', "X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and body:
                start = int(match.group(1))
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            chunk = data[start:]
            if not body:
                return self._send(200, headers, b"", len(data))
            cut = hub.drop_after.pop(name, None)
            if cut is not None:  # send the headers for everything, then part of it, then hang up
                self._send(206 if start else 200, headers, chunk[:cut], len(chunk))
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return None
            held = hub.hold.pop(name, None)
            if held is not None:
                count, release = held
                self._send(206 if start else 200, headers, chunk[:count], len(chunk))
                self.wfile.flush()
                release.wait(30)
                self.wfile.write(chunk[count:])
                return None
            return self._send(206 if start else 200, headers, chunk, len(chunk))

        def _error(self, status: int, code: str, message: str) -> None:
            payload = json.dumps({"error": message}).encode()
            headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
            self._send(status, headers, payload if self.command == "GET" else b"", len(payload))

        def _send(self, status: int, headers: dict, payload: bytes, length: int) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

    return Handler
