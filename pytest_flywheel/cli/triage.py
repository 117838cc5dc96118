"""``flywheel triage``: production failures labelled with the failure taxonomy, and clustered."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import add_json_option, add_store_option, print_json, store_path
from pytest_flywheel.config import Settings, load_settings

if TYPE_CHECKING:
    from pytest_flywheel.evolve.clusters import Cluster
    from pytest_flywheel.evolve.triage import TriageReport

DESCRIPTION = """\
Label every failure of the window (a failed trace, one with a span that raised, or a negatively
rated one) with the failure taxonomy, and cluster them: the same entrypoint, the same labels and the
same first bad step (its span name, what went wrong there, its arguments' shape), then the requests
by input similarity within a cluster. Per cluster: how many, first and last seen, the trend, an
example trace, its labels, and whether a suite case covers it.

Rule labels need no key: tool_raised, tool_error_result, tool_empty_result, tool_repeated,
max_tokens, refusal, validation_error, step_raised, unhandled_exception, unsupported_figures,
ungrounded_answer, latency_outlier, cost_outlier. With ANTHROPIC_API_KEY set, an LLM adds what rules
cannot see (hallucinated_policy, ignored_retrieved_article, wrong_tool_argument,
claimed_success_after_failure), cached in flywheel/failure_labels.jsonl. A conftest.py at the
project root may add its own labels with the pytest_flywheel_failure_labels hook."""


#: Input groups listed per cluster in the text report (--json has all).
MAX_GROUPS_SHOWN = 5


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "triage",
        help="Label and cluster production failures, most frequent first",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_window_options(parser)
    parser.add_argument(
        "--top", type=values.count, default=20, metavar="N", help="Clusters to show in detail (default 20)"
    )
    add_json_option(parser, "Print every cluster as one JSON document")
    parser.set_defaults(func=run_triage)


def add_window_options(parser: argparse.ArgumentParser) -> None:
    """The options triage, and the commands built on it, share."""
    parser.add_argument(
        "--since",
        type=values.since,
        default="7d",
        metavar="WHEN",
        help="How far back: 30m, 2h, 3d, 1w or an ISO-8601 time (default 7d)",
    )
    parser.add_argument("--project", type=values.text, metavar="PROJECT", help="Only traces of this project")
    parser.add_argument("--no-llm", action="store_true", help="Rule labels only, even when a key is set")
    parser.add_argument(
        "--model",
        type=values.text,
        metavar="MODEL",
        help="The LLM labeller's model (default: [tool.flywheel] analyst_model, judge_model)",
    )
    add_store_option(parser)


def utc(epoch: float) -> str:
    """An epoch time as ISO-8601 UTC to the second, as the CLI prints times."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_window(args: argparse.Namespace, settings: Settings) -> tuple[TriageReport, Any]:
    """Triage the window the options name; the report and the project's redactor."""
    from pytest_flywheel.evolve.plugins import custom_labeller
    from pytest_flywheel.evolve.triage import LLMOptions, llm_unavailable, triage
    from pytest_flywheel.redaction import build_redactor
    from pytest_flywheel.store.queries import open_store_for_reading, require_traces

    since, project = args.since, args.project  # checked while parsing (pytest_flywheel.cli.values)
    redactor = build_redactor(settings)
    llm: LLMOptions | None = None
    skipped = "--no-llm was given" if args.no_llm else llm_unavailable(os.environ)
    if skipped is None:
        from pytest_flywheel.judge.anthropic_judge import judge_workers

        model = args.model or str(settings.raw.get("analyst_model") or settings.judge_model)
        llm = LLMOptions(model=model, workers=judge_workers(settings), redact=redactor.text)
    labeller = custom_labeller(settings.root)
    with open_store_for_reading(store_path(args)) as store:
        require_traces(store)
        report = triage(
            settings, store, since=since, project=project, llm=llm, labellers=[labeller] if labeller else []
        )
    if skipped is not None:
        report.llm.message = skipped
    return report, redactor


def run_triage(args: argparse.Namespace) -> int:
    top = args.top
    settings = load_settings()
    report, redactor = run_window(args, settings)
    if args.json:
        print_json(redactor.value(report.to_json()))
    else:
        print(redactor.text(render_triage(report, top=top)))
    if report.llm.status == "error":
        print(f"flywheel: error: {report.llm.message}", file=sys.stderr)
        return 1
    return 0


def llm_line(report: TriageReport) -> str:
    llm = report.llm
    if llm.status == "skipped":
        return f"Labels: rules only ({llm.message})."
    usage = llm.usage
    figures = (
        f"{usage.model}, {usage.calls} call{'s' if usage.calls != 1 else ''}, {usage.cached} from the cache, "
        f"{usage.input_tokens:,} in / {usage.output_tokens:,} out tokens, ${usage.cost_usd:.4f}"
        if usage is not None
        else ""
    )
    if llm.status == "error":
        return f"Labels: rules, and LLM labels only in part ({figures}): see the error below."
    return f"Labels: rules and LLM ({figures})."


def cluster_lines(number: int, cluster: Cluster) -> list[str]:
    """The detail lines of one cluster."""
    example = cluster.example
    lines = [
        f"{number}. {cluster.id}  {cluster.count:,} failure{'s' if cluster.count != 1 else ''}, "
        f"{cluster.trend} ({cluster.halves[0]} then {cluster.halves[1]}), {cluster.entrypoint}",
        f"   labels: {', '.join(f'{name} ({count})' for name, count in cluster.label_counts.items()) or 'none'}",
        f"   first bad step: {cluster.signature.text}",
        f"   seen: {utc(cluster.first_seen)} .. {utc(cluster.last_seen)}",
        f"   example: {example.trace.id}  {_preview(example.trace.input)}",
    ]
    for label in example.labels[:4]:
        lines.append(f"     {label.name} [{label.source}]: {label.evidence[:140]}")
    if cluster.feedback_line:
        lines.append(f"   feedback: {cluster.feedback_line}")
    if len(cluster.input_groups) > 1 or cluster.other_inputs:
        lines.append(f"   inputs ({len(cluster.input_groups)} groups of similar requests):")
        for group in cluster.input_groups[:MAX_GROUPS_SHOWN]:
            where = f"covered by {', '.join(group.covered_by)}" if group.covered_by else "no case"
            lines.append(f"     {group.count:>4}x  {_preview(group.example_input, 70)}  [{where}]")
        hidden = len(cluster.input_groups) - MAX_GROUPS_SHOWN
        if hidden > 0:
            lines.append(f"     ... {hidden} more group(s)")
        if cluster.other_inputs:
            lines.append(f"     {cluster.other_inputs:>4}x  other requests")
    cases = cluster.covering_cases
    shown = ", ".join(cases[:3]) + (" ..." if len(cases) > 3 else "")
    if cluster.covered:
        lines.append(f"   covered: yes, by {shown}")
    else:
        lines.append(f"   covered: no{f' (in part, by {shown})' if cases else ''}")
    return lines


def _preview(value: Any, limit: int = 90) -> str:
    from pytest_flywheel.analysis.text import short_json

    return short_json(value, limit)


def render_triage(report: TriageReport, *, top: int) -> str:
    scope = f"project {report.project}" if report.project else "all projects"
    since = f"since {utc(report.since)}" if report.since is not None else "all time"
    covered = sum(1 for cluster in report.clusters if cluster.covered)
    lines = [
        f"Triage, {scope}, {since}: {report.failures:,} failure{'s' if report.failures != 1 else ''} in "
        f"{len(report.clusters)} cluster{'s' if len(report.clusters) != 1 else ''}, {covered} covered by a suite case",
        llm_line(report),
    ]
    if not report.clusters:
        lines.append("No failed, raising or negatively rated trace in this window.")
    for number, cluster in enumerate(report.clusters[:top], 1):
        lines.append("")
        lines.extend(cluster_lines(number, cluster))
    if len(report.clusters) > top:
        lines += ["", f"... {len(report.clusters) - top} more cluster(s): --top {len(report.clusters)} shows all"]
    if report.uncovered:
        lines += ["", "Propose a case for each uncovered cluster: flywheel candidates propose SUITE"]
    lines.extend(f"warning: {warning}" for warning in report.warnings)
    return "\n".join(lines)
