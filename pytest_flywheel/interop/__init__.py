"""Interop: traces from anywhere into the store, and out again.

* :func:`import_paths` — ``flywheel import``: OTLP JSON (the Collector's file exporter), OTLP protobuf,
  Langfuse and Opik exports and other flywheel stores, streamed and idempotent.
* :class:`~pytest_flywheel.interop.receiver.OTLPReceiver` — ``flywheel collect``: an OTLP/HTTP endpoint.
* :func:`~pytest_flywheel.interop.mapping.span_record` — the one mapping of OpenTelemetry GenAI
  (both generations) and OpenInference attributes to the store's spans.

Export (``[tool.flywheel] export = "otlp"``) lives in ``pytest_flywheel.tracing.otlp_export``, since
production code imports only tracing.
"""

from __future__ import annotations

from pytest_flywheel.interop.errors import FormatError, InteropError, MissingExtraError
from pytest_flywheel.interop.importer import FORMATS, ImportResult, import_paths
from pytest_flywheel.interop.mapping import MapOptions
from pytest_flywheel.interop.sink import ImportSummary, TraceSink

__all__ = [
    "FORMATS",
    "FormatError",
    "ImportResult",
    "ImportSummary",
    "InteropError",
    "MapOptions",
    "MissingExtraError",
    "TraceSink",
    "import_paths",
]
