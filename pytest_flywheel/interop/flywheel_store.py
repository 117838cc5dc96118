"""Another flywheel store: a host that traced into its own SQLite file, read a trace at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from pytest_flywheel.interop.errors import FormatError
from pytest_flywheel.store import FeedbackRecord, SpanRecord, Store, StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"


def traces(path: Path, *, project: str | None, target: Path) -> Iterator[tuple[list[SpanRecord],
                                                                              list[FeedbackRecord]]]:
    """The spans and feedback of each trace in the store at ``path`` (``project`` renames them all)."""
    if path.resolve() == target.resolve():
        raise FormatError(f"{path} is the store being imported into; name another store")
    try:
        source = Store(path, readonly=True)
        source.conn.execute("SELECT 1 FROM spans LIMIT 0")
    except (StoreError, sqlite3.DatabaseError) as exc:
        raise FormatError(f"{path}: not a pytest-flywheel trace store ({exc})") from None
    with source:
        after = ""
        while True:  # a page of trace ids at a time: memory holds one trace, not the store's id list
            page = [row[0] for row in source.conn.execute(
                "SELECT DISTINCT trace_id FROM spans WHERE trace_id > ? ORDER BY trace_id LIMIT 500", (after,))]
            if not page:
                return
            for trace_id in page:
                spans = source.get_spans(trace_id)
                if project:
                    spans = [replace(span, project=project) for span in spans]
                yield spans, source.get_feedback(trace_id)
            after = page[-1]
