"""Which traces are failures, and their rule labels and signatures, read from the store in batches.

A trace is a **failure** when it failed (its entrypoint raised), when any of its spans raised (even
if the agent caught it), or when it is negatively rated: its negative feedback signals are at least
as many as its positive ones (the store's own reading of feedback, as ``flywheel stats`` uses).

The rules are the analysis rules, run on each failure's span tree. The latency and cost outlier
rules compare a trace with its entrypoint's history: here the (up to) :data:`HISTORY_LIMIT` most
recent traces of the same project and entrypoint that started before the window's end, read once
per entrypoint (``flywheel analyze`` reads the same, minus the trace itself).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.analysis.findings import Finding
from pytest_flywheel.analysis.rules import EntrypointHistory, run_rules
from pytest_flywheel.evolve.signatures import FailureSignature, signature_of
from pytest_flywheel.evolve.taxonomy import Label, key_labels, rule_labels
from pytest_flywheel.store.queries import FEEDBACK_SIGNAL_SQL, TraceFilter, feedback_signal_params
from pytest_flywheel.store.records import TraceRecord
from pytest_flywheel.store.store import Store, span_from_row, trace_from_row
from pytest_flywheel.store.tree import SpanTree

#: Earlier traces of an entrypoint the outlier rules compare with (as ``flywheel analyze``).
HISTORY_LIMIT = 1000
#: Traces whose spans are read in one query.
BATCH = 400

#: Extra labels for one trace (the custom-label hook, the LLM labeller): ``(trace, tree, findings)``.
Labeller = Callable[[TraceRecord, SpanTree, Sequence[Finding]], Iterable[Label]]


@dataclass
class FailingTrace:
    """One failure: the trace, why it counts as one, its findings, labels and signature."""

    trace: TraceRecord
    findings: list[Finding]
    labels: list[Label]
    signature: FailureSignature
    negative_feedback: list[str] = field(default_factory=list)

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def key_labels(self) -> tuple[str, ...]:
        """The labels its cluster is keyed on (:func:`~pytest_flywheel.evolve.taxonomy.key_labels`)."""
        return key_labels(self.label_names)

    @property
    def entrypoint(self) -> str:
        return self.signature.entrypoint

    def add_labels(self, labels: Iterable[Label]) -> None:
        """Add labels not there yet (one per name: the first source to give a name keeps it)."""
        have = {label.name for label in self.labels}
        for label in labels:
            if label.name not in have:
                self.labels.append(label)
                have.add(label.name)


_FAILING_SQL = """
WITH rated AS (
    SELECT s.trace_id, SUM(s.signal > 0) AS pos, SUM(s.signal < 0) AS neg,
           json_group_array(s.name) FILTER (WHERE s.signal < 0) AS negative_names
    FROM (SELECT f.trace_id, f.name, {signal} AS signal FROM feedback f
          WHERE f.trace_id IN (SELECT t.id FROM traces t WHERE {where})) AS s
    GROUP BY s.trace_id
)
SELECT t.*, r.negative_names AS negative_names
FROM traces t LEFT JOIN rated r ON r.trace_id = t.id
WHERE {where} AND (
    t.status = 'error'
    OR (r.neg > 0 AND r.neg >= r.pos)
    OR t.id IN (SELECT e.trace_id FROM spans e WHERE e.status = 'error' AND e.start_time >= :since_spans)
)
ORDER BY t.start_time, t.id
"""


def failing_traces(
    store: Store, *, since: float | None, until: float, project: str | None = None
) -> list[tuple[TraceRecord, list[str]]]:
    """The failures that started in ``[since, until)``, oldest first, with their negative feedback names."""
    where, params = TraceFilter(project=project, since=since, until=until).where("t")
    sql = _FAILING_SQL.format(where=where, signal=FEEDBACK_SIGNAL_SQL)
    bound = {**params, **feedback_signal_params(store), "since_spans": since if since is not None else float("-inf")}
    found: list[tuple[TraceRecord, list[str]]] = []
    for row in store.conn.execute(sql, bound):
        names = sorted(set(json.loads(row["negative_names"] or "[]")))
        found.append((trace_from_row(row), names))
    return found


def entrypoint_history(store: Store, project: str, name: str, *, until: float) -> EntrypointHistory:
    rows = store.conn.execute(
        "SELECT duration_ms, cost_usd FROM traces WHERE project = ? AND name = ? AND start_time < ?"
        " ORDER BY start_time DESC LIMIT ?",
        (project, name, until, HISTORY_LIMIT),
    ).fetchall()
    return EntrypointHistory(
        durations_ms=[float(row[0]) for row in rows], costs_usd=[float(row[1] or 0.0) for row in rows]
    )


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_trees(store: Store, traces: Sequence[TraceRecord]) -> Iterator[tuple[TraceRecord, SpanTree]]:
    """Each trace with its span tree, reading the spans of :data:`BATCH` traces per query."""
    for batch in _batches(traces, BATCH):
        spans: dict[str, list[Any]] = {trace.id: [] for trace in batch}
        rows = store.conn.execute(
            "SELECT * FROM spans WHERE trace_id IN (SELECT value FROM json_each(?))",
            (json.dumps([trace.id for trace in batch]),),
        )
        for row in rows:
            spans[row["trace_id"]].append(span_from_row(row))
        for trace in batch:
            yield trace, SpanTree.build(spans[trace.id], trace)


def label_failures(
    store: Store,
    failures: Sequence[tuple[TraceRecord, list[str]]],
    *,
    until: float,
    labellers: Sequence[Labeller] = (),
) -> list[FailingTrace]:
    """Run the rules on each failure, then any extra labellers (custom hooks); oldest first."""
    histories: dict[tuple[str, str], EntrypointHistory] = {}
    negative = {trace.id: names for trace, names in failures}
    labelled: list[FailingTrace] = []
    for trace, tree in load_trees(store, [trace for trace, _ in failures]):
        key = (trace.project, trace.name)
        history = histories.get(key)
        if history is None:
            history = histories[key] = entrypoint_history(store, trace.project, trace.name, until=until)
        labelled.append(label_one(trace, tree, history, negative[trace.id], labellers))
    return labelled


def label_one(
    trace: TraceRecord,
    tree: SpanTree,
    history: EntrypointHistory,
    negative_feedback: list[str],
    labellers: Sequence[Labeller] = (),
) -> FailingTrace:
    """One trace's findings, rule labels (then the labellers'), and signature."""
    findings = run_rules(tree, history)
    failing = FailingTrace(
        trace=trace,
        findings=findings,
        labels=rule_labels(findings, tree),
        signature=signature_of(findings, tree, negative_feedback=negative_feedback),
        negative_feedback=negative_feedback,
    )
    for labeller in labellers:
        failing.add_labels(labeller(trace, tree, findings))
    return failing
