"""Hand-built spans in the shape tracing records them (see ``pytest_flywheel.store.records``)."""

from __future__ import annotations

import itertools
from typing import Any

from pytest_flywheel.store.records import SpanRecord

_clock = itertools.count(1)


def llm_span(
    kwargs: dict[str, Any],
    response: dict[str, Any] | None,
    *,
    base_url: str = "https://api.anthropic.com",
    stream: bool = False,
    endpoint: str = "messages.create",
    parent_id: str | None = "root",
    error: dict[str, Any] | None = None,
) -> SpanRecord:
    tick = next(_clock)
    return SpanRecord(
        id=f"llm{tick}",
        trace_id="trace1",
        parent_id=parent_id,
        name="anthropic.messages",
        type="llm",
        start_time=float(tick),
        end_time=float(tick) + 0.5,
        input=kwargs,
        output=response,
        error=error,
        metadata={"anthropic": {"endpoint": endpoint, "stream": stream, "base_url": base_url}},
        model=str(kwargs.get("model")),
    )


def tool_span(
    name: str,
    arguments: dict[str, Any],
    result: Any = None,
    *,
    error: dict[str, Any] | None = None,
    parent_id: str | None = "root",
    span_id: str | None = None,
) -> SpanRecord:
    tick = next(_clock)
    return SpanRecord(
        id=span_id or f"tool{tick}",
        trace_id="trace1",
        parent_id=parent_id,
        name=name,
        type="tool",
        start_time=float(tick),
        end_time=float(tick) + 0.1,
        input=arguments,
        output=result,
        error=error,
    )


def ask(text: str, *, model: str = "claude-sonnet-5-5", **extra: Any) -> dict[str, Any]:
    """``messages.create`` keyword arguments for one user message."""
    return {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": text}], **extra}
