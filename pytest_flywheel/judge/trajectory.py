"""A case's trajectory: the tool calls and LLM calls its agent made, as plain JSON-safe dicts.

One shape serves three readers: the deterministic checks (``tool_called``), the judge's prompt, and
the verdict cache key. So it holds what can change a verdict and leaves out what changes on every run
without meaning anything (span ids, timestamps, tool-use ids, tracebacks with line numbers).

Entries, in the order the calls started::

    {"type": "tool", "name": "lookup_order", "arguments": {"order_id": "A1"}, "result": {...}}
    {"type": "tool", "name": "lookup_order", "arguments": {...}, "error": {"type": "KeyError", "message": "..."}}
    {"type": "llm", "model": "claude-sonnet-5-5", "stop_reason": "tool_use", "input_tokens": 812,
     "output_tokens": 64, "tool_uses": [{"name": "lookup_order", "input": {"order_id": "A1"}}]}

Other span types (the agent's own entrypoint, ``general``, ``retrieval``) are not part of it, and
neither is anything that ran *inside* a tool call (a tool calling another tool, or an LLM): replay
answers the outermost tool call from the cassette, so those inner calls happen when a case is recorded
but not when it is replayed, and a trajectory that held them would change the verdict key between the
two (a verdict judged while recording would never be found offline).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pytest_flywheel.store.records import SpanRecord


def _tool_entry(span: SpanRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "tool", "name": span.name, "arguments": span.input}
    if span.error:
        entry["error"] = {"type": span.error.get("type"), "message": span.error.get("message")}
    else:
        entry["result"] = span.output
    return entry


def _tool_uses(output: Any) -> list[dict[str, Any]]:
    content = output.get("content") if isinstance(output, dict) else None
    if not isinstance(content, list):
        return []
    return [
        {"name": block.get("name"), "input": block.get("input")}
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_use"
    ]


def _llm_entry(span: SpanRecord) -> dict[str, Any]:
    output = span.output if isinstance(span.output, dict) else {}
    usage = output.get("usage") if isinstance(output.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    entry: dict[str, Any] = {
        "type": "llm",
        "model": span.model or output.get("model"),
        "stop_reason": span.stop_reason or output.get("stop_reason"),
        "input_tokens": span.input_tokens if span.input_tokens is not None else usage.get("input_tokens"),
        "output_tokens": span.output_tokens if span.output_tokens is not None else usage.get("output_tokens"),
        "tool_uses": _tool_uses(span.output),
    }
    if span.error:
        entry["error"] = {"type": span.error.get("type"), "message": span.error.get("message")}
    return entry


def trajectory_from_spans(spans: Iterable[SpanRecord]) -> list[dict[str, Any]]:
    """The tool and LLM calls among ``spans``, in the order they started (ties: the order given)."""
    given = list(spans)
    by_id = {span.id: span for span in given}

    def inside_a_tool(span: SpanRecord) -> bool:
        parent = by_id.get(span.parent_id) if span.parent_id else None
        seen: set[str] = set()
        while parent is not None and parent.id not in seen:
            if parent.type == "tool":
                return True
            seen.add(parent.id)
            parent = by_id.get(parent.parent_id) if parent.parent_id else None
        return False

    ordered = sorted(enumerate(given), key=lambda pair: (pair[1].start_time, pair[0]))
    entries: list[dict[str, Any]] = []
    for _, span in ordered:
        if inside_a_tool(span):
            continue
        if span.type == "tool":
            entries.append(_tool_entry(span))
        elif span.type == "llm":
            entries.append(_llm_entry(span))
    return entries


def tool_calls(trajectory: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``tool`` entries of a trajectory."""
    return [entry for entry in trajectory if isinstance(entry, dict) and entry.get("type") == "tool"]
