"""``flywheel report --html PATH``: the self-contained HTML report of recent runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_flywheel.cli._common import add_store_option, open_store_for_reading, store_path
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.files import write_atomic
from pytest_flywheel.runs import list_runs, load_run
from pytest_flywheel.runs.html_report import render_html


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser(
        "report", help="Write the HTML report of recent runs (one self-contained file)"
    )
    report.add_argument("--html", required=True, metavar="PATH", help="Where to write the HTML file")
    report.add_argument("--suite", help="Only runs that included this suite")
    report.add_argument("--runs", type=int, default=10, metavar="N", help="How many recent runs (default 10)")
    report.add_argument(
        "--stats", action="store_true", help="Add production trends (flywheel stats) as charts"
    )
    report.add_argument("--project", help="With --stats: the traced project")
    report.add_argument("--since", default="7d", help="With --stats: how far back (default 7d)")
    report.add_argument(
        "--by", choices=("hour", "day"), default="day", help="With --stats: period (default day)"
    )
    add_store_option(report)
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise FlywheelError(f"--runs {args.runs}: give at least 1")
    with open_store_for_reading(args) as store:
        summaries = list_runs(store, suite=args.suite, limit=args.runs)
        runs = [load_run(store, run.id) for run in reversed(summaries)]
        stats = None
    if args.stats:
        from pytest_flywheel.config import load_settings
        from pytest_flywheel.runs.trends import production_stats
        from pytest_flywheel.store.queries import parse_since

        stats = production_stats(
            load_settings(),
            since=parse_since(args.since),
            by=args.by,
            project=args.project,
            store_path=store_path(args),
        ).to_json()
    if not runs and stats is None:
        where = f" of suite {args.suite!r}" if args.suite else ""
        raise FlywheelError(f"no recorded runs{where}: run `pytest --flywheel-suite=NAME` first")
    title = f"pytest-flywheel: {args.suite}" if args.suite else "pytest-flywheel report"
    path = Path(args.html)
    write_atomic(path, render_html(runs, title=title, stats=stats))
    print(
        f"Wrote {path} ({len(runs)} run{'s' if len(runs) != 1 else ''}{', with production trends' if stats else ''})"
    )
    return 0
