"""Spans in flight: the current span (a ``ContextVar``), opening, closing, and where a closed span goes.

A span is a :class:`~pytest_flywheel.store.records.SpanRecord` from the moment it opens; closing it
sets the end time, output or error, then hands it to every active span collector and (unless tracing
is off or a collector says ``persist=False``) to the background writer. Nothing here raises into the
traced code: a failure inside tracing loses the span, never the call.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import Any

from pytest_flywheel.canonical import json_data
from pytest_flywheel.store.records import FeedbackRecord, SpanRecord
from pytest_flywheel.tracing.hooks import active_span_collectors, active_tool_interceptor
from pytest_flywheel.tracing.ids import new_id
from pytest_flywheel.tracing.runtime import FAULTS, RUNTIME

MAX_TRACEBACK_CHARS = 20_000

current_span: ContextVar[SpanRecord | None] = ContextVar("flywheel_current_span", default=None)


def tracing_active() -> bool:
    """Whether a traced call should make a span: tracing is on, or a test-time seam wants spans.

    With ``FLYWHEEL_TRACING=off`` nothing is stored, but a span collector or tool interceptor
    (active only while pytest-flywheel replays a case) still sees the calls, so suites behave the same.
    """
    return RUNTIME.is_on() or bool(active_span_collectors.get()) or active_tool_interceptor.get() is not None


def open_span(
    name: str,
    span_type: str,
    *,
    project: str | None = None,
    input: Any = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    module: str | None = None,
    qualname: str | None = None,
    file: str | None = None,
    line: int | None = None,
) -> SpanRecord:
    """A new span, child of the current one (or the root of a new trace). Not yet made current."""
    parent = current_span.get()
    if parent is None:
        trace_id, parent_id = new_id(), None
        project = project or RUNTIME.project
    else:
        trace_id, parent_id = parent.trace_id, parent.id
        project = project or parent.project
    return SpanRecord(
        id=new_id(), trace_id=trace_id, parent_id=parent_id, name=name, type=span_type,
        start_time=time.time(), end_time=0.0, project=project, input=input,
        tags=list(tags) if tags else [], metadata=dict(metadata) if metadata else {},
        module=module, qualname=qualname, file=file, line=line,
    )


def enter(span: SpanRecord) -> Token[SpanRecord | None]:
    return current_span.set(span)


def leave(token: Token[SpanRecord | None], parent: SpanRecord | None) -> None:
    try:
        current_span.reset(token)
    except ValueError:  # left in another context than it was entered in (a generator moved between tasks)
        current_span.set(parent)


def close_span(
    span: SpanRecord, *, output: Any = None, error: BaseException | None = None, capture_output: bool = True
) -> None:
    """End ``span`` with ``output`` or ``error`` and send it on. Never raises."""
    try:
        span.end_time = time.time()
        if error is not None:
            span.error = error_info(error)
        elif capture_output and output is not None:
            span.output = json_data(output, bounded=True)
        emit(span)
    except Exception as exc:
        FAULTS.caught(f"closing the span {span.name!r}", exc)


def emit(span: SpanRecord) -> None:
    """Hand a finished span to the active collectors and, unless told otherwise, to the writer."""
    persist = RUNTIME.enabled
    for collector in active_span_collectors.get():
        try:
            collector.add(span)
        except Exception as exc:
            FAULTS.caught("a span collector", exc)
        if not collector.persist:
            persist = False
    if persist:
        RUNTIME.get_writer().submit(span)
        if RUNTIME.exporter is not None:
            RUNTIME.exporter.export(span)


def error_info(exc: BaseException) -> dict[str, Any]:
    """``{"type", "message", "traceback"}`` of an exception, as a span stores it."""
    import traceback  # only on the error path: keeps `import pytest_flywheel.tracing` light

    cls = type(exc)
    type_name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    try:
        message = str(exc)
    except Exception:
        message = f"<{type_name}: str() failed>"
    try:
        text = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    except Exception:
        text = ""
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "...\n" + text[-MAX_TRACEBACK_CHARS:]
    return {"type": type_name, "message": message, "traceback": text}


def current_trace_id() -> str | None:
    """The id of the trace the caller runs in, or None outside any traced call."""
    span = current_span.get()
    return span.trace_id if span is not None else None


def current_span_id() -> str | None:
    """The id of the innermost traced call the caller runs in, or None."""
    span = current_span.get()
    return span.id if span is not None else None


def log_feedback(trace_id: str, name: str, value: Any, reason: str | None = None) -> None:
    """Record a production signal on a trace: ``log_feedback(trace_id, "thumbs", 0, "wrong refund")``.

    ``value`` is a number, a bool or a short string; ``flywheel traces list --feedback 'thumbs<1'``
    finds the traces later. Queued like spans (never blocks, never raises); off with tracing.
    """
    try:
        if not RUNTIME.is_on() or not trace_id:
            return
        record = FeedbackRecord(trace_id=str(trace_id), name=str(name), value=json_data(value, bounded=True),
                                reason=None if reason is None else str(reason), created_at=time.time())
        RUNTIME.get_writer().submit(record)
    except Exception:
        pass
