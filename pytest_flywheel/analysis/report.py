"""Rendering an :class:`Analysis`: a readable terminal report, or JSON for machines."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

from pytest_flywheel.analysis.analyzer import Analysis
from pytest_flywheel.analysis.findings import Assertion
from pytest_flywheel.analysis.text import short_json
from pytest_flywheel.analysis.trace_tools import span_flags

SHORT_ID = 8
MAX_TREE_LINES = 60
MAX_DIFFERENCES = 5
MAX_FINDINGS = 12


def short(span_id: str | None, width: int = SHORT_ID) -> str:
    return "-" if span_id is None else span_id[:width]


def id_width(ids: list[str], minimum: int = SHORT_ID) -> int:
    """The shortest prefix length (at least ``minimum``) that tells all of ``ids`` apart."""
    longest = max((len(i) for i in ids), default=minimum)
    for width in range(minimum, longest + 1):
        if len({i[:width] for i in ids}) == len(set(ids)):
            return width
    return longest


def assertion_text(assertion: Assertion) -> str:
    return assertion if isinstance(assertion, str) else json.dumps(assertion, sort_keys=True)


def _wrap(text: str, indent: str, first: str | None = None) -> str:
    return textwrap.fill(
        text,
        width=100,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def render_json(analysis: Analysis, redact: Callable[[Any], Any] | None = None) -> str:
    """The analysis as indented JSON; ``redact`` (a redactor's ``.value``) scrubs every string first."""
    data = analysis.to_dict()
    return json.dumps(redact(data) if redact else data, indent=2, ensure_ascii=False, default=str)


def render_text(analysis: Analysis) -> str:
    """The terminal report: the trace, its tree with the root cause marked, findings, divergence, analyst."""
    trace = analysis.trace
    out: list[str] = []
    out.append(f"Trace {trace.id}  {trace.name!r}" + (f" ({trace.location})" if trace.location else ""))
    out.append(
        f"  status {trace.status}, {trace.span_count or len(analysis.tree.by_id)} spans, "
        f"{trace.duration_ms:,.0f} ms, ${trace.cost_usd:.4f}"
    )
    out.append(f"  input:  {short_json(trace.input, 110)}")
    out.append(f"  output: {short_json(trace.output, 110)}")
    if trace.error:
        out.append(f"  error:  {trace.error.get('type')}: {str(trace.error.get('message'))[:200]}")
    if analysis.question:
        out.append(f"  question: {analysis.question}")
    out.append("")

    root_cause = analysis.root_cause_span_id
    ids = list(analysis.tree.by_id) + (list(analysis.good_tree.by_id) if analysis.good_tree else [])
    width = id_width(ids)
    flagged = {f.span_id for f in analysis.findings}
    out.append("Span tree (>> marks the root cause, ! a span with findings):")
    for count, node in enumerate(analysis.tree.walk()):
        if count >= MAX_TREE_LINES:
            out.append(f"  ... {len(analysis.tree.by_id) - MAX_TREE_LINES} more spans")
            break
        span = node.span
        mark = ">>" if span.id == root_cause else (" !" if span.id in flagged else "  ")
        flags = span_flags(node)
        out.append(
            f"{mark}{'  ' * (node.depth + 1)}{span.name} [{span.type}] {short(span.id, width)} "
            f"{span.status} {span.duration_ms:,.0f} ms" + (f"  ({', '.join(flags)})" if flags else "")
        )
    out.append("")

    if analysis.nothing_wrong and analysis.comparison is not None and analysis.comparison.differences:
        out.append(
            "No rule fired and the trace finished ok; how it differs from a good run (below) may still "
            "explain a bad answer."
        )
    elif analysis.nothing_wrong:
        out.append("Nothing wrong found: no rule fired and the trace finished ok.")
    elif analysis.findings:
        out.append(f"Findings ({len(analysis.findings)}, most severe first):")
        for number, finding in enumerate(analysis.findings, 1):
            if number > MAX_FINDINGS:
                unshown = analysis.findings[MAX_FINDINGS:]
                rules = ", ".join(sorted({f.rule for f in unshown}))
                out.append(f"  ... {len(unshown)} more findings ({rules}); --json lists them all")
                break
            out.append(
                f"  {number}. [{finding.severity}, {finding.confidence:.0%} sure] {finding.rule}: "
                f"{finding.title}"
            )
            out.append(f"     span {short(finding.span_id, width)} ({finding.span_name})")
            out.append(_wrap(finding.evidence, "     "))
            if finding.suggested_assertion is not None:
                out.append(_wrap(f"assert: {assertion_text(finding.suggested_assertion)}", "     "))
    else:
        out.append("No rule fired" + (" (the trace ended in an error)." if trace.status == "error" else "."))
    out.append("")

    comparison = analysis.comparison
    if comparison is None:
        out.append(f"Comparison: {analysis.comparison_note or 'none'}.")
    else:
        how = (
            f"picked automatically, input similarity {comparison.similarity:.2f}"
            if comparison.how_chosen == "auto" and comparison.similarity is not None
            else comparison.how_chosen
        )
        out.append(f"Compared with good trace {comparison.good_trace_id} ({how}):")
        first = comparison.first
        if first is None:
            out.append("  the two runs took the same steps with the same arguments and results.")
        else:
            out.append(f"  first divergence at {first.path}: {first.kind}")
            out.append(_wrap(first.detail, "    "))
            rest = [d for d in comparison.differences if d is not first][: MAX_DIFFERENCES - 1]
            for diff in rest:
                out.append(_wrap(f"also at {diff.path}: {diff.kind}: {diff.detail}", "    ", "  - "))
            hidden = len(comparison.differences) - 1 - len(rest)
            if hidden > 0:
                out.append(f"  ... {hidden} more differences (--json lists them all)")
    out.append("")

    analyst = analysis.analyst
    if analyst.status == "skipped":
        out.append(f"LLM analyst: not used ({analyst.message}); this report comes from the rules alone.")
    elif analyst.status == "error":
        out.append("LLM analyst: failed; the findings above come from the rules alone.")
        out.append(_wrap(analyst.message, "  "))
    elif analyst.answer is not None:
        answer = analyst.answer
        cause = analysis.tree.get(answer.root_cause_span_id)
        name = cause.span.name if cause else "?"
        out.append(
            f"LLM analyst ({answer.model}, {answer.rounds} rounds, "
            f"{answer.input_tokens + answer.output_tokens:,} tokens):"
        )
        out.append(f"  root cause: span {short(answer.root_cause_span_id, width)} ({name})")
        out.append(_wrap(answer.explanation, "  "))
        if answer.evidence_span_ids:
            out.append("  evidence: " + ", ".join(short(s, width) for s in answer.evidence_span_ids))
        if answer.suggested_fix:
            out.append(_wrap(f"suggested fix: {answer.suggested_fix}", "  "))
    assertions = analysis.suggested_assertions
    if assertions:
        out.append("")
        source = "the analyst" if analysis.analyst.answer is not None else "the rules"
        out.append(
            f"Suggested assertions for a regression test (from {source}; --add-to-suite SUITE adds them):"
        )
        for assertion in assertions:
            out.append(_wrap(assertion_text(assertion), "    ", "  - "))
    return "\n".join(out).rstrip() + "\n"
