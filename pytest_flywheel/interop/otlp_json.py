"""OTLP/JSON: ``TracesData`` (an ``ExportTraceServiceRequest``) objects decoded into :class:`OtelSpan`.

The Collector's file exporter writes one such object per line (JSON lines); OTLP/HTTP with
``Content-Type: application/json`` sends one per request. Field names are lowerCamelCase, as OTLP/JSON
specifies; protobuf's snake_case names are accepted too. Ids are hex, times decimal strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pytest_flywheel.interop.errors import FormatError
from pytest_flywheel.interop.otel_span import (
    OtelEvent,
    OtelSpan,
    hex_id,
    json_attributes,
    kind_number,
    nanos,
    status_code,
)

Skip = Callable[[str], None]


def _field(mapping: dict[str, Any], camel: str, snake: str) -> Any:
    value = mapping.get(camel)
    return mapping.get(snake) if value is None and snake in mapping else value


def is_traces_data(document: Any) -> bool:
    """Whether ``document`` looks like an OTLP/JSON ``TracesData`` object."""
    return isinstance(document, dict) and ("resourceSpans" in document or "resource_spans" in document)


def decode_traces_data(document: Any, *, skip: Skip, where: str) -> Iterator[OtelSpan]:
    """The spans of one ``TracesData`` object. A span that cannot be read is reported to ``skip``
    (with why) and left out; a document that is not ``TracesData`` at all is a :class:`FormatError`."""
    if not is_traces_data(document):
        found = f"an object with keys {', '.join(list(document)[:5])}" if isinstance(document, dict) else (
            type(document).__name__)
        raise FormatError(
            f"{where}: expected an OTLP/JSON TracesData object ({{\"resourceSpans\": [...]}}), found {found}"
        )
    all_resource_spans = _field(document, "resourceSpans", "resource_spans") or []
    if not isinstance(all_resource_spans, list):
        raise FormatError(f"{where}: resourceSpans must be a list, found {type(all_resource_spans).__name__}")
    for resource_spans in all_resource_spans:
        if not isinstance(resource_spans, dict):
            skip("a resourceSpans entry that is not an object")
            continue
        resource_object = resource_spans.get("resource") or {}
        resource = json_attributes(resource_object.get("attributes") if isinstance(resource_object, dict) else None)
        scopes = (_field(resource_spans, "scopeSpans", "scope_spans")
                  or resource_spans.get("instrumentationLibrarySpans") or [])
        if not isinstance(scopes, list):
            skip("a scopeSpans that is not a list")
            continue
        for scope_spans in scopes:
            if not isinstance(scope_spans, dict):
                skip("a scopeSpans entry that is not an object")
                continue
            scope = scope_spans.get("scope") or scope_spans.get("instrumentationLibrary") or {}
            scope_name = str(scope.get("name") or "") if isinstance(scope, dict) else ""
            raw_spans = scope_spans.get("spans") or []
            if not isinstance(raw_spans, list):
                skip("a spans entry that is not a list")
                continue
            for raw in raw_spans:
                try:
                    yield _span(raw, resource, scope_name)
                except FormatError as exc:
                    skip(str(exc))


def _span(raw: Any, resource: dict[str, Any], scope: str) -> OtelSpan:
    if not isinstance(raw, dict):
        raise FormatError("a span that is not an object")
    trace_id = hex_id(_field(raw, "traceId", "trace_id"), size=16, what="traceId")
    span_id = hex_id(_field(raw, "spanId", "span_id"), size=8, what="spanId")
    if trace_id is None or span_id is None:
        raise FormatError("a span without a traceId or spanId")
    parent = hex_id(_field(raw, "parentSpanId", "parent_span_id"), size=8, what="parentSpanId")
    status = raw.get("status") or {}
    events = []
    for event in raw.get("events") or []:
        if isinstance(event, dict):
            events.append(OtelEvent(
                name=str(event.get("name") or ""),
                time_ns=nanos(_field(event, "timeUnixNano", "time_unix_nano"), what="event timeUnixNano"),
                attributes=json_attributes(event.get("attributes")),
            ))
    start = nanos(_field(raw, "startTimeUnixNano", "start_time_unix_nano"), what="startTimeUnixNano")
    end = nanos(_field(raw, "endTimeUnixNano", "end_time_unix_nano"), what="endTimeUnixNano")
    return OtelSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=str(raw.get("name") or ""),
        start_ns=start,
        end_ns=max(end, start),
        attributes=json_attributes(raw.get("attributes")),
        kind=kind_number(raw.get("kind")),
        events=events,
        status_code=status_code(status.get("code")) if isinstance(status, dict) else 0,
        status_message=str(status.get("message") or "") if isinstance(status, dict) else "",
        resource=resource,
        scope=scope,
    )
