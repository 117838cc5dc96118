"""OTLP export: ``@track`` and ``track_anthropic`` spans also go out as OpenTelemetry spans.

On with ``[tool.flywheel] export = "otlp"`` or ``FLYWHEEL_EXPORT=otlp``; the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``..._HEADERS`` /
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` / ``OTEL_BSP_*`` variables configure it. Spans go
through the OpenTelemetry SDK's own ``BatchSpanProcessor`` and OTLP/HTTP protobuf exporter (the
``[otel]`` extra, imported only when export is on), to a Collector, ``flywheel collect`` or any backend.

Each span keeps its flywheel ids (the trace id as is; a span id derived from flywheel's, with the
original in ``flywheel.span.id``) and carries the GenAI attributes (``gen_ai.provider.name``,
``gen_ai.request.model``, ``gen_ai.usage.*``, finish reasons), OpenInference's kind and
``input.value`` / ``output.value``, and ``flywheel.*`` attributes that let ``flywheel collect`` and
``flywheel import`` rebuild the exact same span: tree, input, output, tokens, cost, error, location.

The SDK is driven through its public API: a tracer provider of our own whose id generator hands out
the ids of the span being exported, and spans started and ended with their recorded times.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from pytest_flywheel.store.records import SpanRecord
from pytest_flywheel.tracing.serialize import bounded

_TYPE_KINDS = {"llm": "LLM", "tool": "TOOL", "retrieval": "RETRIEVER", "guardrail": "GUARDRAIL", "general": "CHAIN"}


def otel_span_id(flywheel_id: str) -> int:
    """The 64-bit OpenTelemetry span id standing for a flywheel span id (never 0)."""
    number = int.from_bytes(hashlib.blake2b(flywheel_id.encode(), digest_size=8).digest(), "big")
    return number or 1


def otel_trace_id(flywheel_id: str) -> int:
    """The 128-bit trace id: a flywheel trace id is 32 hex digits already; anything else is hashed."""
    try:
        number = int(flywheel_id, 16)
    except ValueError:
        number = 0
    if len(flywheel_id) != 32 or number == 0:
        number = int.from_bytes(hashlib.blake2b(flywheel_id.encode(), digest_size=16).digest(), "big") or 1
    return number


def _json(value: Any, limit: int) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) * 4 <= limit:
        return text
    return json.dumps(bounded(value, limit), ensure_ascii=False, separators=(",", ":"))


def span_attributes(span: SpanRecord, *, limit: int = 1_048_576) -> dict[str, Any]:
    """The OpenTelemetry attributes of a flywheel span (also what :mod:`pytest_flywheel.interop` reads back)."""
    attributes: dict[str, Any] = {
        "flywheel.span.id": span.id,
        "flywheel.span.type": span.type,
        "flywheel.project": span.project,
        "openinference.span.kind": _TYPE_KINDS.get(span.type, "CHAIN"),
    }
    if span.parent_id:
        attributes["flywheel.parent.id"] = span.parent_id
    if span.module and span.qualname:
        attributes["flywheel.location"] = f"{span.module}:{span.qualname}"
        attributes["code.function.name"] = f"{span.module}.{span.qualname}"
    if span.file:
        attributes["code.file.path"] = span.file
    if span.line is not None:
        attributes["code.line.number"] = span.line
    if span.input is not None:
        attributes["input.value"] = _json(span.input, limit)
        attributes["input.mime_type"] = "application/json"
    if span.output is not None:
        attributes["output.value"] = _json(span.output, limit)
        attributes["output.mime_type"] = "application/json"
    if span.tags:
        attributes["flywheel.tags"] = [str(tag) for tag in span.tags]
    if span.metadata:
        attributes["flywheel.metadata"] = _json(span.metadata, limit)
    if span.error:
        attributes["flywheel.error"] = _json(span.error, limit)
    if span.type == "llm":
        attributes["gen_ai.operation.name"] = "chat"
        if isinstance(span.metadata.get("anthropic"), dict):
            attributes["gen_ai.provider.name"] = "anthropic"
            attributes["gen_ai.system"] = "anthropic"  # the older generation's name for it
        request_model = span.input.get("model") if isinstance(span.input, dict) else None
        if isinstance(request_model, str):
            attributes["gen_ai.request.model"] = request_model
        if span.model:
            attributes["gen_ai.response.model"] = span.model
        if isinstance(span.output, dict) and isinstance(span.output.get("id"), str):
            attributes["gen_ai.response.id"] = span.output["id"]
        read, written = span.cache_read_tokens or 0, span.cache_creation_tokens or 0
        if span.input_tokens is not None:
            # GenAI counts cache reads and writes inside the input tokens; Anthropic (and the store) apart
            attributes["gen_ai.usage.input_tokens"] = span.input_tokens + read + written
        if span.output_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = span.output_tokens
        if span.cache_read_tokens is not None:
            attributes["gen_ai.usage.cache_read.input_tokens"] = span.cache_read_tokens
        if span.cache_creation_tokens is not None:
            attributes["gen_ai.usage.cache_creation.input_tokens"] = span.cache_creation_tokens
        if span.stop_reason:
            attributes["gen_ai.response.finish_reasons"] = [span.stop_reason]
            attributes["flywheel.stop_reason"] = span.stop_reason
        if span.cost_usd is not None:
            attributes["flywheel.cost_usd"] = span.cost_usd
    return attributes


class OTLPExport:
    """Sends finished spans through the OpenTelemetry SDK's batch processor to an OTLP endpoint.

    ``span_exporter`` replaces the OTLP/HTTP exporter (tests hand in an in-memory or file exporter).
    """

    def __init__(self, *, project: str, max_payload_bytes: int, span_exporter: Any = None) -> None:
        from opentelemetry import trace as trace_api
        from opentelemetry.context import Context
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import IdGenerator

        from pytest_flywheel import __version__

        if span_exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_exporter = OTLPSpanExporter()
        ids = threading.local()

        class _RecordedIds(IdGenerator):
            """Hands the SDK the ids of the span being exported (set just before it starts)."""

            def generate_span_id(self) -> int:
                return int(ids.span)

            def generate_trace_id(self) -> int:
                return int(ids.trace)

        resource = Resource.create({})
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": project}))
        self._ids = ids
        self._limit = max_payload_bytes
        self._api = trace_api
        self._empty = Context()
        self.provider = TracerProvider(resource=resource, id_generator=_RecordedIds())
        self.provider.add_span_processor(BatchSpanProcessor(span_exporter))
        self.tracer = self.provider.get_tracer("pytest_flywheel", __version__)

    def export(self, span: SpanRecord) -> None:
        api = self._api
        trace_id = otel_trace_id(span.trace_id)
        if span.parent_id:
            parent = api.SpanContext(trace_id, otel_span_id(span.parent_id), is_remote=False,
                                     trace_flags=api.TraceFlags(api.TraceFlags.SAMPLED))
            context = api.set_span_in_context(api.NonRecordingSpan(parent), self._empty)
        else:
            context = self._empty
        self._ids.trace, self._ids.span = trace_id, otel_span_id(span.id)
        kind = api.SpanKind.CLIENT if span.type == "llm" else api.SpanKind.INTERNAL
        otel = self.tracer.start_span(span.name, context=context, kind=kind,
                                      attributes=span_attributes(span, limit=self._limit),
                                      start_time=int(span.start_time * 1e9))
        end = int(span.end_time * 1e9)
        if span.error:
            otel.add_event("exception", {
                "exception.type": str(span.error.get("type") or "Error"),
                "exception.message": str(span.error.get("message") or ""),
                "exception.stacktrace": str(span.error.get("traceback") or ""),
            }, timestamp=end)
            otel.set_status(api.Status(api.StatusCode.ERROR, str(span.error.get("message") or "")))
        otel.end(end_time=end)

    def flush(self, timeout: float) -> bool:
        return bool(self.provider.force_flush(int(timeout * 1000)))

    def shutdown(self) -> None:
        self.provider.shutdown()
