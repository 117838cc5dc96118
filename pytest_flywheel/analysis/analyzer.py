"""One analysis of one trace: rules, then the comparison, then (when it can run) the LLM analyst."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_flywheel.analysis.analyst import AnalystConfig, AnalystError, run_analyst, unavailable_reason
from pytest_flywheel.analysis.compare import build_comparison
from pytest_flywheel.analysis.findings import AnalystOutcome, Assertion, Comparison, Finding
from pytest_flywheel.analysis.rules import SYMPTOM_RULES, EntrypointHistory, run_rules
from pytest_flywheel.store import Store, TraceRecord
from pytest_flywheel.store.queries import TraceNotFoundError, require_traces, resolve_trace
from pytest_flywheel.store.tree import SpanTree

#: How many earlier traces of the entrypoint the outlier rules read.
HISTORY_LIMIT = 1000


@dataclass
class Analysis:
    """Everything ``flywheel analyze`` found about one trace."""

    trace: TraceRecord
    tree: SpanTree
    findings: list[Finding]
    analyst: AnalystOutcome
    comparison: Comparison | None = None
    comparison_note: str = ""
    good_tree: SpanTree | None = None
    question: str | None = None
    history_size: int = 0

    @property
    def root_cause_span_id(self) -> str | None:
        """The analyst's root cause when it answered, else the span of the most severe finding about a
        step (an answer- or total-level finding is a symptom: it wins only when it is all there is)."""
        if self.analyst.answer is not None:
            return self.analyst.answer.root_cause_span_id
        causes = [f for f in self.findings if f.rule not in SYMPTOM_RULES] or self.findings
        return causes[0].span_id if causes else None

    @property
    def nothing_wrong(self) -> bool:
        return not self.findings and self.trace.status == "ok" and self.analyst.answer is None

    @property
    def suggested_assertions(self) -> list[Assertion]:
        """The analyst's assertions when it answered, else the rules' (each once, most severe first)."""
        if self.analyst.answer is not None and self.analyst.answer.suggested_assertions:
            return list(self.analyst.answer.suggested_assertions)
        seen: list[Assertion] = []
        for finding in self.findings:
            if finding.suggested_assertion is not None and finding.suggested_assertion not in seen:
                seen.append(finding.suggested_assertion)
        return seen

    def to_dict(self) -> dict[str, Any]:
        trace = self.trace
        return {
            "trace": {
                "id": trace.id,
                "name": trace.name,
                "project": trace.project,
                "status": trace.status,
                "location": trace.location,
                "duration_ms": round(trace.duration_ms, 1),
                "cost_usd": trace.cost_usd,
                "span_count": trace.span_count or len(self.tree.by_id),
                "error": trace.error
                and {"type": trace.error.get("type"), "message": trace.error.get("message")},
            },
            "question": self.question,
            "nothing_wrong": self.nothing_wrong,
            "root_cause_span_id": self.root_cause_span_id,
            "findings": [f.to_dict() for f in self.findings],
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "comparison_note": self.comparison_note,
            "analyst": self.analyst.to_dict(),
            "suggested_assertions": self.suggested_assertions,
            "history_size": self.history_size,
        }


def load_trace_record(store: Store, trace_id: str) -> TraceRecord:
    """The trace with id (or unique id prefix) ``trace_id``; an unknown id or empty store is an error.

    A trace whose root span never finished has no summary row: one is made from its spans.
    """
    require_traces(store)
    full_id = resolve_trace(store, trace_id)
    trace = store.get_trace(full_id)
    if trace is not None:
        return trace
    spans = store.get_spans(full_id)
    roots = [s for s in spans if s.parent_id is None] or spans[:1]
    if not roots:
        raise TraceNotFoundError(f"trace {full_id} has no spans in {store.path}.")
    root = roots[0]
    return TraceRecord(
        id=full_id,
        project=root.project,
        name=root.name,
        status="error" if any(s.error for s in spans) else "ok",
        start_time=min(s.start_time for s in spans),
        end_time=max(s.end_time for s in spans),
        input=root.input,
        output=root.output,
        error=root.error,
        location=root.location,
        span_count=len(spans),
        cost_usd=sum(s.cost_usd or 0.0 for s in spans),
    )


def entrypoint_history(store: Store, trace: TraceRecord) -> EntrypointHistory:
    rows = store.conn.execute(
        "SELECT duration_ms, cost_usd FROM traces WHERE name = ? AND project = ? AND id != ?"
        " ORDER BY start_time DESC LIMIT ?",
        (trace.name, trace.project, trace.id, HISTORY_LIMIT),
    ).fetchall()
    return EntrypointHistory(
        durations_ms=[float(row["duration_ms"]) for row in rows],
        costs_usd=[float(row["cost_usd"] or 0.0) for row in rows],
    )


@dataclass
class AnalyzeOptions:
    """How to analyse: ``compare`` is "auto", a trace id, or None (no comparison)."""

    compare: str | None = "auto"
    use_llm: bool = True
    question: str | None = None
    model: str = "claude-sonnet-5-5"
    max_rounds: int = 8
    environ: Mapping[str, str] | None = None
    client: Any = None
    #: Applied to all trace text sent to the LLM analyst (the CLI passes the project's redactor).
    redact: Callable[[str], str] | None = None


def analyze(store: Store, trace_id: str, options: AnalyzeOptions | None = None) -> Analysis:
    """Analyse trace ``trace_id``. An analyst failure is recorded in ``analysis.analyst`` (status "error")."""
    options = options or AnalyzeOptions()
    trace = load_trace_record(store, trace_id)
    tree = SpanTree.build(store.get_spans(trace.id), trace)
    history = entrypoint_history(store, trace)
    findings = run_rules(tree, history)

    comparison: Comparison | None = None
    good_tree: SpanTree | None = None
    note = "not requested"
    if options.compare:
        comparison, good_tree, note = build_comparison(store, trace, tree, options.compare)

    if not options.use_llm:
        outcome = AnalystOutcome("skipped", "--no-llm was given")
    elif (reason := unavailable_reason(options.environ)) is not None and options.client is None:
        outcome = AnalystOutcome("skipped", reason)
    else:
        try:
            answer = run_analyst(
                tree,
                findings,
                config=AnalystConfig(model=options.model, max_rounds=options.max_rounds),
                comparison=comparison,
                good_tree=good_tree,
                comparison_note=note,
                question=options.question,
                client=options.client,
                redact=options.redact,
            )
            outcome = AnalystOutcome("used", f"{answer.model}, {answer.rounds} rounds", answer)
        except AnalystError as exc:
            outcome = AnalystOutcome("error", str(exc))
    return Analysis(
        trace=trace,
        tree=tree,
        findings=findings,
        analyst=outcome,
        comparison=comparison,
        comparison_note=note,
        good_tree=good_tree,
        question=options.question,
        history_size=len(history.durations_ms),
    )
