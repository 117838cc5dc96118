"""Writing imported spans and feedback into the store: batched, idempotent, with trace summaries.

:class:`TraceSink` is what every importer and the receiver write through. Each batch is one
transaction on the store's own insert path (:func:`~pytest_flywheel.store.store.insert_spans`):

* a span whose id is already stored (for the same trace) is left alone and counted as present, so
  importing the same file twice adds nothing;
* every trace the batch touched gets its summary row (root, totals) computed again from what the
  store now holds, so a trace whose spans arrive over several batches, files or requests ends up exact;
* a span whose parent is not stored yet waits in a small table of missing parents; whatever still
  waits when the sink closes is an orphan (kept, drawn under the trace's roots, counted in the summary).

Memory holds one batch plus the ids of spans still waiting for their parent, never a whole file.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.store import FeedbackRecord, SpanRecord, Store, TraceRecord
from pytest_flywheel.store.store import insert_feedback, insert_spans, span_from_row

BATCH_SPANS = 2_000
_CHUNK = 500  # ids per IN (...) list


@dataclass
class ImportSummary:
    """What an import (or a receiver's life) added, found already present, and left out, and why."""

    files: int = 0
    traces_new: int = 0
    spans_new: int = 0
    spans_present: int = 0
    feedback_new: int = 0
    orphans: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "traces": self.traces_new,
            "spans": self.spans_new,
            "already_present": self.spans_present,
            "feedback": self.feedback_new,
            "orphans": self.orphans,
            "skipped": self.skipped_total,
            "skipped_why": dict(self.skipped.most_common()),
        }


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _marks(count: int) -> str:
    return ",".join("?" * count)


class TraceSink:
    """Collects spans and feedback and writes them to ``store`` a batch at a time."""

    def __init__(self, store: Store, *, batch_spans: int = BATCH_SPANS, summary: ImportSummary | None = None) -> None:
        self.store = store
        self.batch_spans = batch_spans
        self.summary = summary or ImportSummary()
        self._spans: list[SpanRecord] = []
        self._feedback: list[FeedbackRecord] = []
        #: missing parent id -> ids of the stored spans that name it
        self._waiting: dict[str, list[str]] = {}
        #: while a unit (a file) is open: what it wrote is noted, so that it can be taken back whole
        self._unit: tuple[ImportSummary, dict[str, list[str]]] | None = None

    @property
    def pending(self) -> int:
        return len(self._spans) + len(self._feedback)

    def add(self, span: SpanRecord) -> None:
        self._spans.append(span)
        if len(self._spans) >= self.batch_spans:
            self.flush()

    def add_all(self, spans: Iterable[SpanRecord]) -> None:
        for span in spans:
            self.add(span)

    def add_feedback(self, feedback: FeedbackRecord) -> None:
        self._feedback.append(feedback)

    # -- all or nothing for one file -------------------------------------------------------------

    def begin_unit(self) -> None:
        """Start noting what is written (in a temporary table of the store's connection, on disk, so
        memory stays flat), so that :meth:`undo_unit` can take all of it back."""
        self.flush()
        conn = self.store.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS flywheel_unit_spans (id TEXT PRIMARY KEY, trace_id TEXT)")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS flywheel_unit_feedback (row INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM flywheel_unit_spans")
        conn.execute("DELETE FROM flywheel_unit_feedback")
        counts = ImportSummary(**{**vars(self.summary), "skipped": Counter(self.summary.skipped)})
        self._unit = (counts, {key: list(value) for key, value in self._waiting.items()})

    def end_unit(self) -> None:
        """Write what is left of the unit; it stays."""
        self.flush()
        self._unit = None

    def undo_unit(self) -> None:
        """Take back everything written since :meth:`begin_unit` (its spans, feedback and counts), and
        put the touched traces' summaries right again."""
        if self._unit is None:
            return
        self.discard()
        counts, waiting = self._unit
        self._unit = None
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM spans WHERE id IN (SELECT id FROM flywheel_unit_spans)")
            conn.execute("DELETE FROM feedback WHERE id IN (SELECT row FROM flywheel_unit_feedback)")
            conn.execute("DELETE FROM traces WHERE id IN (SELECT trace_id FROM flywheel_unit_spans) AND NOT EXISTS"
                         " (SELECT 1 FROM spans WHERE spans.trace_id = traces.id)")
            after = ""
            while True:
                page = [row[0] for row in conn.execute(
                    "SELECT DISTINCT trace_id FROM flywheel_unit_spans WHERE trace_id > ? AND trace_id IN"
                    " (SELECT id FROM traces) ORDER BY trace_id LIMIT 500", (after,))]
                if not page:
                    break
                insert_spans(conn, [], summarise(conn, page))
                after = page[-1]
            conn.execute("DELETE FROM flywheel_unit_spans")
            conn.execute("DELETE FROM flywheel_unit_feedback")
        for name, value in vars(counts).items():
            setattr(self.summary, name, value)
        self._waiting.clear()
        self._waiting.update(waiting)

    def reopen(self) -> None:
        """Open the store afresh (after it failed); what is collected is kept."""
        path = self.store.path
        with suppress(Exception):
            self.store.close()
        self.store = Store(path)

    def close_quietly(self) -> int:
        """Close the store without writing; the number of orphans (spans whose parent never arrived)."""
        with suppress(Exception):
            self.store.close()
        return sum(len(children) for children in self._waiting.values())

    def discard(self) -> None:
        """Forget what is collected and not yet written (the file it came from was refused)."""
        self._spans.clear()
        self._feedback.clear()

    def flush(self) -> None:
        """Write what is collected, in one transaction. When the store fails, nothing is counted and
        the batch stays collected, so a later flush tries it again."""
        if not self._spans and not self._feedback:
            return
        with self.store.transaction() as conn:
            outcome = self._write(conn, self._spans, self._feedback)
        self._spans, self._feedback = [], []
        outcome.apply(self.summary, self._waiting)

    def close(self) -> ImportSummary:
        """Write the rest; count the spans whose parent never arrived. Returns the summary."""
        self.flush()
        self.summary.orphans = sum(len(children) for children in self._waiting.values())
        return self.summary

    # -- one batch ------------------------------------------------------------------------------

    def _write(self, conn: sqlite3.Connection, spans: list[SpanRecord], feedback: list[FeedbackRecord]) -> _Outcome:
        outcome = _Outcome()
        by_id: dict[str, SpanRecord] = {}
        for span in spans:
            if span.id in by_id:
                outcome.present += 1  # the same span twice in the input
            by_id[span.id] = span
        stored: dict[str, str] = {}
        for chunk in _chunks(list(by_id)):
            stored.update(conn.execute(f"SELECT id, trace_id FROM spans WHERE id IN ({_marks(len(chunk))})",
                                       chunk).fetchall())
        new: list[SpanRecord] = []
        for span in by_id.values():
            owner = stored.get(span.id)
            if owner is None:
                new.append(span)
            elif owner == span.trace_id:
                outcome.present += 1
            else:
                outcome.skipped.append("a span id that a span of another trace already has")
        touched = sorted({span.trace_id for span in new})
        known: set[str] = set()
        for chunk in _chunks(touched):
            known.update(row[0] for row in conn.execute(
                f"SELECT id FROM traces WHERE id IN ({_marks(len(chunk))})", chunk))
        insert_spans(conn, new)
        insert_spans(conn, [], summarise(conn, touched))
        if self._unit is not None:
            conn.executemany("INSERT OR IGNORE INTO flywheel_unit_spans VALUES (?, ?)",
                             [(span.id, span.trace_id) for span in new])
        outcome.new = new
        outcome.traces_new = len(set(touched) - known)
        outcome.found_parents = self._stored_parents(conn, new)
        for record in feedback:
            same = conn.execute(
                "SELECT value, reason FROM feedback WHERE trace_id = ? AND name = ? AND created_at = ?",
                (record.trace_id, record.name, record.created_at),
            ).fetchall()
            if any(json.loads(row[0]) == record.value and row[1] == record.reason for row in same):
                continue  # imported before
            row = insert_feedback(conn, record)
            if self._unit is not None:
                conn.execute("INSERT INTO flywheel_unit_feedback VALUES (?)", (row,))
            outcome.feedback_new += 1
        return outcome

    @staticmethod
    def _stored_parents(conn: sqlite3.Connection, new: list[SpanRecord]) -> set[str]:
        new_ids = {span.id for span in new}
        wanted = sorted({s.parent_id for s in new if s.parent_id and s.parent_id not in new_ids})
        found: set[str] = set()
        for chunk in _chunks(wanted):
            found.update(row[0] for row in conn.execute(
                f"SELECT id FROM spans WHERE id IN ({_marks(len(chunk))})", chunk))
        return found


@dataclass
class _Outcome:
    """What one batch did, counted only once its transaction committed."""

    new: list[SpanRecord] = field(default_factory=list)
    present: int = 0
    traces_new: int = 0
    feedback_new: int = 0
    skipped: list[str] = field(default_factory=list)
    found_parents: set[str] = field(default_factory=set)

    def apply(self, summary: ImportSummary, waiting: dict[str, list[str]]) -> None:
        summary.spans_new += len(self.new)
        summary.spans_present += self.present
        summary.traces_new += self.traces_new
        summary.feedback_new += self.feedback_new
        for reason in self.skipped:
            summary.skip(reason)
        new_ids = {span.id for span in self.new}
        for span_id in new_ids & waiting.keys():
            del waiting[span_id]
        for span in self.new:
            parent = span.parent_id
            if parent and parent not in new_ids and parent not in self.found_parents:
                waiting.setdefault(parent, []).append(span.id)


def summarise(conn: sqlite3.Connection, trace_ids: Sequence[str]) -> list[TraceRecord]:
    """Each trace's summary row, from the spans the store holds: its root (or, without one, its earliest
    span whose parent is missing) and its totals."""
    records: list[TraceRecord] = []
    for chunk in _chunks(list(trace_ids)):
        marks = _marks(len(chunk))
        totals = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT trace_id, COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),"
                f" COALESCE(SUM(cost_usd), 0) FROM spans WHERE trace_id IN ({marks}) GROUP BY trace_id",
                chunk,
            )
        }
        tops: dict[str, SpanRecord] = {}
        for row in conn.execute(
            f"SELECT * FROM spans WHERE trace_id IN ({marks}) AND (parent_id IS NULL OR parent_id NOT IN"
            " (SELECT id FROM spans)) ORDER BY trace_id, parent_id IS NOT NULL, start_time, id",
            chunk,
        ):
            if row["trace_id"] not in tops:
                tops[row["trace_id"]] = span_from_row(row)
        for trace_id, (count, input_tokens, output_tokens, cost) in totals.items():
            top = tops.get(trace_id)
            if top is None:  # every span names a stored parent: a cycle; the earliest span stands in
                row = conn.execute("SELECT * FROM spans WHERE trace_id = ? ORDER BY start_time, id LIMIT 1",
                                   (trace_id,)).fetchone()
                top = span_from_row(row)
            records.append(TraceRecord(
                id=trace_id, project=top.project, name=top.name, status=top.status, start_time=top.start_time,
                end_time=top.end_time, input=top.input, output=top.output, error=top.error, tags=top.tags,
                metadata=top.metadata, location=top.location, span_count=int(count),
                input_tokens=int(input_tokens), output_tokens=int(output_tokens), cost_usd=round(float(cost), 10),
            ))
    return records
