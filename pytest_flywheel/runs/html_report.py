"""The HTML report: one self-contained file (data, script and style inline; no network to view it)."""

from __future__ import annotations

import html
import json
from datetime import datetime
from importlib import resources
from typing import Any

from pytest_flywheel.runs.model import RunRecord


def _run_label(run: RunRecord) -> str:
    stamp = datetime.fromtimestamp(run.started_at).astimezone().strftime("%m-%d %H:%M")
    return f"{stamp} {run.git_commit[:7]}" if run.git_commit else stamp


def report_data(runs: list[RunRecord], *, stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON the page renders: runs oldest first, each with its results keyed by case."""
    keys: list[str] = []
    seen: set[str] = set()
    for run in runs:
        for case in run.cases:
            if case.key not in seen:
                seen.add(case.key)
                keys.append(case.key)
    return {
        "runs": [
            {
                "id": run.id,
                "label": _run_label(run),
                "started_at": run.started_at,
                "git_commit": run.git_commit,
                "pass_rate": run.pass_rate,
                "passed": run.count("passed"),
                "failed": run.count("failed"),
                "errors": run.count("error"),
                "ran": sum(1 for case in run.cases if case.outcome != "skipped"),
                "results": {
                    case.key: {
                        "nodeid": case.nodeid,
                        "outcome": case.outcome,
                        "message": case.message,
                        "output": case.output,
                        "trajectory": case.trajectory,
                        "assertions": [
                            {"assertion": a.assertion, "kind": a.kind, "passed": a.passed, "reason": a.reason}
                            for a in case.assertions
                        ],
                    }
                    for case in run.cases
                },
            }
            for run in runs
        ],
        "cases": keys,
        "stats": stats,
    }


def _script_json(value: Any) -> str:
    # Inside <script>, "</" would end the element early; "<!--" could open a comment state.
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render_html(runs: list[RunRecord], *, title: str, stats: dict[str, Any] | None = None) -> str:
    """The whole page for ``runs`` (oldest first) and, optionally, production ``stats``."""
    package = resources.files("pytest_flywheel.runs")
    script = package.joinpath("report.js").read_text(encoding="utf-8")
    style = package.joinpath("report.css").read_text(encoding="utf-8")
    generated = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
        f"<style>\n{style}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>Generated {html.escape(generated)} by pytest-flywheel.</p>\n"
        '<main id="report"></main>\n'
        f'<script type="application/json" id="flywheel-data">{_script_json(report_data(runs, stats=stats))}</script>\n'
        f"<script>\n{script}</script>\n</body>\n</html>\n"
    )
