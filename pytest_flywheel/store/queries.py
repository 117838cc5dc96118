"""The store's query layer: finding traces by filters, a trace's span tree, and feedback signals.

Every filter becomes SQL over the store's indexes (the time-ordered ``traces_*`` indexes, ``feedback_name``
for feedback filters), so listing the newest matching traces reads only what it shows. Parsing of the
command-line filter syntax lives here too, so that the CLI and other callers agree on it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.store.records import FeedbackRecord, SpanRecord, TraceRecord
from pytest_flywheel.store.store import Store, trace_from_row
from pytest_flywheel.store.tree import SpanNode, SpanTree


class QueryError(FlywheelError, ValueError):
    """A filter or a query argument that cannot be understood."""


class TraceNotFoundError(FlywheelError, LookupError):
    """No trace has the id (or id prefix) asked for, or more than one does."""


# -- opening a store for reading ----------------------------------------------------------------------


def open_store_for_reading(path: Path | str) -> Store:
    """Open an existing store read-only; a missing file or one without traces is a clear error."""
    path = Path(path)
    if path.is_dir():
        raise QueryError(
            f"{path} is a folder, not a trace store: point --store (or FLYWHEEL_STORE) at the .db file"
        )
    if not path.is_file():
        raise QueryError(
            f"no trace store at {path}: run an agent decorated with @track first, "
            "or point --store (or FLYWHEEL_STORE) at an existing store"
        )
    store = Store(path, readonly=True)  # a file that is no store is a StoreError from the store itself
    try:
        store.conn.execute("SELECT 1 FROM traces LIMIT 0")
    except sqlite3.DatabaseError as exc:
        store.close()
        raise QueryError(
            f"{path} is not a pytest-flywheel trace store ({exc}): point --store at the "
            ".flywheel/flywheel.db your agent writes"
        ) from None
    return store


def require_traces(store: Store) -> None:
    """Raise when the store holds no traces at all (so 'nothing matched' is not mistaken for it)."""
    if store.conn.execute("SELECT 1 FROM traces LIMIT 1").fetchone() is None:
        raise QueryError(
            f"the trace store {store.path} holds no traces yet: run an agent decorated with @track "
            "(and call pytest_flywheel.flush() before a short script exits)"
        )


# -- parsing the filter syntax ------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, *, now: float | None = None) -> float:
    """``2h``, ``3d``, ``30m``, ``45s``, ``1w`` before ``now``, or an ISO-8601 time (local time when it
    names no zone, as ``flywheel traces list`` shows times).

    Returns epoch seconds.
    """
    now = time.time() if now is None else now
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(
            f"--since {text!r}: expected a span of time such as 30m, 2h, 3d or 1w, "
            "or an ISO-8601 time such as 2026-01-31T09:00"
        ) from None
    return moment.timestamp()  # a naive datetime's timestamp() reads it as local time


FEEDBACK_OPERATORS: tuple[str, ...] = ("<=", ">=", "!=", "<", ">", "=")
_FEEDBACK_FILTER = re.compile(r"^\s*([^<>=!]+?)\s*(<=|>=|!=|<|>|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class FeedbackFilter:
    """``NAME OP VALUE``: traces with a feedback named NAME whose value compares so.

    ``value`` is a float for numbers and bools (true/false compare as 1/0), otherwise the string;
    strings are allowed only with ``=`` and ``!=``.
    """

    name: str
    op: str
    value: float | str

    @classmethod
    def parse(cls, text: str) -> FeedbackFilter:
        match = _FEEDBACK_FILTER.match(text)
        if not match or not match.group(1).strip():
            raise QueryError(
                f"--feedback {text!r}: expected NAME<VALUE (or >, =, <=, >=, !=), "
                "for example 'thumbs<1', 'score>=0.8' or 'rating=bad'"
            )
        name, op, raw = match.group(1).strip(), match.group(2), match.group(3)
        if raw == "":
            raise QueryError(f"--feedback {text!r}: the value after {op!r} is missing")
        value = _feedback_filter_value(raw)
        if isinstance(value, str) and op not in ("=", "!="):
            raise QueryError(
                f"--feedback {text!r}: {op!r} needs a number (or true/false), found the text {raw!r}; "
                "compare text with = or !="
            )
        return cls(name=name, op=op, value=value)


def _feedback_filter_value(raw: str) -> float | str:
    lowered = raw.lower()
    if lowered == "true":
        return 1.0
    if lowered == "false":
        return 0.0
    try:
        return float(raw)
    except ValueError:
        pass
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    return raw


STATUSES: tuple[str, ...] = ("ok", "error")


@dataclass
class TraceFilter:
    """What ``flywheel traces list`` narrows traces by. Every field left None (or empty) is no filter."""

    project: str | None = None
    name: str | None = None
    status: str | None = None
    #: Only traces with a span that raised, whatever the trace's own status (a tool that raised while
    #: the agent caught it leaves an "ok" trace): the traces ``flywheel stats`` finds failures starting in.
    has_error: bool = False
    since: float | None = None
    until: float | None = None
    min_latency_ms: float | None = None
    min_cost: float | None = None
    tags: Sequence[str] = ()
    feedback: Sequence[FeedbackFilter] = ()

    def where(self, alias: str = "t") -> tuple[str, dict[str, Any]]:
        """The SQL condition over ``traces AS <alias>`` (``1`` when nothing is filtered) and its named
        parameters (``:w0``, ``:w1``, ...), ready to be combined with other named parameters."""
        clauses: list[str] = []
        params: dict[str, Any] = {}

        def bind(value: Any) -> str:
            key = f"w{len(params)}"
            params[key] = value
            return f":{key}"

        t = alias
        if self.project is not None:
            clauses.append(f"{t}.project = {bind(self.project)}")
        if self.name is not None:
            operator = "GLOB" if any(char in self.name for char in "*?[") else "="
            clauses.append(f"{t}.name {operator} {bind(self.name)}")
        if self.status is not None:
            if self.status not in STATUSES:
                raise QueryError(f"--status {self.status!r}: expected ok or error")
            clauses.append(f"{t}.status = {bind(self.status)}")
        if self.has_error:
            clauses.append(f"EXISTS (SELECT 1 FROM spans AS s WHERE s.trace_id = {t}.id AND s.status = 'error')")
        if self.since is not None:
            clauses.append(f"{t}.start_time >= {bind(self.since)}")
        if self.until is not None:
            clauses.append(f"{t}.start_time < {bind(self.until)}")
        if self.min_latency_ms is not None:
            clauses.append(f"{t}.duration_ms >= {bind(self.min_latency_ms)}")
        if self.min_cost is not None:
            clauses.append(f"{t}.cost_usd >= {bind(self.min_cost)}")
        for tag in self.tags:
            clauses.append(f"EXISTS (SELECT 1 FROM json_each({t}.tags) AS tag WHERE tag.value = {bind(tag)})")
        for fb in self.feedback:
            # IN (subquery) lets SQLite walk the feedback_name index and fetch only those traces.
            if isinstance(fb.value, str):
                text = json.dumps(fb.value, ensure_ascii=False, separators=(",", ":"))
                condition = f"value {fb.op} {bind(text)}"
            else:
                condition = f"value_num {fb.op} {bind(fb.value)}"
            clauses.append(
                f"{t}.id IN (SELECT trace_id FROM feedback WHERE name = {bind(fb.name)} AND {condition})"
            )
        return (" AND ".join(clauses) or "1"), params


# -- listing ------------------------------------------------------------------------------------------


@dataclass
class TraceSummary:
    """One row of a trace listing: the trace and its feedback."""

    trace: TraceRecord
    feedback: list[FeedbackRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        t = self.trace
        return {
            "id": t.id,
            "name": t.name,
            "project": t.project,
            "status": t.status,
            "started_at": iso_time(t.start_time),
            "ended_at": iso_time(t.end_time),
            "duration_ms": round(t.duration_ms, 3),
            "input": t.input,
            "output": t.output,
            "tokens": {"input": t.input_tokens, "output": t.output_tokens},
            "cost_usd": t.cost_usd,
            "tags": t.tags,
            "feedback": [{"name": f.name, "value": f.value, "reason": f.reason} for f in self.feedback],
            "error": t.error,
        }


def iso_time(epoch: float) -> str:
    """An epoch time as ISO-8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def list_traces(store: Store, filters: TraceFilter, *, limit: int = 50) -> list[TraceSummary]:
    """The newest ``limit`` traces matching ``filters``, newest first, each with its feedback."""
    if limit <= 0:
        raise QueryError(f"--limit {limit}: expected a number above 0")
    where, params = filters.where()
    rows = store.conn.execute(
        f"SELECT t.* FROM traces t WHERE {where} ORDER BY t.start_time DESC, t.id DESC LIMIT :limit",
        {**params, "limit": limit},
    ).fetchall()
    traces = [trace_from_row(row) for row in rows]
    feedback = feedback_for_traces(store, [t.id for t in traces])
    return [TraceSummary(trace=t, feedback=feedback.get(t.id, [])) for t in traces]


def feedback_for_traces(store: Store, trace_ids: Iterable[str]) -> dict[str, list[FeedbackRecord]]:
    """Feedback of several traces in one query, oldest first per trace."""
    ids = list(trace_ids)
    found: dict[str, list[FeedbackRecord]] = {}
    if not ids:
        return found
    rows = store.conn.execute(
        "SELECT * FROM feedback WHERE trace_id IN (SELECT value FROM json_each(?)) ORDER BY created_at, id",
        (json.dumps(ids),),
    ).fetchall()
    for row in rows:
        found.setdefault(row["trace_id"], []).append(
            FeedbackRecord(
                id=row["id"],
                trace_id=row["trace_id"],
                name=row["name"],
                value=json.loads(row["value"]),
                reason=row["reason"],
                created_at=row["created_at"],
            )
        )
    return found


def unique_prefix_length(store: Store, trace_id: str, *, minimum: int = 8) -> int:
    """How many leading characters of ``trace_id`` no other trace id shares (at least ``minimum``)."""
    conn = store.conn
    before = conn.execute("SELECT max(id) FROM traces WHERE id < ?", (trace_id,)).fetchone()[0]
    after = conn.execute("SELECT min(id) FROM traces WHERE id > ?", (trace_id,)).fetchone()[0]
    shared = max(_common_prefix(trace_id, other) for other in (before or "", after or ""))
    return min(len(trace_id), max(minimum, shared + 1))


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


# -- one trace ----------------------------------------------------------------------------------------


def resolve_trace(store: Store, prefix: str) -> str:
    """The full id of the one trace whose id is or starts with ``prefix``.

    Traces whose root span never finished (no trace summary yet) are found through their spans.
    """
    prefix = prefix.strip()
    if not prefix:
        raise TraceNotFoundError(
            "an empty trace id was given: pass an id or a prefix from `flywheel traces list`"
        )
    found = store.resolve_trace_id(prefix)
    if found is not None:
        return found
    if store.conn.execute("SELECT 1 FROM traces WHERE id = ?", (prefix,)).fetchone():
        return prefix  # a whole id that also begins a longer one
    candidates = store.ids_with_prefix("traces", "id", prefix, limit=4)
    if not candidates:
        candidates = store.ids_with_prefix("spans", "trace_id", prefix, limit=4)
        if len(candidates) == 1:
            return candidates[0]
    if not candidates:
        raise TraceNotFoundError(
            f"no trace id starts with {prefix!r} in {store.path}: copy an id from `flywheel traces list`"
        )
    shown = ", ".join(candidates[:3]) + (", ..." if len(candidates) > 3 else "")
    raise TraceNotFoundError(
        f"the trace id prefix {prefix!r} is ambiguous: it matches {shown}; type more of the id"
    )


@dataclass
class TraceDetail:
    """A whole trace: the summary (None while its root is unfinished), its spans and its feedback."""

    trace_id: str
    trace: TraceRecord | None
    spans: list[SpanRecord]
    feedback: list[FeedbackRecord]

    @property
    def roots(self) -> list[SpanNode]:
        return SpanTree.build(self.spans, self.trace).roots

    def to_json(self) -> dict[str, Any]:
        summary: dict[str, Any] = (
            TraceSummary(self.trace, self.feedback).to_json() if self.trace else {"id": self.trace_id}
        )
        summary["feedback"] = [
            {"name": f.name, "value": f.value, "reason": f.reason, "created_at": iso_time(f.created_at)}
            for f in self.feedback
        ]
        summary["spans"] = [span_to_json(span) for span in self.spans]
        return summary


def span_to_json(span: SpanRecord) -> dict[str, Any]:
    return {
        "id": span.id,
        "parent_id": span.parent_id,
        "name": span.name,
        "type": span.type,
        "status": span.status,
        "started_at": iso_time(span.start_time),
        "ended_at": iso_time(span.end_time),
        "duration_ms": round(span.duration_ms, 3),
        "input": span.input,
        "output": span.output,
        "error": span.error,
        "tags": span.tags,
        "metadata": span.metadata,
        "location": span.location,
        "file": span.file,
        "line": span.line,
        "model": span.model,
        "tokens": {
            "input": span.input_tokens,
            "output": span.output_tokens,
            "cache_read": span.cache_read_tokens,
            "cache_creation": span.cache_creation_tokens,
        },
        "cost_usd": span.cost_usd,
        "stop_reason": span.stop_reason,
    }


def load_trace(store: Store, prefix: str) -> TraceDetail:
    """A whole trace by id or unique id prefix."""
    trace_id = resolve_trace(store, prefix)
    return TraceDetail(
        trace_id=trace_id,
        trace=store.get_trace(trace_id),
        spans=store.get_spans(trace_id),
        feedback=store.get_feedback(trace_id),
    )


# -- feedback as a success signal ---------------------------------------------------------------------

#: Feedback values that count as a positive signal (strings compare case-insensitively).
POSITIVE_WORDS: tuple[str, ...] = (
    "up",
    "thumbs_up",
    "thumbsup",
    "thumbs-up",
    "+1",
    "👍",
    "success",
    "succeeded",
    "successful",
    "pass",
    "passed",
    "good",
    "great",
    "yes",
    "true",
    "correct",
    "resolved",
    "solved",
    "positive",
    "helpful",
    "ok",
)
#: Feedback values that count as a negative signal.
NEGATIVE_WORDS: tuple[str, ...] = (
    "down",
    "thumbs_down",
    "thumbsdown",
    "thumbs-down",
    "-1",
    "👎",
    "failure",
    "fail",
    "failed",
    "bad",
    "poor",
    "no",
    "false",
    "incorrect",
    "wrong",
    "unresolved",
    "negative",
    "unhelpful",
    "error",
)
#: Words in a feedback *name* that say the feedback reports a failure, so its polarity flips:
#: ``task_failed=True`` and ``thumbs_down=1`` are negative signals.
NEGATED_NAME_WORDS: frozenset[str] = frozenset(
    {
        "fail",
        "failed",
        "failure",
        "down",
        "thumbsdown",
        "error",
        "errors",
        "wrong",
        "incorrect",
        "bad",
        "complaint",
        "complained",
        "unhelpful",
        "unresolved",
        "negative",
        "escalated",
        "flagged",
    }
)
#: Numbers at or above this count as positive (fits 1/0 and 1/-1 thumbs and 0-1 scores).
POSITIVE_THRESHOLD = 0.5


def name_is_negated(name: str) -> bool:
    """Whether a feedback name reports a failure (``task_failed``, ``thumbs_down``, ``Error``)."""
    return any(word in NEGATED_NAME_WORDS for word in re.split(r"[^0-9a-z]+", name.lower()))


def feedback_signal(name: str, value: Any) -> int:
    """+1 (positive), -1 (negative) or 0 (neither) for one feedback; the Python twin of the SQL below."""
    sign = -1 if name_is_negated(name) else 1
    if isinstance(value, bool):
        return sign if value else -sign
    if isinstance(value, int | float):
        if value != value:  # NaN: no signal (SQLite stores it as NULL)
            return 0
        return sign if value >= POSITIVE_THRESHOLD else -sign
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            word = value.strip().lower()
            if word in POSITIVE_WORDS:
                return sign
            if word in NEGATIVE_WORDS:
                return -sign
            return 0
        if number != number:  # NaN: no signal
            return 0
        return sign if number >= POSITIVE_THRESHOLD else -sign
    return 0


def feedback_signal_params(store: Store) -> dict[str, str]:
    """The named parameters :data:`FEEDBACK_SIGNAL_SQL` needs for this store's feedback names."""
    names = [row[0] for row in store.conn.execute("SELECT DISTINCT name FROM feedback")]
    return {
        "fb_positive": json.dumps(list(POSITIVE_WORDS), ensure_ascii=False),
        "fb_negative": json.dumps(list(NEGATIVE_WORDS), ensure_ascii=False),
        "fb_negated": json.dumps([name for name in names if name_is_negated(name)], ensure_ascii=False),
        "fb_threshold": str(POSITIVE_THRESHOLD),
    }


#: +1 / -1 / 0 for a feedback row aliased ``f``; needs :func:`feedback_signal_params`.
FEEDBACK_SIGNAL_SQL = """
    (CASE
        WHEN f.value_num IS NOT NULL THEN (CASE WHEN f.value_num >= CAST(:fb_threshold AS REAL) THEN 1 ELSE -1 END)
        WHEN NOT json_valid(f.value) THEN 0  -- NaN and Infinity, as Python's json writes them
        WHEN json_type(f.value) = 'text' AND lower(trim(json_extract(f.value, '$')))
             IN (SELECT value FROM json_each(:fb_positive)) THEN 1
        WHEN json_type(f.value) = 'text' AND lower(trim(json_extract(f.value, '$')))
             IN (SELECT value FROM json_each(:fb_negative)) THEN -1
        ELSE 0
     END) * (CASE WHEN f.name IN (SELECT value FROM json_each(:fb_negated)) THEN -1 ELSE 1 END)
"""
