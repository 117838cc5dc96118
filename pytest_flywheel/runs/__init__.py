"""Runs: every suite run is recorded; compare two runs side by side; the HTML report; production trends.

The plugin calls :func:`record_run` once per session with its JSON report.
"""

from __future__ import annotations

from pytest_flywheel.runs.compare import CHANGES, RunComparison, compare_runs
from pytest_flywheel.runs.model import AssertionResult, CaseResult, RunRecord
from pytest_flywheel.runs.queries import RunNotFoundError, list_runs, load_run, save_run
from pytest_flywheel.runs.recorder import record_run, run_from_report

__all__ = [
    "CHANGES",
    "AssertionResult",
    "CaseResult",
    "RunComparison",
    "RunNotFoundError",
    "RunRecord",
    "compare_runs",
    "list_runs",
    "load_run",
    "record_run",
    "run_from_report",
    "save_run",
]
