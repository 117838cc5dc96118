"""Production trends: what ``flywheel stats`` shows, aggregated inside SQLite.

Definitions (also in ``flywheel stats --help``):

* **volume**: traces that started in the period (UTC hours or days).
* **error rate**: traces whose root span raised / volume.
* **task success rate**: over the traces with at least one feedback signal, the share whose positive
  signals outnumber their negative ones. A feedback is positive or negative by its value
  (:func:`pytest_flywheel.store.queries.feedback_signal`): ``True``, numbers >= 0.5, and words such as
  ``up``, ``thumbs_up``, ``success``, ``pass``, ``good``, ``yes``, ``resolved`` are positive; ``False``,
  numbers < 0.5, and ``down``, ``thumbs_down``, ``failure``, ``fail``, ``bad``, ``no``, ``wrong`` are
  negative; other text is no signal. A name that reports a failure (``task_failed``, ``thumbs_down``)
  flips the polarity: ``task_failed=True`` is negative. A rated trace that is not a success (negatives
  at least equal to positives) is **negatively rated**.
* **latency p50/p95**: nearest-rank percentiles of the traces' durations (the value at rank
  ``ceil(p * n)`` in ascending order).
* **failing spans / error types**: the spans where failures start: spans that raised while none of
  their children raised (the same exception re-raised by the parents counts once).
* **uncovered failures**: failed or negatively rated traces that no suite case was captured from
  (no case's ``source.trace_id``), grouped by pattern: for a failed trace the error type, the span
  where it started and the entrypoint; for a negatively rated one, the negative feedback's name and the
  entrypoint. Most frequent first: the list of what to capture next.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_flywheel.config import Settings
from pytest_flywheel.store.queries import (
    FEEDBACK_SIGNAL_SQL,
    QueryError,
    TraceFilter,
    feedback_signal_params,
    iso_time,
)
from pytest_flywheel.store.store import Store

PERIOD_SECONDS: dict[str, int] = {"hour": 3600, "day": 86400}
#: The periods ``--by`` takes.
PERIODS: tuple[str, ...] = tuple(PERIOD_SECONDS)


@dataclass
class PeriodStats:
    """The figures of one period (or of the whole window, for the totals)."""

    start: float
    label: str
    traces: int = 0
    errors: int = 0
    rated: int = 0
    successes: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.traces if self.traces else None

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.rated if self.rated else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = iso_time(self.start)
        data["error_rate"] = self.error_rate
        data["success_rate"] = self.success_rate
        return data


@dataclass
class FailingSpan:
    """A span name where failures start, with how often."""

    name: str
    type: str
    failures: int
    traces: int


@dataclass
class ErrorType:
    """An exception type raised where failures start, with a sample message."""

    type: str
    failures: int
    traces: int
    example_message: str | None


@dataclass
class FailurePattern:
    """A group of uncovered failing traces that fail the same way."""

    kind: str  # "error" | "feedback"
    entrypoint: str
    count: int
    last_seen: float
    example_trace_ids: list[str]
    error_type: str | None = None
    span: str | None = None
    feedback: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "error":
            where = f" in {self.span}" if self.span else ""
            return f"{self.error_type or 'error'}{where} ({self.entrypoint})"
        return f"negative {self.feedback} ({self.entrypoint})"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_seen"] = iso_time(self.last_seen)
        data["label"] = self.label
        return data


@dataclass
class ProductionStats:
    """Everything ``flywheel stats`` reports; ``to_json()`` is its ``--json`` form."""

    by: str
    since: float | None
    until: float
    project: str | None
    periods: list[PeriodStats]
    totals: PeriodStats
    failing_spans: list[FailingSpan]
    error_types: list[ErrorType]
    uncovered: list[FailurePattern]
    failing_traces: int = 0
    covered_failing_traces: int = 0
    #: Traces with a span that raised, whatever their own status: what ``traces list --has-error`` lists.
    traces_with_raising_spans: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": None if self.since is None else iso_time(self.since),
            "until": iso_time(self.until),
            "project": self.project,
            "totals": self.totals.to_json(),
            "periods": [p.to_json() for p in self.periods],
            "traces_with_raising_spans": self.traces_with_raising_spans,
            "failing_spans": [asdict(s) for s in self.failing_spans],
            "error_types": [asdict(e) for e in self.error_types],
            "failing_traces": self.failing_traces,
            "covered_failing_traces": self.covered_failing_traces,
            "uncovered": [p.to_json() for p in self.uncovered],
            "warnings": self.warnings,
        }


def period_label(start: float, by: str) -> str:
    moment = datetime.fromtimestamp(start, UTC)
    return moment.strftime("%Y-%m-%d") if by == "day" else moment.strftime("%Y-%m-%dT%H:00Z")


def compute_stats(
    store: Store,
    *,
    since: float | None,
    until: float | None = None,
    by: str = "day",
    project: str | None = None,
    covered_trace_ids: Iterable[str] = (),
    top: int = 10,
    examples: int = 3,
) -> ProductionStats:
    """Aggregate the traces that started in ``[since, until)`` (``until`` defaults to now)."""
    if by not in PERIOD_SECONDS:
        raise QueryError(f"--by {by!r}: expected hour or day")
    width = PERIOD_SECONDS[by]
    until = time.time() if until is None else until
    where, params = TraceFilter(project=project, since=since, until=until).where("t")
    params = {**params, "width": width}
    conn = store.conn

    periods: dict[int, PeriodStats] = {}
    for row in conn.execute(_PERIODS_SQL.format(where=where), params):
        bucket = int(row["bucket"])
        periods[bucket] = PeriodStats(
            start=float(bucket * width),
            label=period_label(bucket * width, by),
            traces=row["traces"],
            errors=row["errors"],
            latency_p50_ms=row["p50"],
            latency_p95_ms=row["p95"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cost_usd=row["cost"],
        )
    signal = feedback_signal_params(store)
    for row in conn.execute(_RATED_SQL.format(where=where, signal=FEEDBACK_SIGNAL_SQL), {**params, **signal}):
        period = periods.get(int(row["bucket"]))
        if period is not None:
            period.rated, period.successes = row["rated"], row["successes"]

    totals = _totals(store, where, params, periods.values(), since=since)
    first = int(since // width) if since is not None else min(periods, default=int(until // width))
    last = math.ceil(until / width) - 1
    filled = [
        periods.get(b) or PeriodStats(start=float(b * width), label=period_label(b * width, by))
        for b in range(first, max(first, last) + 1)
    ]

    origin_params = {**params, "since_spans": since if since is not None else float("-inf")}
    origins = _ORIGINS_SQL.format(where=where)
    failing_spans: list[FailingSpan] = []
    error_types: list[ErrorType] = []
    raising_traces = 0
    # One pass over where failures start serves both lists; the groups are few, so they sort here.
    for row in conn.execute(_ORIGIN_GROUPS_SQL.format(origins=origins), origin_params):
        if row["section"] == "all":
            raising_traces = row["traces"]
        elif row["section"] == "span":
            failing_spans.append(
                FailingSpan(
                    name=row["name"], type=row["type"], failures=row["failures"], traces=row["traces"]
                )
            )
        else:
            error_types.append(
                ErrorType(
                    type=row["name"],
                    failures=row["failures"],
                    traces=row["traces"],
                    example_message=row["message"],
                )
            )
    failing_spans.sort(key=lambda f: (-f.failures, -f.traces, f.name, f.type))
    error_types.sort(key=lambda e: (-e.failures, -e.traces, e.type))

    failing_sql = _FAILING_TRACES_SQL.format(origins=origins, where=where, signal=FEEDBACK_SIGNAL_SQL)
    failing_params = {**origin_params, **signal, "covered": json.dumps(sorted(set(covered_trace_ids)))}
    rows = conn.execute(
        f"WITH {failing_sql} {_UNCOVERED_SQL}", {**failing_params, "top": top, "examples": examples}
    ).fetchall()
    uncovered = [_pattern(row) for row in rows]
    if rows:
        counts = (rows[0]["all_failing"], rows[0]["all_covered"])
    else:  # nothing uncovered: count the failing (all covered, or none) on their own
        row = conn.execute(
            f"WITH {failing_sql} SELECT COUNT(*), COALESCE(SUM(id IN (SELECT value FROM json_each(:covered))), 0)"
            " FROM failing",
            failing_params,
        ).fetchone()
        counts = (row[0], row[1])
    return ProductionStats(
        by=by,
        since=since,
        until=until,
        project=project,
        periods=filled,
        totals=totals,
        failing_spans=failing_spans[:top],
        error_types=error_types[:top],
        uncovered=uncovered,
        failing_traces=counts[0],
        covered_failing_traces=counts[1],
        traces_with_raising_spans=raising_traces,
    )


def _totals(
    store: Store, where: str, params: dict[str, Any], periods: Iterable[PeriodStats], *, since: float | None
) -> PeriodStats:
    """The whole window: counts are the periods' sums (each trace is in one period); the
    percentiles need one more ranking, over all the window's durations."""
    totals = PeriodStats(start=since if since is not None else 0.0, label="total")
    for p in periods:
        totals.traces += p.traces
        totals.errors += p.errors
        totals.rated += p.rated
        totals.successes += p.successes
        totals.input_tokens += p.input_tokens
        totals.output_tokens += p.output_tokens
        totals.cost_usd += p.cost_usd
    if totals.traces:
        row = store.conn.execute(
            f"""SELECT MAX(CASE WHEN rn = (:n + 1) / 2 THEN duration_ms END) AS p50,
                       MAX(CASE WHEN rn = (95 * :n + 99) / 100 THEN duration_ms END) AS p95
                FROM (SELECT t.duration_ms, ROW_NUMBER() OVER (ORDER BY t.duration_ms) AS rn
                      FROM traces t WHERE {where})""",
            {**params, "n": totals.traces},
        ).fetchone()
        totals.latency_p50_ms, totals.latency_p95_ms = row["p50"], row["p95"]
    return totals


def _pattern(row: Any) -> FailurePattern:
    examples = sorted((tuple(pair) for pair in json.loads(row["examples"])), reverse=True)
    return FailurePattern(
        kind=row["kind"],
        entrypoint=row["entrypoint"],
        count=row["n"],
        last_seen=row["last_seen"],
        example_trace_ids=[pair[1] for pair in examples],
        error_type=row["error_type"],
        span=row["span"],
        feedback=row["feedback"],
    )


# Percentiles by window functions: each period's durations ranked once, inside SQLite.
_PERIODS_SQL = """
WITH ranked AS (
    SELECT CAST(t.start_time / :width AS INTEGER) AS bucket, t.status, t.duration_ms, t.input_tokens,
           t.output_tokens, t.cost_usd,
           ROW_NUMBER() OVER (PARTITION BY CAST(t.start_time / :width AS INTEGER) ORDER BY t.duration_ms) AS rn,
           COUNT(*) OVER (PARTITION BY CAST(t.start_time / :width AS INTEGER)) AS n
    FROM traces t WHERE {where}
)
SELECT bucket, COUNT(*) AS traces, SUM(status = 'error') AS errors,
       MAX(CASE WHEN rn = (n + 1) / 2 THEN duration_ms END) AS p50,
       MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN duration_ms END) AS p95,
       SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cost_usd) AS cost
FROM ranked GROUP BY bucket ORDER BY bucket
"""

# Traces with at least one feedback signal, and how many of them are successes.
_RATED_SQL = """
SELECT CAST(t.start_time / :width AS INTEGER) AS bucket, COUNT(*) AS rated, SUM(r.pos > r.neg) AS successes
FROM (
    SELECT s.trace_id, SUM(s.signal > 0) AS pos, SUM(s.signal < 0) AS neg
    FROM (SELECT f.trace_id, {signal} AS signal FROM feedback f
          WHERE f.trace_id IN (SELECT t.id FROM traces t WHERE {where})) AS s
    GROUP BY s.trace_id HAVING pos + neg > 0
) AS r JOIN traces t ON t.id = r.trace_id
GROUP BY bucket
"""

# Where failures start: spans that raised while none of their children did. Spans never start before
# their trace, so ``s.start_time >= :since_spans`` narrows the partial error-span index first.
_ORIGINS_SQL = """
SELECT s.trace_id, s.name, s.type, s.end_time, s.id,
       COALESCE(json_extract(s.error, '$.type'), 'Error') AS error_type,
       json_extract(s.error, '$.message') AS message
FROM spans s JOIN traces t ON t.id = s.trace_id
WHERE s.status = 'error' AND s.start_time >= :since_spans AND {where}
  AND NOT EXISTS (SELECT 1 FROM spans c WHERE c.parent_id = s.id AND c.status = 'error')
"""

_ORIGIN_GROUPS_SQL = """
WITH origins AS MATERIALIZED ({origins})
SELECT 'span' AS section, name, type, COUNT(*) AS failures, COUNT(DISTINCT trace_id) AS traces, NULL AS message
FROM origins GROUP BY name, type
UNION ALL
SELECT 'type', error_type, NULL, COUNT(*), COUNT(DISTINCT trace_id), MAX(message)
FROM origins GROUP BY error_type
UNION ALL
SELECT 'all', NULL, NULL, COUNT(*), COUNT(DISTINCT trace_id), NULL FROM origins
"""

# One row per failed or negatively rated trace, with the columns its failure pattern is made of.
_FAILING_TRACES_SQL = """
origin AS (
    SELECT trace_id, name, error_type,
           ROW_NUMBER() OVER (PARTITION BY trace_id ORDER BY end_time, id) AS nth
    FROM ({origins})
),
rated AS (
    SELECT s.trace_id, SUM(s.signal > 0) AS pos, SUM(s.signal < 0) AS neg,
           MIN(CASE WHEN s.signal < 0 THEN s.name END) AS negative_name
    FROM (SELECT f.trace_id, f.name, {signal} AS signal FROM feedback f
          WHERE f.trace_id IN (SELECT t.id FROM traces t WHERE {where})) AS s
    GROUP BY s.trace_id
),
failing AS (
    SELECT t.id, t.name AS entrypoint, t.start_time,
           CASE WHEN t.status = 'error' THEN 'error' ELSE 'feedback' END AS kind,
           CASE WHEN t.status = 'error'
                THEN COALESCE(o.error_type, json_extract(t.error, '$.type'), 'Error') END AS error_type,
           CASE WHEN t.status = 'error' THEN o.name END AS span,
           CASE WHEN t.status = 'error' THEN NULL ELSE r.negative_name END AS feedback
    FROM traces t
    LEFT JOIN rated r ON r.trace_id = t.id
    LEFT JOIN origin o ON o.trace_id = t.id AND o.nth = 1
    WHERE {where} AND (t.status = 'error' OR (r.neg > 0 AND r.neg >= r.pos))
)
"""

# The window counts run over every failing trace (covered or not) before the covered ones are dropped.
_UNCOVERED_SQL = """
SELECT kind, entrypoint, error_type, span, feedback, COUNT(*) AS n, MAX(start_time) AS last_seen,
       json_group_array(json_array(start_time, id)) FILTER (WHERE nth <= :examples) AS examples,
       MAX(all_failing) AS all_failing, MAX(all_covered) AS all_covered
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY covered, kind, entrypoint, error_type, span, feedback
                                 ORDER BY start_time DESC, id DESC) AS nth,
           COUNT(*) OVER () AS all_failing, SUM(covered) OVER () AS all_covered
    FROM (SELECT *, id IN (SELECT value FROM json_each(:covered)) AS covered FROM failing)
)
WHERE NOT covered
GROUP BY kind, entrypoint, error_type, span, feedback
ORDER BY n DESC, last_seen DESC, entrypoint LIMIT :top
"""


def production_stats(
    settings: Settings,
    *,
    since: float | None,
    by: str = "day",
    project: str | None = None,
    store_path: Path | None = None,
    top: int = 10,
) -> ProductionStats:
    """:func:`compute_stats` for a project: its store (or ``store_path``), read-only, with the trace ids
    its suite files cover. What ``flywheel stats`` and the HTML report's ``--stats`` charts show."""
    from pytest_flywheel.store.queries import open_store_for_reading, require_traces

    covered, warnings = covered_trace_ids(settings)
    with open_store_for_reading(store_path or settings.store) as store:
        require_traces(store)
        stats = compute_stats(store, since=since, by=by, project=project, covered_trace_ids=covered, top=top)
    stats.warnings.extend(warnings)
    return stats


# -- which traces the suites already cover ----------------------------------------------------------


def covered_trace_ids(settings: Settings) -> tuple[set[str], list[str]]:
    """Trace ids that suite cases were captured from (``cases[].source.trace_id``), and warnings.

    A suite file that is valid YAML but not a valid suite still counts (a broken suite file should not
    hide which failures it covers) and is noted in the warnings; one that is not YAML at all is skipped
    with a warning. Every file is read through the suites' one bounded reader.
    """
    warnings: list[str] = []
    found: set[str] = set()
    if not settings.suites_dir.is_dir():
        return found, warnings  # nothing to read: spare the import of the suite models (pydantic)
    from pytest_flywheel.suites.errors import SuiteFileError
    from pytest_flywheel.suites.loading import display_path, list_suite_paths, load_suite
    from pytest_flywheel.suites.reading import parse_yaml

    for path in list_suite_paths(settings):
        try:
            loaded = load_suite(path)
        except SuiteFileError as exc:
            warnings.append(str(exc).splitlines()[0])
        else:
            found.update(case.source.trace_id for case in loaded.suite.cases if case.source is not None)
            continue
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue  # (already in the warnings)
        parsed, _ = parse_yaml(text, display_path(path))
        data = parsed.data if parsed is not None else None
        cases = data.get("cases") if isinstance(data, dict) else None
        for case in cases if isinstance(cases, list) else []:
            source = case.get("source") if isinstance(case, dict) else None
            if isinstance(source, dict) and isinstance(source.get("trace_id"), str) and source["trace_id"]:
                found.add(source["trace_id"])
    return found, warnings
