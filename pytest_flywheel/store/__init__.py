"""The ground floor: an embedded SQLite store of traces, spans, feedback and test runs."""

from pytest_flywheel.store.connection import StoreError, StoreVersionError, connect
from pytest_flywheel.store.records import SPAN_TYPES, FeedbackRecord, SpanRecord, TraceRecord
from pytest_flywheel.store.store import Store

__all__ = [
    "SPAN_TYPES",
    "FeedbackRecord",
    "SpanRecord",
    "Store",
    "StoreError",
    "StoreVersionError",
    "TraceRecord",
    "connect",
]
