"""The HTML report: one self-contained file (data, script and style inline; no network to view it).

The page's data is one JSON document inside ``<script type="application/json">``. Every ``<``, ``>``,
``&``, U+2028 and U+2029 in it is written as a ``\\uXXXX`` escape, which JSON reads back as the same
character: no agent output (``</script>``, ``<!--``) can end the element or open a comment, and the
JSON stays valid. Outputs and trajectories repeat from run to run (replay is deterministic), so each
distinct value is stored once, in ``values``, and results point at it by index: 50 runs of 200 cases
stay a few megabytes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from pytest_flywheel.canonical import json_data
from pytest_flywheel.runs.model import RunRecord

#: What the page says while its script has not drawn it (or if the script cannot run).
NOT_DRAWN = (
    "This report is drawn by the script inside it. If this message stays, the script could not run: "
    "JavaScript is off for this page, or the file is damaged (the browser's console says why)."
)
_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class _Values:
    """Distinct JSON values, each stored once; ``index(value)`` is its place in ``items``."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._seen: dict[str, int] = {}

    def index(self, value: Any) -> int:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = len(self.items)
            self.items.append(value)
        return found


def report_data(
    runs: Sequence[RunRecord],
    *,
    stats: dict[str, Any] | None = None,
    tags: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The JSON the page renders: ``runs`` oldest first, each with its results keyed by case.

    ``tags``: each case's tags by case key (``suite::case``), for the matrix's tag filter; a run
    record's own ``tags`` for a case, when its report has them, win.
    """
    values = _Values()
    cases: dict[str, dict[str, Any]] = {}
    for run in runs:
        recorded = {
            item.get("nodeid"): item.get("tags")
            for item in run.report.get("cases") or []
            if isinstance(item, dict) and isinstance(item.get("tags"), list)
        }
        for case in run.cases:
            entry = cases.setdefault(
                case.key, {"key": case.key, "suite": case.suite, "case_id": case.case_id, "tags": []}
            )
            found = recorded.get(case.nodeid) or (tags or {}).get(case.key) or []
            entry["tags"] = sorted({*entry["tags"], *map(str, found)})
    return {
        "generated_at": iso(datetime.now(UTC).timestamp()),
        "runs": [
            {
                "id": run.id,
                "started_at": iso(run.started_at),
                "git_commit": run.git_commit,
                "git_branch": run.git_branch,
                "pass_rate": run.pass_rate,
                "passed": run.count("passed"),
                "failed": run.count("failed"),
                "errors": run.count("error"),
                "skipped": run.count("skipped"),
                "ran": sum(1 for case in run.cases if case.outcome != "skipped"),
                "results": {case.key: _result(case, values) for case in run.cases},
            }
            for run in runs
        ],
        "cases": list(cases.values()),
        "values": values.items,
        "stats": stats,
    }


def _result(case: Any, values: _Values) -> dict[str, Any]:
    return {
        "nodeid": case.nodeid,
        "outcome": case.outcome,
        "message": case.message,
        "duration_ms": case.duration_ms,
        "cost_usd": case.cost_usd,
        "output": values.index(case.output),
        # None: the run record has no trajectory for this case (older plugins did not write it)
        "trajectory": None if case.trajectory is None else values.index(case.trajectory),
        "assertions": [
            {"assertion": a.assertion, "kind": a.kind, "passed": a.passed, "reason": a.reason}
            for a in case.assertions
        ],
    }


def script_json(value: Any) -> str:
    """``value`` as JSON text safe inside a ``<script>`` element, and still the same JSON."""
    text = json.dumps(json_data(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.translate(_ESCAPES)


def render_html(
    runs: Sequence[RunRecord],
    *,
    title: str,
    stats: dict[str, Any] | None = None,
    tags: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The whole page for ``runs`` (oldest first) and, optionally, production ``stats``."""
    package = resources.files("pytest_flywheel.runs")
    script = package.joinpath("report.js").read_text(encoding="utf-8")
    style = package.joinpath("report.css").read_text(encoding="utf-8")
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    data = script_json(report_data(runs, stats=stats, tags=tags))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
        f"<style>\n{style}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>Generated {html.escape(generated)} by pytest-flywheel. "
        "Times are UTC.</p>\n"
        f'<main id="report"><p class="notice" id="report-status">{html.escape(NOT_DRAWN)}</p></main>\n'
        f'<script type="application/json" id="flywheel-data">{data}</script>\n'
        f"<script>\n{script}</script>\n</body>\n</html>\n"
    )
