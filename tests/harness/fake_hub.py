"""A local stand-in for the Hugging Face Hub's HTTP API, enough for ``snapshot_download``:
``/api/{models,datasets}/<repo>/revision/<rev>`` and ``[datasets/]<repo>/resolve/<rev>/<file>``.

Tests point ``HF_ENDPOINT`` at it, so the prepare step's real huggingface_hub code path runs
against local fixtures over real HTTP. Repos can require a token (gated repos).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Repo:
    files: dict[str, bytes]
    token: str | None = None


@dataclass
class Fault:
    """A transient failure the fake Hub answers ``times`` requests whose path contains
    ``path`` with: an HTTP ``status`` (with ``Retry-After``), a body cut in half
    (``truncate``) or a connection closed without an answer (``reset``)."""

    path: str
    times: int = 1
    status: int | None = None
    retry_after: int | None = None
    truncate: bool = False
    reset: bool = False


@dataclass
class FakeHub:
    repos: dict[tuple[str, str], Repo] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def add(
        self, repo_type: str, repo_id: str, files: dict[str, bytes | str], token: str | None = None
    ) -> None:
        self.repos[(repo_type, repo_id)] = Repo(
            {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}, token
        )

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.handle_request(body=False)

            def do_GET(self) -> None:
                self.handle_request(body=True)

            def handle_request(self, body: bool) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                path = urllib.parse.unquote(self.path.split("?", 1)[0])  # non-ASCII names
                if self.inject_fault(path, body):
                    return
                api = re.fullmatch(r"/api/(models|datasets)/(.+?)/revision/([^/]+)", path)
                resolve = re.fullmatch(r"/(datasets/)?(.+?)/resolve/([^/]+)/(.+)", path)
                if api:
                    repo_type = "model" if api.group(1) == "models" else "dataset"
                    repo = self.repo(repo_type, api.group(2))
                    if repo is None:
                        return
                    payload = json.dumps(
                        {
                            "id": api.group(2),
                            "sha": SHA,
                            "siblings": [{"rfilename": name} for name in sorted(repo.files)],
                        }
                    ).encode()
                    self.reply(200, payload, {"Content-Type": "application/json"}, body)
                elif resolve:
                    repo_type = "dataset" if resolve.group(1) else "model"
                    repo = self.repo(repo_type, resolve.group(2))
                    if repo is None:
                        return
                    content = repo.files.get(resolve.group(4))
                    if content is None:
                        self.reply(404, b"", {"X-Error-Code": "EntryNotFound"}, body)
                        return
                    etag = hashlib.sha256(content).hexdigest()
                    self.reply(200, content, {"X-Repo-Commit": SHA, "ETag": f'"{etag}"'}, body)
                else:
                    self.reply(404, b"", {}, body)

            def inject_fault(self, path: str, body: bool) -> bool:
                fault = next((f for f in hub.faults if f.times > 0 and f.path in path), None)
                if fault is None or (fault.truncate and not body):
                    return False
                fault.times -= 1
                if fault.reset:
                    self.close_connection = True
                    return True
                if fault.status is not None:
                    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                    self.reply(fault.status, b'{"error": "try later"}', headers, body)
                    return True
                resolve = re.fullmatch(r"/(datasets/)?(.+?)/resolve/([^/]+)/(.+)", path)
                repo_type = "dataset" if resolve and resolve.group(1) else "model"
                repo = hub.repos.get((repo_type, resolve.group(2))) if resolve else None
                content = repo.files.get(resolve.group(4), b"") if repo and resolve else b""
                etag = hashlib.sha256(content).hexdigest()
                self.send_response(200)
                for key, value in {"X-Repo-Commit": SHA, "ETag": f'"{etag}"'}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content[: len(content) // 2])
                self.close_connection = True
                return True

            def repo(self, repo_type: str, repo_id: str) -> Repo | None:
                repo = hub.repos.get((repo_type, repo_id))
                if repo is None:
                    self.reply(
                        404,
                        b'{"error": "Repository not found"}',
                        {"X-Error-Code": "RepositoryNotFound"},
                        True,
                    )
                    return None
                if repo.token and self.headers.get("Authorization") != f"Bearer {repo.token}":
                    self.reply(
                        401,
                        b'{"error": "Access to this repo is restricted"}',
                        {"X-Error-Code": "GatedRepo"},
                        True,
                    )
                    return None
                return repo

            def reply(self, code: int, payload: bytes, headers: dict[str, str], body: bool) -> None:
                self.send_response(code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body:
                    self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
