"""``flywheel stats``: production trends, and the failures no suite case covers yet."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import add_json_option, add_store_option, print_json, store_path
from pytest_flywheel.cli.traces import format_table
from pytest_flywheel.config import Settings, load_settings
from pytest_flywheel.runs.trends import PERIODS, PeriodStats, ProductionStats, production_stats

if TYPE_CHECKING:
    from pytest_flywheel.evolve.triage import TriageReport

DESCRIPTION = """\
Per period (UTC hours or days): trace volume, error rate, task success rate, latency p50/p95
(nearest rank), tokens and cost; where failures start (the spans that raised while none of their
children did, in any trace, also one whose agent caught the exception: the traces that
`flywheel traces list --has-error` lists) and their error types; and the uncovered failures: the
failures no suite case covers yet, grouped as `flywheel triage` clusters them (entrypoint, rule
labels, first bad step), most frequent first.

Task success rate: over the traces with feedback, the share whose positive signals outnumber the
negative ones. Positive: true, numbers >= 0.5, up, thumbs_up, success, pass, good, yes, resolved, ...
Negative: false, numbers < 0.5, down, thumbs_down, failure, fail, bad, no, wrong, ... Other text is
no signal. A feedback name that reports a failure (task_failed, thumbs_down) flips the value's sign.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="Production trends and the failures to capture next",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--project", type=values.text, metavar="PROJECT", help="Only traces of this project")
    parser.add_argument(
        "--since",
        type=values.since,
        default="7d",
        metavar="WHEN",
        help="How far back: 30m, 2h, 3d, 1w or an ISO-8601 time (default 7d)",
    )
    parser.add_argument(
        "--by", choices=PERIODS, default="day", metavar="PERIOD", help="Period: hour or day (default day)"
    )
    parser.add_argument("--top", type=values.count, default=10, metavar="N", help="Rows per list (default 10)")
    add_json_option(parser, "Print every figure as one JSON document")
    add_store_option(parser)
    parser.set_defaults(func=run_stats)


def run_stats(args: argparse.Namespace) -> int:
    top = args.top
    settings = load_settings()
    stats = production_stats(
        settings,
        since=args.since,
        by=args.by,
        project=args.project,
        store_path=store_path(args),
        top=top,
    )
    report = uncovered_clusters(settings, args, stats)
    if args.json:
        data = stats.to_json()
        data["uncovered_clusters"] = [_cluster_json(c) for c in report.uncovered[:top]]
        print_json(data)
    else:
        print(render_stats(stats, report, top=top))
    return 0


def uncovered_clusters(settings: Settings, args: argparse.Namespace, stats: ProductionStats) -> TriageReport:
    """The window's failures clustered as ``flywheel triage`` does (rule and custom labels; no LLM)."""
    from pytest_flywheel.evolve.plugins import custom_labeller
    from pytest_flywheel.evolve.triage import triage
    from pytest_flywheel.store.queries import open_store_for_reading

    labeller = custom_labeller(settings.root)
    with open_store_for_reading(store_path(args)) as store:
        return triage(
            settings, store, since=stats.since, until=stats.until, project=stats.project,
            labellers=[labeller] if labeller else [],
        )  # fmt: skip


def _cluster_json(cluster: Any) -> dict[str, Any]:
    data: dict[str, Any] = cluster.to_json()
    data["trace_ids"] = data["trace_ids"][:EXAMPLES]  # the cluster's newest traces: triage --json lists all
    return data


#: Trace ids per uncovered cluster in ``--json`` (``flywheel triage --json`` gives them all).
EXAMPLES = 3


def _collapse_quiet(periods: list[PeriodStats]) -> list[PeriodStats | str]:
    """Runs of three or more periods without traces become one ``first..last`` row."""
    shown: list[PeriodStats | str] = []
    run: list[PeriodStats] = []
    for period in [*periods, None]:
        if period is not None and period.traces == 0:
            run.append(period)
            continue
        if len(run) >= 3:
            shown.append(f"{run[0].label}..{run[-1].label}")
        else:
            shown.extend(run)
        run = []
        if period is not None:
            shown.append(period)
    return shown


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def render_stats(stats: ProductionStats, report: TriageReport | None = None, *, top: int = 10) -> str:
    """The plain-text report ``flywheel stats`` prints."""
    scope = f"project {stats.project}" if stats.project else "all projects"
    lines = [f"Production trends, {scope}, by {stats.by} (UTC)", ""]
    rows = [
        [
            "PERIOD",
            "TRACES",
            "ERRORS",
            "SUCCESS",
            "RATED",
            "P50 MS",
            "P95 MS",
            "TOKENS IN",
            "TOKENS OUT",
            "COST",
        ]
    ]
    for p in [*_collapse_quiet(stats.periods), stats.totals]:
        if isinstance(p, str):
            rows.append([p, "0", *["-"] * 8])
            continue
        rows.append(
            [
                p.label,
                f"{p.traces:,}",
                _pct(p.error_rate),
                _pct(p.success_rate),
                f"{p.rated:,}",
                _ms(p.latency_p50_ms),
                _ms(p.latency_p95_ms),
                f"{p.input_tokens:,}",
                f"{p.output_tokens:,}",
                f"${p.cost_usd:,.4f}",
            ]
        )
    lines.append(format_table(rows))

    lines += ["", "Where failures start (spans that raised, none of their children did):"]
    if stats.traces_with_raising_spans:
        lines.append(
            f"  {stats.traces_with_raising_spans:,} trace{'s' if stats.traces_with_raising_spans != 1 else ''} "
            "had a span that raised, caught or not (`flywheel traces list --has-error` lists them)"
        )
    if stats.failing_spans:
        span_rows = [["SPAN", "TYPE", "FAILURES", "TRACES"]]
        span_rows += [[s.name, s.type, f"{s.failures:,}", f"{s.traces:,}"] for s in stats.failing_spans]
        lines.append(format_table(span_rows))
        type_rows = [["ERROR TYPE", "FAILURES", "TRACES", "EXAMPLE"]]
        type_rows += [
            [e.type, f"{e.failures:,}", f"{e.traces:,}", (e.example_message or "")[:60]]
            for e in stats.error_types
        ]
        lines += ["", format_table(type_rows)]
    else:
        lines.append("  no span raised in this window")

    if report is not None:
        lines += ["", *render_uncovered(report, top=top)]
    for warning in stats.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def render_uncovered(report: TriageReport, *, top: int) -> list[str]:
    """The uncovered-failures section: triage's clusters no case covers, most frequent first."""
    from pytest_flywheel.cli.triage import utc

    uncovered = report.uncovered
    lines = [
        f"Uncovered failures: what to capture next ({report.failures:,} failed, raising or negatively rated "
        f"traces in {len(report.clusters)} clusters, {len(report.clusters) - len(uncovered)} covered by a suite case):"
    ]
    if not uncovered:
        lines.append("  none: every failure cluster in this window is covered by a suite case")
        return lines
    rows = [["COUNT", "TREND", "LABELS", "FIRST BAD STEP", "LAST SEEN", "EXAMPLE"]]
    for cluster in uncovered[:top]:
        labels = ", ".join(cluster.labels) or "no label"
        rows.append(
            [f"{cluster.count:,}", cluster.trend, labels, cluster.signature.text, utc(cluster.last_seen),
             cluster.example.trace.id]
        )  # fmt: skip
    lines.append(format_table(rows))
    if len(uncovered) > top:
        lines.append(f"... {len(uncovered) - top} more: flywheel triage --top {len(uncovered)}")
    lines.append("Propose a case for each: flywheel candidates propose SUITE (or capture one with flywheel suite add).")
    return lines
