"""A local OpenAI-compatible chat-completions server, scripted per test.

Serves ``POST /v1/chat/completions`` on 127.0.0.1 from a queue of replies (each with usage
token counts, so litellm computes a real cost for a priced model name such as
``openai/gpt-4o-mini``), with optional per-model rules (e.g. always HTTP 500 for one model)
and a per-reply delay. Every request body is recorded for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    status: int = 200
    content: str = ""
    prompt_tokens: int = 1000
    completion_tokens: int = 500
    delay_s: float = 0.0
    message: str = ""
    """The error message of a failing reply (``scripted <status>`` when empty)."""


class ScriptedLlmServer:
    """Answers chat completions from a script; see the module docstring."""

    def __init__(self) -> None:
        self.queue: deque[Scripted] = deque()
        self.failures: deque[Scripted] = deque()
        self.rules: dict[str, Scripted] = {}
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        """The Authorization header of every request (what key the client sent)."""
        self.responder: Callable[[dict[str, Any]], str] | None = None
        """When set, answers every request with ``responder(request body)`` (a scripted judge
        that reads the prompt), instead of the queue."""
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.authorizations.append(self.headers.get("authorization", ""))
                server._handle(self, body)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def start(self) -> ScriptedLlmServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    # scripting
    def reply(self, content: str, **kwargs: Any) -> None:
        self.queue.append(Scripted(content=content, **kwargs))

    def fail(self, status: int = 500, message: str = "") -> None:
        self.queue.append(Scripted(status=status, message=message))

    def fail_next(self, *statuses: int) -> None:
        """The next requests get these statuses, before any rule, responder or queue."""
        self.failures.extend(Scripted(status=status) for status in statuses)

    def rule(self, model: str, status: int = 500) -> None:
        """Every request for ``model`` (as the server sees it, e.g. gpt-4o) gets ``status``."""
        self.rules[model] = Scripted(status=status)

    def models_seen(self) -> list[str]:
        return [request.get("model", "") for request in self.requests]

    # serving
    def _handle(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            model = body.get("model", "")
            scripted = self.failures.popleft() if self.failures else None
            if scripted is None:
                scripted = self.rules.get(model)
            if scripted is None and self.responder is not None:
                scripted = Scripted(
                    content=self.responder(body), prompt_tokens=60, completion_tokens=1
                )
            if scripted is None:
                scripted = self.queue.popleft() if self.queue else Scripted(status=503)
        try:
            if scripted.delay_s:
                time.sleep(scripted.delay_s)
            if scripted.status != 200:
                message = scripted.message or f"scripted {scripted.status}"
                payload = {"error": {"message": message, "type": "error"}}
            else:
                payload = {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": scripted.content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": scripted.prompt_tokens,
                        "completion_tokens": scripted.completion_tokens,
                        "total_tokens": scripted.prompt_tokens + scripted.completion_tokens,
                    },
                }
            data = json.dumps(payload).encode()
            handler.send_response(scripted.status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        finally:
            with self._lock:
                self.in_flight -= 1
