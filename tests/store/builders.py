"""Hand-built traces written through ``Store.write_spans``: exact times, errors, tokens and costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.store import FeedbackRecord, SpanRecord, Store, TraceRecord

#: A fixed moment (2026-09-21 14:13:20 UTC) that hand-computed figures are relative to.
T0 = 1_790_000_000.0
DAY = 86_400.0


@dataclass
class Child:
    """A span under the root (or under ``parent``, another child's id suffix)."""

    name: str
    type: str = "tool"
    offset_ms: float = 1.0
    ms: float = 10.0
    parent: str | None = None
    error: tuple[str, str] | None = None
    input: Any = None
    output: Any = None
    model: str | None = None
    tokens: tuple[int, int] | None = None
    cost: float | None = None
    key: str | None = None


@dataclass
class Feedback:
    name: str
    value: Any
    reason: str | None = None


@dataclass
class TraceSpec:
    id: str
    start: float
    ms: float = 100.0
    name: str = "support_agent"
    project: str = "default"
    error: tuple[str, str] | None = None
    input: Any = field(default_factory=lambda: {"question": "Where is my order?"})
    output: Any = "It ships today."
    tags: list[str] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)


def _error(pair: tuple[str, str] | None) -> dict[str, Any] | None:
    return None if pair is None else {"type": pair[0], "message": pair[1], "traceback": "Traceback ..."}


def write_traces(store: Store, *specs: TraceSpec) -> None:
    """Write each trace: a root span, its children, the trace summary (totals summed), its feedback."""
    for spec in specs:
        root_id = f"{spec.id}-root"
        spans = [
            SpanRecord(
                id=root_id,
                trace_id=spec.id,
                parent_id=None,
                name=spec.name,
                type="general",
                start_time=spec.start,
                end_time=spec.start + spec.ms / 1000,
                project=spec.project,
                input=spec.input,
                output=None if spec.error else spec.output,
                error=_error(spec.error),
                tags=list(spec.tags),
                module="agent",
                qualname=spec.name,
            )
        ]
        tokens_in = tokens_out = 0
        cost = 0.0
        for index, child in enumerate(spec.children):
            key = child.key or f"c{index}"
            start = spec.start + child.offset_ms / 1000
            spans.append(
                SpanRecord(
                    id=f"{spec.id}-{key}",
                    trace_id=spec.id,
                    parent_id=f"{spec.id}-{child.parent}" if child.parent else root_id,
                    name=child.name,
                    type=child.type,
                    start_time=start,
                    end_time=start + child.ms / 1000,
                    project=spec.project,
                    input=child.input,
                    output=child.output,
                    error=_error(child.error),
                    model=child.model,
                    input_tokens=child.tokens[0] if child.tokens else None,
                    output_tokens=child.tokens[1] if child.tokens else None,
                    cost_usd=child.cost,
                )
            )
            if child.tokens:
                tokens_in += child.tokens[0]
                tokens_out += child.tokens[1]
            cost += child.cost or 0.0
        trace = TraceRecord(
            id=spec.id,
            project=spec.project,
            name=spec.name,
            status="error" if spec.error else "ok",
            start_time=spec.start,
            end_time=spec.start + spec.ms / 1000,
            input=spec.input,
            output=None if spec.error else spec.output,
            error=_error(spec.error),
            tags=list(spec.tags),
            location=f"agent:{spec.name}",
            span_count=len(spans),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
        )
        store.write_spans(spans, [trace])
        for fb in spec.feedback:
            store.add_feedback(
                FeedbackRecord(
                    trace_id=spec.id,
                    name=fb.name,
                    value=fb.value,
                    reason=fb.reason,
                    created_at=spec.start + 60,
                )
            )
