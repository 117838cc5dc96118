"""Hand-built traces written straight to a real store, for rule edge cases the SDK tests don't pin."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.store import SpanRecord, Store, TraceRecord

_ids = itertools.count(1)


@dataclass
class TraceBuilder:
    """Spans of one trace, laid out in time one after another (children inside their parent)."""

    name: str = "answer_question"
    input: Any = None
    project: str = "default"
    start: float = 1_700_000_000.0
    trace_id: str = field(default_factory=lambda: f"trace{next(_ids):06d}")
    spans: list[SpanRecord] = field(default_factory=list)
    _clock: float = 0.0

    def __post_init__(self) -> None:
        self._clock = self.start
        self.root = self.span(self.name, "general", parent=None, input=self.input)

    def span(
        self,
        name: str,
        type: str = "general",
        *,
        parent: SpanRecord | str | None = "root",
        input: Any = None,
        output: Any = None,
        error: dict[str, Any] | None = None,
        duration: float = 0.01,
        **extra: Any,
    ) -> SpanRecord:
        if isinstance(parent, SpanRecord):
            parent_id: str | None = parent.id
        else:
            parent_id = None if parent is None else self.root.id
        self._clock += 0.001
        record = SpanRecord(
            id=f"{self.trace_id}-s{len(self.spans):02d}",
            trace_id=self.trace_id,
            parent_id=parent_id,
            name=name,
            type=type,
            start_time=self._clock,
            end_time=self._clock + duration,
            project=self.project,
            input=input,
            output=output,
            error=error,
            module="agent",
            qualname=name,
            **extra,
        )
        self._clock += duration
        self.spans.append(record)
        return record

    def finish(
        self,
        store: Store,
        *,
        output: Any = None,
        error: dict[str, Any] | None = None,
        duration_ms: float | None = None,
        cost_usd: float = 0.0,
    ) -> TraceRecord:
        root = self.root
        root.output = output
        root.error = error
        root.end_time = (
            (root.start_time + duration_ms / 1000) if duration_ms is not None else self._clock + 0.001
        )
        trace = TraceRecord(
            id=self.trace_id,
            project=self.project,
            name=self.name,
            status="error" if error else "ok",
            start_time=root.start_time,
            end_time=root.end_time,
            input=self.input,
            output=output,
            error=error,
            location=f"agent:{self.name}",
            span_count=len(self.spans),
            cost_usd=cost_usd,
        )
        store.write_spans(self.spans, [trace])
        return trace


def traceback_text(*chain: tuple[str, str, str]) -> str:
    """A Python-format traceback for a chain of (type, message, function), oldest first."""
    blocks = []
    for number, (kind, message, func) in enumerate(chain):
        blocks.append(
            "Traceback (most recent call last):\n"
            f'  File "/app/agent/tools.py", line {10 + number}, in {func}\n'
            "    do_it()\n"
            f"{kind}: {message}\n"
        )
    return "\nThe above exception was the direct cause of the following exception:\n\n".join(blocks)
