"""Fixtures for the tracing tests: the per-test store (set by the root conftest) and a way to read it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_flywheel.store import SpanRecord, Store, TraceRecord
from pytest_flywheel.tracing import flush

ReadSpans = Callable[[], list[SpanRecord]]


@pytest.fixture
def store_path() -> Path:
    """The SQLite file this test's traces go to (``FLYWHEEL_STORE``)."""
    return Path(os.environ["FLYWHEEL_STORE"])


@pytest.fixture
def read_spans(store_path: Path) -> ReadSpans:
    """Flush the writer, then every span in the store, oldest first (ids are time-ordered)."""

    def read() -> list[SpanRecord]:
        assert flush(10.0), "the writer did not drain within 10 s"
        with Store(store_path) as store:
            rows = store.conn.execute("SELECT trace_id FROM spans GROUP BY trace_id").fetchall()
            spans = [span for row in rows for span in store.get_spans(row["trace_id"])]
        return sorted(spans, key=lambda span: span.id)

    return read


@pytest.fixture
def read_traces(store_path: Path) -> Callable[[], list[TraceRecord]]:
    """Flush, then every trace record in the store, oldest first."""

    def read() -> list[TraceRecord]:
        assert flush(10.0), "the writer did not drain within 10 s"
        with Store(store_path) as store:
            ids = [row["id"] for row in store.conn.execute("SELECT id FROM traces ORDER BY id")]
            return [trace for trace in map(store.get_trace, ids) if trace is not None]

    return read
