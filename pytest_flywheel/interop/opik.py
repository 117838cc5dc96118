"""Opik exports: the ``trace_<id>.json`` files ``opik export WORKSPACE/PROJECT`` writes.

Each file holds ``{"trace": {...}, "spans": [...], "attachments": [...], "project_name": ...}``:
the trace and span objects as Opik's REST API returns them (times ISO-8601, ``parent_span_id``,
``type`` general / tool / llm / guardrail, ``usage`` with Opik's ``prompt_tokens`` and the provider's
own counts as ``original_usage.*``, ``error_info`` and ``feedback_scores``).

An Opik trace is not a span itself, so it becomes the root span (its own id, name, input and
output) and the spans Opik shows at the top hang under it. Feedback scores become feedback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_flywheel.interop.errors import FormatError
from pytest_flywheel.interop.mapping import MapOptions
from pytest_flywheel.interop.timestamps import iso_seconds
from pytest_flywheel.store import SPAN_TYPES, FeedbackRecord, SpanRecord
from pytest_flywheel.tracing.pricing import cost_usd
from pytest_flywheel.tracing.serialize import bounded


def is_opik(document: Any) -> bool:
    return (isinstance(document, dict) and isinstance(document.get("trace"), dict)
            and isinstance(document.get("spans"), list))


def _number(usage: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = usage.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


def _error(info: Any) -> dict[str, Any] | None:
    if not isinstance(info, dict):
        return None
    return {"type": str(info.get("exception_type") or "Error"), "message": str(info.get("message") or ""),
            "traceback": str(info.get("traceback") or "")}


def _times(item: dict[str, Any], where: str) -> tuple[float, float]:
    start = iso_seconds(item.get("start_time"), what=f"{where} start_time")
    end = iso_seconds(item["end_time"], what=f"{where} end_time") if item.get("end_time") else start
    return start, max(start, end)


def _span(raw: dict[str, Any], trace_id: str, project: str, options: MapOptions, *, where: str) -> SpanRecord:
    kind = str(raw.get("type") or "general")
    kind = kind if kind in SPAN_TYPES else "general"
    start, end = _times(raw, where)
    usage: dict[str, Any] = raw["usage"] if isinstance(raw.get("usage"), dict) else {}
    read = _number(usage, "original_usage.cache_read_input_tokens", "cache_read_input_tokens")
    written = _number(usage, "original_usage.cache_creation_input_tokens", "cache_creation_input_tokens")
    fresh = _number(usage, "original_usage.input_tokens")
    if fresh is None:
        total = _number(usage, "prompt_tokens")
        fresh = None if total is None else max(0, total - (read or 0) - (written or 0))
    out = _number(usage, "original_usage.output_tokens", "completion_tokens")
    model = raw.get("model") if kind == "llm" else None
    cost = raw.get("total_estimated_cost") if kind == "llm" else None
    if not cost and model:
        cost = cost_usd(str(model), input_tokens=fresh, output_tokens=out, cache_read_tokens=read,
                        cache_creation_tokens=written, overrides=options.prices)
    metadata: dict[str, Any] = {"imported": {"format": options.source}}
    if isinstance(raw.get("metadata"), dict) and raw["metadata"]:
        metadata["opik"] = raw["metadata"]
    if raw.get("provider"):
        metadata.setdefault("opik", {})["provider"] = raw["provider"]
    limit = options.max_payload_bytes
    llm = kind == "llm"
    return SpanRecord(
        id=str(raw["id"]), trace_id=trace_id,
        parent_id=str(raw.get("parent_span_id") or trace_id),
        name=str(raw.get("name") or ""), type=kind, start_time=start, end_time=end, project=project,
        input=bounded(raw.get("input"), limit), output=bounded(raw.get("output"), limit),
        error=_error(raw.get("error_info")), tags=[str(t) for t in raw.get("tags") or []],
        metadata=bounded(metadata, limit), model=str(model) if model else None,
        input_tokens=fresh if llm else None, output_tokens=out if llm else None,
        cache_read_tokens=read if llm else None, cache_creation_tokens=written if llm else None,
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
    )


def read_trace(document: dict[str, Any], options: MapOptions, *, where: str) -> tuple[list[SpanRecord],
                                                                                       list[FeedbackRecord]]:
    """The spans (the trace as their root) and feedback of one Opik trace file."""
    trace = document["trace"]
    if not trace.get("id"):
        raise FormatError(f"{where}: an Opik trace without an id")
    trace_id = str(trace["id"])
    project = options.project or str(document.get("project_name") or options.default_project)
    start, end = _times(trace, f"{where}: trace {trace_id}")
    root_metadata: dict[str, Any] = {"imported": {"format": options.source}}
    if isinstance(trace.get("metadata"), dict) and trace["metadata"]:
        root_metadata["opik"] = trace["metadata"]
    spans = [SpanRecord(
        id=trace_id, trace_id=trace_id, parent_id=None, name=str(trace.get("name") or ""), type="general",
        start_time=start, end_time=end, project=project,
        input=bounded(trace.get("input"), options.max_payload_bytes),
        output=bounded(trace.get("output"), options.max_payload_bytes), error=_error(trace.get("error_info")),
        tags=[str(t) for t in trace.get("tags") or []], metadata=root_metadata,
    )]
    for raw in document["spans"]:
        if not isinstance(raw, dict) or not raw.get("id"):
            raise FormatError(f"{where}: trace {trace_id}: a span without an id")
        spans.append(_span(raw, trace_id, project, options, where=f"{where}: span {raw['id']}"))
    feedback = []
    for score in trace.get("feedback_scores") or []:
        if isinstance(score, dict) and score.get("name"):
            stamp = score.get("last_updated_at") or score.get("created_at")
            feedback.append(FeedbackRecord(
                trace_id=trace_id, name=str(score["name"]), value=score.get("value"), reason=score.get("reason"),
                created_at=iso_seconds(stamp, what=f"{where} feedback time") if stamp else start,
            ))
    return spans, feedback


def traces(values: Iterator[tuple[int, Any]], options: MapOptions, *, where: str) -> Iterator[
        tuple[list[SpanRecord], list[FeedbackRecord]]]:
    for line, value in values:
        if not is_opik(value):
            raise FormatError(f"{where}: line {line}: not an Opik trace export (expected "
                              '{"trace": {...}, "spans": [...]})')
        yield read_trace(value, options, where=where)
