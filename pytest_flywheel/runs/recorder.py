"""Recording a pytest session's results in the store (called once per session by the plugin)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from pytest_flywheel.config import Settings
from pytest_flywheel.runs.model import AssertionResult, CaseResult, RunRecord
from pytest_flywheel.runs.queries import save_run
from pytest_flywheel.store import Store
from pytest_flywheel.tracing.ids import new_id


def git_info(root: Path) -> tuple[str | None, str | None]:
    """(commit, branch) of the repository at ``root``, or Nones outside one."""

    def ask(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() or None if done.returncode == 0 else None

    commit = ask("rev-parse", "HEAD")
    branch = ask("rev-parse", "--abbrev-ref", "HEAD") if commit else None
    return commit, (None if branch == "HEAD" else branch)


def _first(mapping: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in mapping and mapping[key] is not None:
            return mapping[key]
    return default


def _assertion_from(item: dict[str, Any]) -> AssertionResult:
    passed = _first(item, "passed")
    verdict = _first(item, "verdict")
    if passed is None and isinstance(verdict, str):
        passed = {"pass": True, "passed": True, "fail": False, "failed": False}.get(verdict.lower())
    return AssertionResult(
        assertion=str(_first(item, "assertion", "text", "label", default="")),
        kind=str(_first(item, "kind", default="sentence")),
        passed=None if passed is None else bool(passed),
        reason=_first(item, "reason"),
        cached=_first(item, "cached"),
        confidence=_first(item, "confidence"),
    )


def _case_from(item: dict[str, Any]) -> CaseResult:
    duration = _first(item, "duration_ms")
    if duration is None and _first(item, "duration") is not None:
        duration = float(item["duration"]) * 1000.0
    return CaseResult(
        nodeid=str(_first(item, "nodeid", "node_id", default="")),
        case_id=str(_first(item, "case_id", "id", "name", default="")),
        outcome=str(_first(item, "outcome", default="error")),
        suite=_first(item, "suite"),
        duration_ms=duration,
        latency_ms=_first(item, "latency_ms"),
        tokens=_first(item, "tokens"),
        cost_usd=_first(item, "cost_usd", "cost"),
        output=_first(item, "output"),
        trajectory=_first(item, "trajectory"),
        message=_first(item, "message", "error", "longrepr"),
        assertions=[_assertion_from(a) for a in _first(item, "assertions", default=[])],
    )


def run_from_report(report: dict[str, Any], *, run_id: str | None = None) -> RunRecord:
    """Build a :class:`RunRecord` from the plugin's JSON report (``--flywheel-report``'s format)."""
    cases = [_case_from(item) for item in _first(report, "cases", "tests", default=[])]
    for case in cases:
        if not case.nodeid:
            case.nodeid = case.key
    suites = report.get("suites") or []
    suite_names = sorted(suites) if isinstance(suites, dict) else [str(s) for s in suites]
    if not suite_names:
        suite_names = sorted({case.suite for case in cases if case.suite})
    judge = report.get("judge") or {}
    ended = float(_first(report, "ended_at", "finished_at", default=time.time()))
    started = float(_first(report, "started_at", default=ended))
    return RunRecord(
        id=run_id or new_id(),  # time-ordered, like trace ids
        started_at=started,
        ended_at=ended,
        cases=cases,
        suites=suite_names,
        judge_calls=int(_first(judge, "calls", default=0)),
        judge_tokens=int(_first(judge, "tokens", default=0)),
        judge_cost=float(_first(judge, "cost_usd", "cost", default=0.0)),
        report=report,
    )


def record_run(settings: Settings, report: dict[str, Any]) -> str:
    """Store one session's report as a run; returns the run id."""
    run = run_from_report(report)
    run.git_commit, run.git_branch = git_info(settings.root)
    with Store(settings.store) as store:
        save_run(store, run)
    return run.id
