"""``flywheel report --html PATH``: the self-contained HTML report of recent runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import add_store_option, open_store_for_reading, safe_text, store_path
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.files import write_atomic
from pytest_flywheel.runs import list_runs, load_run
from pytest_flywheel.runs.html_report import render_html
from pytest_flywheel.runs.trends import PERIODS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser(
        "report",
        help="Write the HTML report of recent runs (one self-contained file)",
        description="Write one self-contained HTML page: the pass rate across runs, a case x run matrix "
        "(newest runs first, filtered by status and tag), each verdict and reason, the output and "
        "trajectory of failing cases, and what changed in a case's output since the run before. "
        "With --stats it adds production trends. Exit status 1 when there is nothing to report.",
    )
    report.add_argument("--html", type=values.output, required=True, metavar="PATH", help="Where to write the HTML file")
    report.add_argument("--suite", type=values.text, metavar="SUITE", help="Only runs that included this suite")
    report.add_argument(
        "--runs", type=values.count, default=10, metavar="N", help="How many recent runs (default 10)"
    )
    report.add_argument(
        "--stats", action="store_true", help="Add production trends (flywheel stats) as charts"
    )
    report.add_argument("--project", type=values.text, metavar="PROJECT", help="With --stats: the traced project")
    report.add_argument(
        "--since", type=values.since, default="7d", metavar="WHEN", help="With --stats: how far back (default 7d)"
    )
    report.add_argument(
        "--by", choices=PERIODS, default="day", metavar="PERIOD", help="With --stats: period (default day)"
    )
    add_store_option(report)
    report.set_defaults(func=run_report)


def check_report_destination(path: Path) -> None:
    """Refuse to write the page over a file that is not one (a mistyped path: a suite file, a script)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    except OSError as exc:
        raise FlywheelError(f"cannot read {path} to check it: {exc.strerror or exc}") from None
    if not head.startswith((b"<!doctype html", b"<html")):
        raise FlywheelError(
            f"--html {safe_text(str(path))}: that file exists and is not an HTML page; name a new file "
            "(or remove that one first)"
        )


def run_report(args: argparse.Namespace) -> int:
    check_report_destination(Path(args.html))  # before anything is read
    with open_store_for_reading(args) as store:
        summaries = list_runs(store, suite=args.suite, limit=args.runs)
        runs = [load_run(store, run.id) for run in reversed(summaries)]
        stats = None
    if args.stats:
        from pytest_flywheel.config import load_settings
        from pytest_flywheel.runs.trends import production_stats

        stats = production_stats(
            load_settings(),
            since=args.since,
            by=args.by,
            project=args.project,
            store_path=store_path(args),
        ).to_json()
    if not runs and stats is None:
        where = f" of suite {args.suite!r}" if args.suite else ""
        raise FlywheelError(f"no recorded runs{where}: run `pytest --flywheel-suite=NAME` first")
    title = f"pytest-flywheel: {args.suite}" if args.suite else "pytest-flywheel report"
    path = Path(args.html)
    page = render_html(runs, title=title, stats=stats, tags=_case_tags())
    try:
        write_atomic(path, page)
    except OSError as exc:
        raise FlywheelError(
            f"cannot write the report to {path}: {exc.strerror or exc}; name a file in a folder you can write"
        ) from None
    print(
        f"Wrote {safe_text(str(path))} ({len(runs)} run{'s' if len(runs) != 1 else ''}{', with production trends' if stats else ''})"
    )
    return 0


def _case_tags() -> dict[str, list[str]]:
    """Each suite case's tags (``suite::case`` to tags) from the suite files, for the tag filter; a
    file that does not load gives none (``flywheel suite validate`` says why)."""
    from pytest_flywheel.config import load_settings
    from pytest_flywheel.suites import list_suite_paths, load_suite
    from pytest_flywheel.suites.errors import SuiteFileError

    tags: dict[str, list[str]] = {}
    for path in list_suite_paths(load_settings()):
        try:
            suite = load_suite(path).suite
        except SuiteFileError:
            continue
        for case in suite.cases:
            if case.tags:
                tags[f"{suite.name}::{case.id}"] = list(case.tags)
    return tags
