"""Transient Hub failures are retried, with backoff that honours ``Retry-After``.

A prepare step downloads gigabytes through huggingface_hub; a connection reset, a timeout, a
body cut short, a 429 or a 5xx must not end a campaign. :func:`with_retries` retries such
failures within the step (huggingface_hub resumes partial files from its ``.incomplete``
copies); what is still failing afterwards is reported as an infrastructure failure, which the
operator retries later as a new attempt. Not found, gated without a token, or a file in the
wrong layout fail at once: no retry can fix them.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import TypeVar

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_TRANSIENT_TEXT = (
    "Consistency check failed",  # huggingface_hub: the file on disk is shorter than announced
    "Connection broken",
    "IncompleteRead",
    "Read timed out",
    "Connection reset",
    "RemoteDisconnected",
)


def causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of the first error in the chain that carries a response."""
    for cause in causes(exc):
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked to wait (``Retry-After``: seconds or an HTTP date)."""
    for cause in causes(exc):
        headers = getattr(getattr(cause, "response", None), "headers", None) or {}
        value = headers.get("Retry-After") if hasattr(headers, "get") else None
        if not value:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether retrying may help: 408/425/429/5xx, resets, timeouts, cut-short bodies."""
    status = http_status(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    for cause in causes(exc):
        if isinstance(
            cause,
            ConnectionError | TimeoutError | socket.timeout | http.client.IncompleteRead,
        ):
            return True
        name = type(cause).__name__
        if name in ("ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout",
                    "ChunkedEncodingError", "ProtocolError", "RemoteDisconnected"):  # fmt: skip
            return True
        if any(text in str(cause) for text in _TRANSIENT_TEXT):
            return True
    return False


def with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 5,
    base: float = 2.0,
    cap: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, float, BaseException], None] | None = None,
) -> T:
    """``fn()``, retried after transient failures: exponential backoff from ``base`` seconds
    (at most ``cap``), or the server's ``Retry-After`` when it asks for longer (also at most
    ``cap``); the last failure is raised after ``attempts`` tries."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts - 1 or not is_transient(exc):
                raise
            delay = min(cap, max(base * 2**attempt, retry_after(exc) or 0.0))
            if on_retry is not None:
                on_retry(attempt + 1, delay, exc)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
