"""The :class:`Store`: writes and reads traces, spans and feedback in one SQLite file."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_flywheel.store.connection import connect
from pytest_flywheel.store.records import FeedbackRecord, SpanRecord, TraceRecord

# One encoder, made once: json.dumps with options builds a new one on every call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    return _ENCODE(value)


_EMPTY_JSON: dict[str, Any] = {"[]": list, "{}": dict}
_decode = json.JSONDecoder().decode  # json.loads without its per-call keyword handling


def _load(text: str | None) -> Any:
    if text is None:
        return None
    empty = _EMPTY_JSON.get(text)  # most spans' tags and metadata: no parse needed
    return empty() if empty is not None else _decode(text)


def numeric_value(value: Any) -> float | None:
    """The number a feedback value compares as (bools are 0/1), or None for text."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


#: The id columns :meth:`Store.ids_with_prefix` may look in (table and column names go into its SQL).
_ID_COLUMNS = frozenset({("traces", "id"), ("spans", "trace_id"), ("runs", "id")})


class Store:
    """A trace store. Open one per thread or process; SQLite's WAL lets them write one file at once."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.conn: sqlite3.Connection = connect(self.path, readonly=readonly)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- writes ---------------------------------------------------------------------------------

    def write_spans(self, spans: Iterable[SpanRecord], traces: Iterable[TraceRecord] = ()) -> None:
        """Insert spans (and trace summaries) in one transaction. Re-writing an id replaces it."""
        with self.transaction() as conn:
            insert_spans(conn, spans, traces)

    def add_feedback(self, feedback: FeedbackRecord) -> int:
        with self.transaction() as conn:
            return insert_feedback(conn, feedback)

    # -- reads ----------------------------------------------------------------------------------

    def get_trace(self, trace_id: str) -> TraceRecord | None:
        row = self.conn.execute("SELECT * FROM traces WHERE id = ?", (trace_id,)).fetchone()
        return None if row is None else trace_from_row(row)

    def get_spans(self, trace_id: str) -> list[SpanRecord]:
        """All spans of a trace, in start order."""
        rows = self.conn.execute(
            "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_time, id", (trace_id,)
        ).fetchall()
        return [span_from_row(row) for row in rows]

    def get_feedback(self, trace_id: str) -> list[FeedbackRecord]:
        rows = self.conn.execute(
            "SELECT * FROM feedback WHERE trace_id = ? ORDER BY created_at, id", (trace_id,)
        ).fetchall()
        return [
            FeedbackRecord(
                id=row["id"],
                trace_id=row["trace_id"],
                name=row["name"],
                value=_load(row["value"]),
                reason=row["reason"],
                created_at=row["created_at"],
            )
            for row in rows
        ]

    def ids_with_prefix(self, table: str, column: str, prefix: str, *, limit: int | None = None) -> list[str]:
        """The distinct values of an id ``column`` of ``table`` that start with ``prefix``, in order
        (at most ``limit``): an id range scan on the column's index. Ids are long to type, so every
        command takes a prefix."""
        if (table, column) not in _ID_COLUMNS:
            raise ValueError(f"{table}.{column} is not an id column")
        sql = f"SELECT DISTINCT {column} FROM {table} WHERE {column} >= ? AND {column} < ? ORDER BY {column}"
        parameters: tuple[Any, ...] = (prefix, prefix + "\uffff")
        if limit is not None:
            sql += " LIMIT ?"
            parameters += (limit,)
        return [str(row[0]) for row in self.conn.execute(sql, parameters)]

    def resolve_trace_id(self, prefix: str) -> str | None:
        """The full id of the one trace whose id starts with ``prefix`` (ids are long to type)."""
        found = self.ids_with_prefix("traces", "id", prefix, limit=2)
        return found[0] if len(found) == 1 else None



def insert_spans(conn: sqlite3.Connection, spans: Iterable[SpanRecord], traces: Iterable[TraceRecord] = ()) -> None:
    """Insert spans (and trace summaries) inside the caller's transaction. Re-writing an id replaces it.

    The one insert path of spans: :meth:`Store.write_spans` (tracing) and the importers use it.
    """
    span_rows = [
        (
            s.id,
            s.trace_id,
            s.parent_id,
            s.project,
            s.name,
            s.type,
            s.status,
            s.start_time,
            s.end_time,
            s.duration_ms,
            _dump(s.input),
            _dump(s.output),
            _dump(s.error),
            _dump(s.tags) or "[]",
            _dump(s.metadata) or "{}",
            s.module,
            s.qualname,
            s.file,
            s.line,
            s.model,
            s.input_tokens,
            s.output_tokens,
            s.cache_read_tokens,
            s.cache_creation_tokens,
            s.cost_usd,
            s.stop_reason,
        )
        for s in spans
    ]
    trace_rows = [
        (
            t.id,
            t.project,
            t.name,
            t.status,
            t.start_time,
            t.end_time,
            t.duration_ms,
            _dump(t.input),
            _dump(t.output),
            _dump(t.error),
            _dump(t.tags) or "[]",
            _dump(t.metadata) or "{}",
            t.location,
            t.span_count,
            t.input_tokens,
            t.output_tokens,
            t.cost_usd,
        )
        for t in traces
    ]
    if span_rows:
        conn.executemany(
            "INSERT OR REPLACE INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            span_rows,
        )
    if trace_rows:
        conn.executemany("INSERT OR REPLACE INTO traces VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", trace_rows)


def insert_feedback(conn: sqlite3.Connection, feedback: FeedbackRecord) -> int:
    """Insert one feedback record inside the caller's transaction; its new row id."""
    cursor = conn.execute(
        "INSERT INTO feedback (trace_id, name, value, value_num, reason, created_at) VALUES (?,?,?,?,?,?)",
        (
            feedback.trace_id,
            feedback.name,
            _dump(feedback.value),
            numeric_value(feedback.value),
            feedback.reason,
            feedback.created_at or time.time(),
        ),
    )
    return int(cursor.lastrowid or 0)


def span_from_row(row: sqlite3.Row) -> SpanRecord:
    return SpanRecord(
        id=row["id"],
        trace_id=row["trace_id"],
        parent_id=row["parent_id"],
        name=row["name"],
        type=row["type"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        project=row["project"],
        input=_load(row["input"]),
        output=_load(row["output"]),
        error=_load(row["error"]),
        tags=_load(row["tags"]) or [],
        metadata=_load(row["metadata"]) or {},
        module=row["module"],
        qualname=row["qualname"],
        file=row["file"],
        line=row["line"],
        model=row["model"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cache_read_tokens=row["cache_read_tokens"],
        cache_creation_tokens=row["cache_creation_tokens"],
        cost_usd=row["cost_usd"],
        stop_reason=row["stop_reason"],
    )


def trace_from_row(row: sqlite3.Row) -> TraceRecord:
    return TraceRecord(
        id=row["id"],
        project=row["project"],
        name=row["name"],
        status=row["status"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        input=_load(row["input"]),
        output=_load(row["output"]),
        error=_load(row["error"]),
        tags=_load(row["tags"]) or [],
        metadata=_load(row["metadata"]) or {},
        location=row["location"],
        span_count=row["span_count"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_usd=row["cost_usd"],
    )
