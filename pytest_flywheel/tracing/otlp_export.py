"""OTLP export: ``@track`` and ``track_anthropic`` spans also go out as OpenTelemetry spans.

On with ``[tool.flywheel] export = "otlp"`` or ``FLYWHEEL_EXPORT=otlp``; the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``..._HEADERS`` /
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` / ``OTEL_BSP_*`` variables configure it. Spans go
through the OpenTelemetry SDK's own ``BatchSpanProcessor`` and OTLP/HTTP protobuf exporter (the
``[otel]`` extra, imported only when export is on), to a Collector, ``flywheel collect`` or any backend.

The calling thread only queues the finished span; a thread of the exporter's own hands it to the SDK.
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
import os
import threading
import time
from collections import deque
from contextlib import suppress
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


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json(value: Any, limit: int) -> str:
    text = _ENCODE(value)
    if len(text) * 4 <= limit:
        return text
    return _ENCODE(bounded(value, limit))


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


def _version() -> str:
    # the distribution's metadata, not ``pytest_flywheel.__version__``: importing the package's top
    # would bring the suites, the judge and replay into production code
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-flywheel")
    except PackageNotFoundError:
        return "unknown"


class OTLPExport:
    """Sends finished spans through the OpenTelemetry SDK's batch processor to an OTLP endpoint.

    The calling thread only appends the finished span to a bounded queue (as the store's writer does);
    one daemon thread turns queued spans into SDK spans, which the SDK's ``BatchSpanProcessor`` batches
    and its exporter sends. A full queue drops its oldest span, counted in :attr:`dropped`.
    ``span_exporter`` replaces the OTLP/HTTP exporter (tests hand in an in-memory or file exporter).
    """

    def __init__(self, *, project: str, max_payload_bytes: int, span_exporter: Any = None,
                 queue_size: int = 10_000) -> None:
        from opentelemetry import trace as trace_api
        from opentelemetry.context import Context
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import IdGenerator

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
        self._sampled = trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED)
        self.provider = TracerProvider(resource=resource, id_generator=_RecordedIds())
        # The SDK's own queue (2,048 spans unless OTEL_BSP_MAX_QUEUE_SIZE says) would drop a burst that
        # ours holds: give it as much room as ours, unless the user chose.
        bsp_queue = None if os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") else queue_size
        self.provider.add_span_processor(BatchSpanProcessor(span_exporter, max_queue_size=bsp_queue))
        self.tracer = self.provider.get_tracer("pytest_flywheel", _version())
        self.queue_size = queue_size
        #: spans dropped because the queue was full, and spans the SDK refused
        self.dropped = 0
        self.failed = 0
        self._start_thread()
        os.register_at_fork(after_in_child=self._start_thread)

    def _start_thread(self) -> None:
        self._queue: deque[SpanRecord] = deque()
        self._lock = threading.Condition()
        self._submitted = self._done = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="flywheel-otlp-export", daemon=True)
        self._thread.start()

    # -- the calling side -----------------------------------------------------------------------

    def export(self, span: SpanRecord) -> None:
        """Queue ``span``; never blocks on the SDK or the network."""
        queue = self._queue
        if len(queue) >= self.queue_size:
            with suppress(IndexError):
                queue.popleft()
                self.dropped += 1
                self._done += 1
        queue.append(span)
        self._submitted += 1

    def flush(self, timeout: float) -> bool:
        """Hand everything queued to the SDK, then make the SDK send it. False on timeout."""
        deadline = time.monotonic() + timeout
        target = self._submitted
        with self._lock:
            self._lock.notify_all()
            while self._done < target and self._thread.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.1))
        remaining = max(0.0, deadline - time.monotonic())
        return bool(self.provider.force_flush(int(remaining * 1000)))

    def shutdown(self) -> None:
        self.flush(5.0)
        self._stopping = True
        with self._lock:
            self._lock.notify_all()
        self._thread.join(5.0)
        self.provider.shutdown()

    # -- the export thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue and not self._stopping:
                    self._lock.wait(0.5)
            if not self._queue and self._stopping:
                return
            while self._queue:
                span = self._queue.popleft()
                try:
                    self._emit(span)
                except Exception:  # one span the SDK will not take costs that span, never the thread
                    self.failed += 1
                with self._lock:
                    self._done += 1
                    self._lock.notify_all()

    def _emit(self, span: SpanRecord) -> None:
        api = self._api
        trace_id = otel_trace_id(span.trace_id)
        if span.parent_id:
            parent = api.SpanContext(trace_id, otel_span_id(span.parent_id), is_remote=False,
                                     trace_flags=self._sampled)
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
