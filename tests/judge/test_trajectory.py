"""Trajectories built from spans: the shape the checks, the prompt and the cache key share."""

from __future__ import annotations

from typing import Any

from pytest_flywheel.judge import trajectory_from_spans
from pytest_flywheel.store.records import SpanRecord


def span(name: str, type: str, start: float, **fields: Any) -> SpanRecord:
    return SpanRecord(id=f"s-{name}-{start}", trace_id="t1", parent_id="root", name=name, type=type,
                      start_time=start, end_time=start + 0.5, **fields)


LLM_OUTPUT = {
    "id": "msg_9", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
    "content": [{"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_abc", "name": "lookup_order", "input": {"order_id": "A-17"}}],
    "stop_reason": "tool_use", "usage": {"input_tokens": 30, "output_tokens": 9},
}


def test_tool_and_llm_spans_in_start_order_others_left_out() -> None:
    spans = [  # in finishing order, as a collector holds them
        span("lookup_order", "tool", 2.0, input={"order_id": "A-17"}, output={"status": "shipped"}),
        span("messages.create", "llm", 1.0, input={"model": "claude-sonnet-5-5"}, output=LLM_OUTPUT,
             model="claude-sonnet-5-5", stop_reason="tool_use", input_tokens=30, output_tokens=9),
        span("agent", "general", 0.0, input={"q": "hi"}, output="done"),
        span("search_docs", "retrieval", 3.0, input={"q": "x"}, output=["doc"]),
    ]

    assert trajectory_from_spans(spans) == [
        {"type": "llm", "model": "claude-sonnet-5-5", "stop_reason": "tool_use", "input_tokens": 30,
         "output_tokens": 9, "tool_uses": [{"name": "lookup_order", "input": {"order_id": "A-17"}}]},
        {"type": "tool", "name": "lookup_order", "arguments": {"order_id": "A-17"}, "result": {"status": "shipped"}},
    ]


def test_a_failed_tool_keeps_its_error_without_the_traceback() -> None:
    failed = span("send_email", "tool", 1.0, input={"to": "x"},
                  error={"type": "TimeoutError", "message": "timed out", "traceback": "File a.py, line 3"})
    assert trajectory_from_spans([failed]) == [
        {"type": "tool", "name": "send_email", "arguments": {"to": "x"},
         "error": {"type": "TimeoutError", "message": "timed out"}}
    ]


def test_llm_fields_fall_back_to_the_response_json() -> None:
    bare = span("messages.create", "llm", 1.0, output=LLM_OUTPUT)
    entry = trajectory_from_spans([bare])[0]
    assert (entry["model"], entry["stop_reason"], entry["input_tokens"], entry["output_tokens"]) == (
        "claude-sonnet-5-5", "tool_use", 30, 9)


def test_equal_start_times_keep_the_given_order() -> None:
    first = span("a", "tool", 1.0, input={}, output=1)
    second = span("b", "tool", 1.0, input={}, output=2)
    assert [e["name"] for e in trajectory_from_spans([first, second])] == ["a", "b"]


def test_calls_made_inside_a_tool_are_left_out_as_replay_never_makes_them() -> None:
    outer = SpanRecord(id="outer", trace_id="t1", parent_id="root", name="check_refund", type="tool",
                       start_time=1.0, end_time=2.0, input={"order_id": "A-17"}, output={"eligible": True})
    inner = SpanRecord(id="inner", trace_id="t1", parent_id="outer", name="lookup_order", type="tool",
                       start_time=1.1, end_time=1.2, input={"order_id": "A-17"}, output={"status": "shipped"})
    deeper = SpanRecord(id="deeper", trace_id="t1", parent_id="inner", name="messages.create", type="llm",
                        start_time=1.15, end_time=1.18, output=LLM_OUTPUT)
    after = SpanRecord(id="after", trace_id="t1", parent_id="root", name="lookup_order", type="tool",
                       start_time=3.0, end_time=3.1, input={"order_id": "B-2"}, output=None)

    recorded = trajectory_from_spans([inner, deeper, outer, after])
    replayed = trajectory_from_spans([outer, after])  # the interceptor answered check_refund itself

    assert recorded == replayed
    assert [entry["name"] for entry in recorded] == ["check_refund", "lookup_order"]
