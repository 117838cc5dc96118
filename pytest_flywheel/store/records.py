"""The rows the store holds, as plain dataclasses shared by tracing, capture, analysis and runs.

JSON-valued fields (``input``, ``output``, ``error``, ``tags``, ``metadata``) hold Python values that
are already JSON-safe (tracing makes them so); the store encodes them as JSON text.

Times are Unix epoch seconds (float); durations are milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SpanType = Literal["general", "llm", "tool", "retrieval", "guardrail"]
SPAN_TYPES: tuple[str, ...] = ("general", "llm", "tool", "retrieval", "guardrail")
SpanStatus = Literal["ok", "error"]


@dataclass
class SpanRecord:
    """One finished span. ``parent_id`` is None for the root span of a trace.

    ``error`` is ``{"type": ..., "message": ..., "traceback": ...}`` when the call raised.
    For ``llm`` spans made by ``track_anthropic``: ``input`` is the exact request keyword arguments
    (``{"model": ..., "messages": [...], ...}``), ``output`` is the raw response JSON (a stream is
    reassembled into the final message), and ``metadata["anthropic"]`` holds
    ``{"endpoint": "messages.create" | "messages.stream", "stream": bool, "base_url": str}``
    so that capture can write the HTTP interaction again.
    """

    id: str
    trace_id: str
    parent_id: str | None
    name: str
    type: str
    start_time: float
    end_time: float
    project: str = "default"
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    module: str | None = None
    qualname: str | None = None
    file: str | None = None
    line: int | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cost_usd: float | None = None
    stop_reason: str | None = None

    @property
    def duration_ms(self) -> float:
        return (self.end_time - self.start_time) * 1000.0

    @property
    def status(self) -> SpanStatus:
        return "error" if self.error else "ok"

    @property
    def location(self) -> str | None:
        """``module:qualname``, the form a suite's ``target`` takes."""
        if self.module and self.qualname:
            return f"{self.module}:{self.qualname}"
        return None


@dataclass
class TraceRecord:
    """A trace: its root span's summary plus totals over all its spans."""

    id: str
    project: str
    name: str
    status: SpanStatus
    start_time: float
    end_time: float
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    location: str | None = None
    span_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def duration_ms(self) -> float:
        return (self.end_time - self.start_time) * 1000.0


@dataclass
class FeedbackRecord:
    """A production signal on a trace: ``value`` is a number, a bool or a short string."""

    trace_id: str
    name: str
    value: Any
    reason: str | None = None
    created_at: float = 0.0
    id: int | None = None
