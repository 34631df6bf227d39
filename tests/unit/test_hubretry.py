"""Retrying transient Hub failures: what counts as transient, and how long to wait."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ftoperator.hubretry import is_transient, retry_after, with_retries


class HttpError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} error")
        self.response = SimpleNamespace(status_code=status, headers=headers or {})


def wrapped(inner: BaseException) -> Exception:
    try:
        raise inner
    except BaseException as exc:
        try:
            raise RuntimeError("cannot find the snapshot locally") from exc
        except RuntimeError as outer:
            return outer


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (HttpError(429), True),
        (HttpError(503), True),
        (wrapped(HttpError(502)), True),
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError(), True),
        (OSError("Consistency check failed: file should be of size 10 but has size 5"), True),
        (HttpError(404), False),
        (HttpError(401), False),
        (wrapped(HttpError(403)), False),
        (ValueError("not a JSON array"), False),
    ],
)
def test_what_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert retry_after(HttpError(429, {"Retry-After": "7"})) == 7.0
    assert retry_after(HttpError(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(HttpError(503)) is None


def test_backoff_honours_retry_after_within_the_cap_and_gives_up() -> None:
    waits: list[float] = []
    failures = [HttpError(429, {"Retry-After": "30"}), HttpError(503), ConnectionResetError()]

    def flaky() -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    assert with_retries(flaky, attempts=5, base=1, cap=20, sleep=waits.append) == "done"
    assert waits == [20, 2, 4]  # Retry-After 30 capped at 20, then 2 ** attempt
    with pytest.raises(HttpError):
        with_retries(lambda: (_ for _ in ()).throw(HttpError(503)), attempts=3, sleep=waits.append)
    calls: list[int] = []

    def missing() -> None:
        calls.append(1)
        raise HttpError(404)

    with pytest.raises(HttpError):
        with_retries(missing, attempts=5, sleep=waits.append)
    assert calls == [1]


def test_errors_are_classified_by_status_not_by_digits_in_the_message() -> None:
    from ftoperator.prepare import explain

    missing = HttpError(404)
    missing.args = ("404 Client Error for url: http://127.0.0.1:40341/api/models/org/x",)
    kind, message = explain(missing, "base model 'org/x'")
    assert kind == "environment" and "not found on the Hub" in message
    kind, message = explain(HttpError(403), "base model 'org/x'")
    assert kind == "environment" and "access denied" in message
    kind, message = explain(HttpError(503), "base model 'org/x'")
    assert kind == "infrastructure" and "kept failing" in message
