"""The agent's LLM gateway: the only way generated (untrusted) scripts reach a model.

The LLM key stays in the agent process. For each data-script loop the agent starts an
:class:`LlmGateway`: an OpenAI-compatible ``POST /v1/chat/completions`` served on a Unix
socket (``http.server`` over ``socketserver.UnixStreamServer``) in a folder the gateway creates
for the run. The sandbox (:mod:`ftagent.sandbox`) binds that folder into the script's mount
namespace, the script's helper (:mod:`ftagent.script_api`) finds the socket through
``FT_LLM_GATEWAY_SOCKET``: the script has no key and no network, only this socket.

Each request is checked and forwarded with ``litellm.completion`` (as
:class:`~ftagent.llm_client.LlmClient` calls it), with the agent's key:

- ``model`` must be a pool name (``strong`` / ``weak``: the pool's models are tried in order,
  as the planner does) or one of the campaign's configured models
  (``spec.planner.llm.strongModels`` / ``weakModels``); anything else is refused (HTTP 400).
- Only ``messages`` and a few sampling parameters (temperature, max_tokens, top_p, stop, seed,
  response_format) are forwarded; anything else a script sends (``api_base``, ``api_key``,
  headers, callbacks) is ignored, so a script cannot send the key elsewhere.
- At most ``maxWorkers`` calls run at once.
- Metered: tokens, cost (litellm's cost accounting, :func:`~ftagent.llm_client.response_cost`)
  and latency of every attempt are appended to ``llm_gateway.jsonl`` in the round folder
  (never the key; the key's value is scrubbed from every error text, in the log and in the
  replies), and each cost is added to the step's :class:`~ftagent.llm_client.CostMeter`, so the
  step's reported ``llm_cost`` includes the script's calls.
- Refused with HTTP 429 once the campaign's LLM budget is spent. The budget is
  ``spec.planner.llm.costBudgetUsd`` against what the campaign spent before this step (the
  operator's books, ``StepRequest.llm_spent_usd``, or the earlier plans' costs when higher)
  plus this step's meter: nothing a script can write. A call is admitted only while budget is
  left, and once calls have a known cost, concurrent calls are admitted only while the
  remaining budget covers them all at the largest cost seen, so the spend stops within one call
  of the budget.
"""

from __future__ import annotations

import json
import logging
import shutil
import socketserver
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from ftagent.llm_client import (
    DEFAULT_TIMEOUT_S,
    CostMeter,
    LlmSettings,
    llm_retries,
    load_litellm,
    response_cost,
    scrub,
)

log = logging.getLogger(__name__)

GATEWAY_LOG_NAME = "llm_gateway.jsonl"
SOCKET_NAME = "llm.sock"
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MAX_BODY_BYTES = 16 * 1024**2
MAX_MESSAGES = 256
ROLES = ("system", "user", "assistant")
PARAMS: dict[str, tuple[type, ...]] = {
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "seed": (int,),
    "stop": (str, list),
    "response_format": (dict,),
}
"""The request fields forwarded to the model besides ``messages`` (with their JSON types)."""


class GatewayReply(Exception):
    """An HTTP error reply (status and message) for the calling script."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "code": self.status}}


class LlmGateway:
    """Serves generated scripts' LLM calls with the agent's key; see the module docstring."""

    def __init__(
        self,
        settings: LlmSettings,
        *,
        api_key: str | None,
        meter: CostMeter,
        budget_usd: float | None,
        spent_before_usd: float,
        log_path: Path,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        folder_parent: Path | None = None,
    ) -> None:
        self.settings = settings
        self._api_key = api_key or ("EMPTY" if settings.api_base else None)
        self._secret = api_key
        self.meter = meter
        self.budget_usd = budget_usd
        self.spent_before_usd = spent_before_usd
        self.log_path = log_path
        self.timeout_s = timeout_s
        self._folder_parent = folder_parent
        self.folder: Path | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._in_flight = 0
        self._largest_cost = 0.0
        self._spent = 0.0
        self._calls = 0
        self._log_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    @property
    def socket_path(self) -> Path:
        if self.folder is None:
            raise RuntimeError("the gateway is not started")
        return self.folder / SOCKET_NAME

    def start(self) -> LlmGateway:
        parent = self._folder_parent or Path(tempfile.gettempdir())
        # Short on purpose: a Unix socket path must stay under 108 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="ftgw-", dir=parent))
        # In a folder of its own: the socket is for the sandbox only. A given parent is the
        # pod's shared folder, where the script container's user (another uid) connects.
        shared = self._folder_parent is not None
        self.folder.chmod(0o755 if shared else 0o700)
        self._server = _Server(str(self.socket_path), _Handler)
        self._server.gateway = self
        self.socket_path.chmod(0o666 if shared else 0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="llm-gateway", daemon=True
        )
        self._thread.start()
        log.info("LLM gateway listening on %s", self.socket_path)
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        log.info("LLM gateway closed: %d call(s), $%.6f", self._calls, self._spent)

    def __enter__(self) -> LlmGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ accounting

    @property
    def spent(self) -> float:
        """US dollars the gateway's calls cost (also added to the step's meter)."""
        with self._cond:
            return self._spent

    def remaining(self) -> float | None:
        if self.budget_usd is None:
            return None
        return self.budget_usd - self.spent_before_usd - self.meter.spent

    def _admit(self) -> None:
        """Wait for a slot; GatewayReply(429) once the budget is spent."""
        with self._cond:
            while True:
                remaining = self.remaining()
                if remaining is not None and remaining <= 0:
                    total = self.spent_before_usd + self.meter.spent
                    raise GatewayReply(
                        429,
                        f"LLM cost budget spent: ${total:.4f} of ${self.budget_usd:.4f} "
                        "(spec.planner.llm.costBudgetUsd); the gateway makes no further calls "
                        "for this campaign",
                        "budget_exhausted",
                    )
                if self._in_flight < self.settings.max_workers and (
                    remaining is None
                    or self._in_flight == 0
                    or (
                        self._largest_cost > 0
                        and remaining > (self._in_flight + 1) * self._largest_cost
                    )
                ):
                    self._in_flight += 1
                    return
                self._cond.wait()

    def _release(self, cost: float) -> None:
        with self._cond:
            self._in_flight -= 1
            if cost > 0:
                self._spent += cost
                self._largest_cost = max(self._largest_cost, cost)
                self.meter.add(cost)
            self._cond.notify_all()

    def _record(self, entry: dict[str, Any]) -> None:
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry}
        if "error" in entry:
            entry["error"] = scrub(str(entry["error"]), self._secret)[:500]
        line = json.dumps(entry, ensure_ascii=False)
        with self._log_lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    # ------------------------------------------------------------------ requests

    def _models(self, requested: Any) -> tuple[str, ...]:
        if requested in ("strong", "weak"):
            return self.settings.pool(requested)
        configured = (*self.settings.strong_models, *self.settings.weak_models)
        if isinstance(requested, str) and requested in configured:
            return (requested,)
        allowed = ", ".join(["strong", "weak", *dict.fromkeys(configured)])
        raise GatewayReply(400, f"model {requested!r} is not allowed; use one of: {allowed}")

    @staticmethod
    def _messages(body: Mapping[str, Any]) -> list[dict[str, str]]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not 0 < len(messages) <= MAX_MESSAGES:
            raise GatewayReply(400, f"messages must be a list of 1 to {MAX_MESSAGES} messages")
        clean = []
        for message in messages:
            if (
                not isinstance(message, dict)
                or message.get("role") not in ROLES
                or not isinstance(message.get("content"), str)
            ):
                raise GatewayReply(
                    400, "each message must be {role: system|user|assistant, content: string}"
                )
            clean.append({"role": message["role"], "content": message["content"]})
        return clean

    @staticmethod
    def _params(body: Mapping[str, Any]) -> dict[str, Any]:
        params = {}
        for name, types in PARAMS.items():
            value = body.get(name)
            if value is not None and isinstance(value, types) and not isinstance(value, bool):
                params[name] = value
        return params

    def handle(self, body: Any) -> dict[str, Any]:
        """Answer one chat-completion request body; GatewayReply for an error reply."""
        if not isinstance(body, dict):
            raise GatewayReply(400, "the request body must be a JSON object")
        requested = body.get("model", "weak")
        models = self._models(requested)
        messages = self._messages(body)
        params = self._params(body)
        try:
            self._admit()
        except GatewayReply as exc:
            self._record({"model": requested, "status": "refused", "error": str(exc)})
            raise
        cost = 0.0
        try:
            litellm = load_litellm()
            errors = []
            for model in models:
                started = time.monotonic()
                try:
                    response = litellm.completion(
                        model=model,
                        messages=messages,
                        api_base=self.settings.api_base,
                        api_key=self._api_key,
                        timeout=self.timeout_s,
                        num_retries=llm_retries(),
                        max_retries=0,
                        **params,
                    )
                except Exception as exc:
                    error = scrub(f"{type(exc).__name__}: {_first_line(exc)}", self._secret)
                    self._record(
                        {
                            "model": model,
                            "status": "error",
                            "latency_s": round(time.monotonic() - started, 3),
                            "error": error,
                        }
                    )
                    errors.append(f"{model}: {error}")
                    continue
                latency = time.monotonic() - started
                call_cost = response_cost(response)
                cost += call_cost
                usage = _usage(response)
                self._record(
                    {
                        "model": model,
                        "status": "ok",
                        **usage,
                        "cost": call_cost,
                        "latency_s": round(latency, 3),
                    }
                )
                with self._cond:
                    self._calls += 1
                return _completion_payload(response, model, usage)
            raise GatewayReply(
                502, "every model failed: " + "; ".join(errors)[:2000], "upstream_error"
            )
        finally:
            self._release(cost)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else "")[:300]


def _usage(response: Any) -> dict[str, int]:
    usage = getattr(response, "usage", None)
    counts = {}
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = getattr(usage, name, None) if usage is not None else None
        counts[name] = int(value) if isinstance(value, int | float) else 0
    return counts


def _completion_payload(response: Any, model: str, usage: dict[str, int]) -> dict[str, Any]:
    """The reply in the OpenAI format, rebuilt from plain fields (nothing else of litellm's)."""
    choices = []
    for index, choice in enumerate(getattr(response, "choices", None) or []):
        message = getattr(choice, "message", None)
        choices.append(
            {
                "index": index,
                "message": {"role": "assistant", "content": getattr(message, "content", "") or ""},
                "finish_reason": getattr(choice, "finish_reason", None) or "stop",
            }
        )
    return {
        "id": str(getattr(response, "id", "") or "chatcmpl-gateway"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    # socketserver's default backlog of 5 makes a Unix-socket connect fail with EAGAIN
    # when a script opens more connections at once than the accept loop has taken.
    request_queue_size = 128
    gateway: LlmGateway


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("gateway: " + format, *args)

    def address_string(self) -> str:  # a Unix socket peer has no address
        return "sandbox"

    def _reply(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") not in ("/v1/models", "/models"):
            self._reply(404, GatewayReply(404, f"no such endpoint: {self.path}").payload())
            return
        settings = self.server.gateway.settings
        names = ["strong", "weak", *dict.fromkeys((*settings.strong_models, *settings.weak_models))]
        self._reply(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

    def do_POST(self) -> None:
        gateway = self.server.gateway
        try:
            if self.path.rstrip("/") not in CHAT_PATHS:
                raise GatewayReply(404, f"no such endpoint: {self.path}")
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY_BYTES:
                raise GatewayReply(
                    413, f"the body must have a content-length of 1 to {MAX_BODY_BYTES} bytes"
                )
            try:
                body = json.loads(self.rfile.read(length))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise GatewayReply(400, f"the body is not JSON: {exc}") from exc
            self._reply(200, gateway.handle(body))
        except GatewayReply as exc:
            self._reply(exc.status, exc.payload())
        except Exception as exc:  # a gateway bug: the script gets a 500, the key never
            log.exception("gateway request failed")
            message = scrub(f"gateway error: {type(exc).__name__}: {exc}", gateway._secret)
            self._reply(500, GatewayReply(500, message, "server_error").payload())


__all__ = ["GATEWAY_LOG_NAME", "GatewayReply", "LlmGateway"]
