"""The background writer: one daemon thread that drains a bounded queue into the SQLite store.

The calling thread only appends to a deque under a lock (well under a microsecond); everything that
costs (size limits, scrubbing secrets, trace totals, JSON, SQLite) happens here. The store is opened on
the first batch.

Every span and feedback is scrubbed before it is stored (:mod:`pytest_flywheel.redaction`: ``sk-ant-``
keys, bearer tokens, values under credential-like keys, the ``[tool.flywheel] redact`` patterns).

Failure stays here, and is never silent: a store that cannot be opened or written (read-only folder, a
path that is a folder, a disk that is full, a lock held too long, a store written by a newer
pytest-flywheel) costs the batch, which is counted in :attr:`SpanWriter.failed` and reported by ONE
:class:`TracingWarning`; a full queue drops its oldest item, counted in :attr:`SpanWriter.dropped`,
with ONE warning too. A store file deleted or replaced under the open connection is noticed before and
after each batch: the store is opened afresh (created again) and the batch written there, counted in
:attr:`SpanWriter.recreated`, with ONE warning.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flywheel.store import (
    FeedbackRecord,
    SpanRecord,
    Store,
    StoreError,
    StoreVersionError,
    TraceRecord,
)
from pytest_flywheel.tracing.serialize import stored

if TYPE_CHECKING:
    from pytest_flywheel.redaction import Redactor

BATCH_SIZE = 1_000
OPEN_TRACES_KEPT = 10_000  # traces whose root has not finished yet, totals kept for
CLOSED_TRACES_KEPT = 1_024  # recently finished traces, so a late child still updates the totals
# The writer looks at the queue this often. A traced call never wakes it (only a full batch, a flush
# or a stop does): waking a thread mid-request would make the request hand it the GIL and wait, which on
# a busy machine costs more than the span itself. The OpenTelemetry SDK's BatchSpanProcessor works the
# same way, every 5 s.
INTERVAL_SECONDS = 0.25

Item = SpanRecord | FeedbackRecord


class TracingWarning(UserWarning):
    """Tracing lost data (a full queue, an unwritable store). The traced code itself was not affected."""


def _warn(message: str) -> None:
    try:
        warnings.warn(message, TracingWarning, stacklevel=3)
    except Exception:  # warnings turned into errors (-W error) must still not reach the agent...
        try:  # ...nor make the loss silent
            sys.stderr.write(f"TracingWarning: {message}\n")
        except Exception:
            pass


class _Totals:
    __slots__ = ("cost_usd", "input_tokens", "output_tokens", "span_count")

    def __init__(self) -> None:
        self.span_count = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0

    def add(self, span: SpanRecord) -> None:
        self.span_count += 1
        self.input_tokens += span.input_tokens or 0
        self.output_tokens += span.output_tokens or 0
        self.cost_usd += span.cost_usd or 0.0


class TraceTotals:
    """Builds each trace's :class:`TraceRecord` from the spans the writer sees (one thread: exact)."""

    def __init__(self) -> None:
        self._open: dict[str, _Totals] = {}
        self._closed: OrderedDict[str, tuple[TraceRecord, _Totals]] = OrderedDict()

    def add(self, spans: list[SpanRecord]) -> list[TraceRecord]:
        """Account for ``spans``; return the trace records to (re)write."""
        changed: dict[str, TraceRecord] = {}
        for span in spans:
            closed = self._closed.get(span.trace_id)
            if closed is not None:  # a span that outlived its root (a detached thread or task)
                finished, finished_totals = closed
                finished_totals.add(span)
                _apply(finished, finished_totals)
                changed[finished.id] = finished
                continue
            totals = self._open.get(span.trace_id)
            if totals is None:
                if len(self._open) >= OPEN_TRACES_KEPT:  # roots that never came (dropped): forget the oldest
                    self._open.pop(next(iter(self._open)))
                totals = self._open[span.trace_id] = _Totals()
            totals.add(span)
            if span.parent_id is None:
                del self._open[span.trace_id]
                record = TraceRecord(
                    id=span.trace_id, project=span.project, name=span.name, status=span.status,
                    start_time=span.start_time, end_time=span.end_time, input=span.input,
                    output=span.output, error=span.error, tags=span.tags, metadata=span.metadata,
                    location=span.location,
                )
                _apply(record, totals)
                self._closed[span.trace_id] = (record, totals)
                if len(self._closed) > CLOSED_TRACES_KEPT:
                    self._closed.popitem(last=False)
                changed[record.id] = record
        return list(changed.values())


def _apply(record: TraceRecord, totals: _Totals) -> None:
    record.span_count = totals.span_count
    record.input_tokens = totals.input_tokens
    record.output_tokens = totals.output_tokens
    record.cost_usd = round(totals.cost_usd, 10)


class SpanWriter:
    """A bounded queue of finished spans and feedback, written to ``store_path`` by one thread."""

    def __init__(
        self, store_path: Path, *, queue_size: int, max_payload_bytes: int, redact: Sequence[str] = ()
    ) -> None:
        self.store_path = Path(store_path)
        self.queue_size = queue_size
        self.max_payload_bytes = max_payload_bytes
        #: the project's own redact patterns (``[tool.flywheel] redact``), compiled in the writer thread
        self.redact = tuple(redact)
        #: items dropped because the queue was full
        self.dropped = 0
        #: items lost because the store could not take them
        self.failed = 0
        #: items written
        self.written = 0
        #: times the store file was found deleted or replaced, and opened afresh
        self.recreated = 0
        self.last_error: str | None = None
        self._redactor: Redactor | None = None
        self._identity: tuple[int, int] | None = None
        self._warned_recreated = False
        self._items: deque[Item] = deque()
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._flush_until = 0  # a flush waits for everything up to this count: no pausing before it
        self._submitted = 0
        self._processed = 0
        self._stopping = False
        self._warned_full = False
        self._warned_store = False
        self._store: Store | None = None
        self._totals = TraceTotals()
        self._thread = threading.Thread(target=self._run, name="flywheel-trace-writer", daemon=True)
        self._thread.start()

    # -- the calling side -----------------------------------------------------------------------

    def submit(self, item: Item) -> None:
        """Queue ``item``; when the queue is full the oldest item is dropped. Never blocks on I/O."""
        with self._lock:
            if len(self._items) >= self.queue_size:
                self._items.popleft()
                self.dropped += 1
                self._processed += 1
                warn = not self._warned_full
                self._warned_full = True
            else:
                warn = False
            self._items.append(item)
            self._submitted += 1
            full_batch = len(self._items) == BATCH_SIZE
        if full_batch:
            self._wake.set()
        if warn:
            _warn(
                f"pytest-flywheel: the tracing queue is full ({self.queue_size} spans waiting for "
                f"{self.store_path}); the oldest spans are being dropped and counted. Raise "
                "FLYWHEEL_QUEUE_SIZE ([tool.flywheel] queue_size) or check that the store is writable. "
                "This warning is shown once."
            )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far is written (or given up). False on timeout."""
        deadline = time.monotonic() + timeout
        with self._progress:
            target = self._submitted
            if self._processed >= target:
                return True  # nothing to wait for: do not wake the writer (it would wake mid-request)
            self._flush_until = max(self._flush_until, target)
            self._wake.set()
            while self._processed < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._progress.wait(min(remaining, 0.5))
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, stop the thread and close the store. False when the flush timed out."""
        flushed = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        if flushed:
            self._thread.join(timeout)
        return flushed

    @property
    def pending(self) -> int:
        return len(self._items)

    @property
    def unwritten(self) -> int:
        """Items submitted and not yet written or given up on (queued, or in the batch being written)."""
        with self._lock:
            return self._submitted - self._processed

    # -- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    # under the lock, so a flush or stop that set the event since is seen here
                    pause = (len(self._items) < BATCH_SIZE and not self._stopping
                             and self._processed >= self._flush_until)
                if pause:
                    self._wake.wait(INTERVAL_SECONDS)
                    self._wake.clear()
                with self._lock:
                    count = min(len(self._items), BATCH_SIZE)
                    batch = [self._items.popleft() for _ in range(count)]
                if batch:
                    self._write(batch)
                    with self._progress:
                        self._processed += len(batch)
                        self._progress.notify_all()
                elif self._stopping:
                    return
        finally:
            self._close_store()

    def _write(self, batch: list[Item]) -> None:
        try:
            redactor = self._get_redactor()
            spans = [self._prepared(item, redactor) for item in batch if isinstance(item, SpanRecord)]
            feedback = [
                self._scrubbed_feedback(item, redactor) for item in batch if isinstance(item, FeedbackRecord)
            ]
            traces = self._totals.add(spans)
        except _RedactPatternError as exc:  # the user's secrets cannot be scrubbed: store nothing
            self._lost(len(batch), exc, store_failure=False)
            return
        except Exception as exc:  # a bug here must cost a batch, never the thread
            self._lost(len(batch), exc, store_failure=False)
            return
        for attempt in (1, 2, 3):
            try:
                store = self._open_store()
                store.write_spans(spans, traces)
                for record in feedback:
                    store.add_feedback(record)
                if not self._same_file():  # deleted or replaced while this batch went in: again, afresh
                    self._close_store()
                    self._note_recreated()
                    if attempt < 3:
                        continue
                    raise StoreError(f"{self.store_path} keeps being deleted or replaced")
            except Exception as exc:
                self._close_store()
                if not _is_store_failure(exc):
                    # something in the data that SQLite would not take: write what it will, one by one
                    self._write_one_by_one(spans, traces, feedback)
                    return
                # locked, full, read-only, unopenable: the store's problem, so try once more, afresh
                # (a store from a newer version stays newer: no second try)
                if attempt >= 2 or isinstance(exc, StoreVersionError):
                    self._lost(len(batch), exc)
                    return
                continue
            self.written += len(batch)
            return

    def _write_one_by_one(
        self, spans: list[SpanRecord], traces: list[TraceRecord], feedback: list[FeedbackRecord]
    ) -> None:
        groups: list[tuple[list[SpanRecord], list[TraceRecord], list[FeedbackRecord]]] = [
            *(([span], [], []) for span in spans),
            *(([], [trace], []) for trace in traces),
            *(([], [], [record]) for record in feedback),
        ]
        for group_spans, group_traces, group_feedback in groups:
            try:
                store = self._open_store()
                store.write_spans(group_spans, group_traces)
                for record in group_feedback:
                    store.add_feedback(record)
                self.written += len(group_spans) + len(group_feedback)
            except Exception as exc:
                self._close_store()
                self._lost(len(group_spans) + len(group_feedback), exc, store_failure=_is_store_failure(exc))

    def _get_redactor(self) -> Redactor:
        if self._redactor is None:
            # imported here, in the writer thread: `import pytest_flywheel.tracing` stays light
            from pytest_flywheel.redaction import Redactor

            try:
                self._redactor = Redactor(self.redact)
            except Exception as exc:  # re.error: a pattern that is not a regular expression
                raise _RedactPatternError(
                    f"a [tool.flywheel] redact pattern is not a valid regular expression ({exc}), so "
                    "spans cannot be scrubbed and none are stored; fix the pattern"
                ) from None
        return self._redactor

    def _prepared(self, span: SpanRecord, redactor: Redactor) -> SpanRecord:
        """The span as stored: each payload within the size limit, and scrubbed of secrets."""
        limit = self.max_payload_bytes
        fields: dict[str, Any] = {}
        for name in ("input", "output", "error", "metadata", "tags"):
            value = getattr(span, name)
            kept = stored(value, limit, redactor)
            if kept is not value:
                fields[name] = kept
        # a copy, never the span itself: span collectors may hold the same object
        return replace(span, **fields) if fields else span

    def _scrubbed_feedback(self, record: FeedbackRecord, redactor: Redactor) -> FeedbackRecord:
        value = stored(record.value, self.max_payload_bytes, redactor)
        reason = stored(record.reason, self.max_payload_bytes, redactor)
        if value is record.value and reason is record.reason:
            return record
        return replace(record, value=value, reason=reason)

    def _open_store(self) -> Store:
        if self._store is not None and not self._same_file():
            # deleted (or replaced) under the open connection: writing on would go to a file no one
            # can read any more, so open the path afresh (creating the store again)
            self._close_store()
            self._note_recreated()
        if self._store is None:
            self._store = Store(self.store_path)
            self._identity = _identity(self.store_path)
        return self._store

    def _same_file(self) -> bool:
        return self._identity is not None and _identity(self.store_path) == self._identity

    def _note_recreated(self) -> None:
        self.recreated += 1
        if not self._warned_recreated:
            self._warned_recreated = True
            _warn(
                f"pytest-flywheel: the trace store {self.store_path} was deleted or replaced while tracing "
                "wrote to it; it was opened afresh (created again when missing) and tracing goes on. "
                "Spans stored before that went with the old file. This warning is shown once."
            )

    def _close_store(self) -> None:
        store, self._store = self._store, None
        self._identity = None
        if store is not None:
            try:
                store.close()
            except Exception:
                pass

    def _lost(self, count: int, exc: BaseException, *, store_failure: bool = True) -> None:
        self.failed += count
        self.last_error = f"{type(exc).__name__}: {exc}"
        if not self._warned_store:
            self._warned_store = True
            if isinstance(exc, StoreVersionError | _RedactPatternError):
                _warn(
                    f"pytest-flywheel: cannot write traces: {exc} {count} spans lost so far, and every "
                    "later one is counted as lost too; the traced code is not affected. This warning is "
                    "shown once."
                )
                return
            fix = (
                "check the store path (FLYWHEEL_STORE or [tool.flywheel] store) and the disk"
                if store_failure else "this is a bug in pytest-flywheel's tracing: please report it"
            )
            _warn(
                f"pytest-flywheel: cannot write traces to {self.store_path} ({self.last_error}); "
                f"{count} spans lost so far. Tracing goes on and the traced code is not affected; "
                f"{fix}. This warning is shown once."
            )


class _RedactPatternError(ValueError):
    """The project's redact patterns cannot be compiled: nothing may be stored unscrubbed."""


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` names now (device, inode), or None when there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_dev, found.st_ino)


def _is_store_failure(exc: Exception) -> bool:
    """Locked, full, read-only, corrupt or unopenable: nothing to do with the spans themselves."""
    if isinstance(exc, StoreError | OSError | sqlite3.OperationalError):
        return True
    return type(exc) is sqlite3.DatabaseError  # "file is not a database" and kin
