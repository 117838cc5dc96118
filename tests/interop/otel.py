"""OpenTelemetry SDK pipelines for the interop tests: real tracer providers exporting to real OTLP files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.json.file.trace_exporter import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter


@contextmanager
def provider_to(exporter: SpanExporter, service: str = "support-agent") -> Iterator[TracerProvider]:
    """A tracer provider sending every span to ``exporter`` as it ends; shut down afterwards."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider
    finally:
        provider.shutdown()


@contextmanager
def otlp_file(path: Path, service: str = "support-agent") -> Iterator[TracerProvider]:
    """A provider writing OTLP/JSON lines to ``path`` (the OTLP file exporter: the Collector's layout)."""
    with provider_to(FileSpanExporter(path), service) as provider:
        yield provider


def write_spans(path: Path, build: Any, service: str = "support-agent") -> Path:
    """Run ``build(tracer)`` under a provider writing OTLP/JSON to ``path``."""
    with otlp_file(path, service) as provider:
        build(provider.get_tracer("test"))
    return path
