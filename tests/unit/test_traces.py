"""Trace records (``ftapi.traces``): bounded, the key masked, unreadable lines skipped."""

from __future__ import annotations

from pathlib import Path

from ftapi.traces import (
    MAX_CALLS,
    MAX_TEXT_CHARS,
    LlmCallTrace,
    TraceMessage,
    append_llm_call,
    read_llm_calls,
)


def call(content: str, response: str = "ok") -> LlmCallTrace:
    return LlmCallTrace(
        model="m",
        messages=[TraceMessage(role="user", content=content)],
        response=response,
        prompt_tokens=3,
        completion_tokens=1,
        cost_usd=0.01,
        latency_s=0.2,
    )


def test_a_call_round_trips_with_the_secret_masked(tmp_path: Path) -> None:
    path = tmp_path / "round" / "llm_calls.jsonl"
    assert append_llm_call(path, call("key sk-SECRET1 here", "sk-SECRET1"), secret="sk-SECRET1")
    (read,) = read_llm_calls(path)
    assert read.messages[0].content == "key *** here" and read.response == "***"
    assert read.cost_usd == 0.01 and read.prompt_tokens == 3
    assert "sk-SECRET1" not in path.read_text()


def test_texts_and_files_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "llm_calls.jsonl"
    assert append_llm_call(path, call("x" * (MAX_TEXT_CHARS * 3)))
    (read,) = read_llm_calls(path)
    assert len(read.messages[0].content) < MAX_TEXT_CHARS + 100
    assert "more characters not kept" in read.messages[0].content
    for _ in range(MAX_CALLS - 1):
        assert append_llm_call(path, call("q"))
    assert not append_llm_call(path, call("one too many"))
    assert len(read_llm_calls(path)) == MAX_CALLS


def test_unreadable_lines_are_skipped_and_missing_files_are_empty(tmp_path: Path) -> None:
    path = tmp_path / "llm_calls.jsonl"
    append_llm_call(path, call("a"))
    with path.open("a") as handle:
        handle.write("{not json\n")
        handle.write('{"model": 3}\n')
    append_llm_call(path, call("b"))
    assert [c.messages[0].content for c in read_llm_calls(path)] == ["a", "b"]
    assert read_llm_calls(tmp_path / "missing.jsonl") == []
