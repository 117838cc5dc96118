"""The end of a session on the controller, in order: the verdict file, the pass-rate gate, the JSON
report, the run record. Each step works on values and a failure of one (a file not written, a store
that cannot be reached) is a warning in the summary, never a change to the tests' outcomes."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_flywheel.pytest_plugin.reporting import SessionEnd
from pytest_flywheel.pytest_plugin.results import SessionResults
from pytest_flywheel.pytest_plugin.verdicts import (
    CaseDirectory,
    CollectionRecord,
    VerdictSummary,
    finish_verdicts,
)

if TYPE_CHECKING:
    from pytest_flywheel.config import Settings
    from pytest_flywheel.judge.cache import VerdictCache
    from pytest_flywheel.pytest_plugin.options import FlywheelOptions
    from pytest_flywheel.replay import Redactor


class FlywheelEndWarning(pytest.PytestWarning):
    """Something around the tests went wrong at session end (a file or the run not written)."""


@dataclass(frozen=True)
class EndInputs:
    """What ending a session needs."""

    results: SessionResults
    #: The session's verdict cache, or None when no test asked for one.
    cache: VerdictCache | None
    collection: CollectionRecord
    settings: Settings
    options: FlywheelOptions
    redactor: Redactor
    started_at: float
    invocation_dir: Path


def end_session(inputs: EndInputs, session: pytest.Session) -> SessionEnd:
    """Finish the session (see the module docstring); sets ``session.exitstatus`` under the gate."""
    settings, options, results = inputs.settings, inputs.options, inputs.results
    problems: list[str] = []
    verdicts: VerdictSummary | None = None
    if inputs.cache is not None:
        cases = CaseDirectory(
            root=settings.root, suites_dir=settings.suites_dir, collection=inputs.collection
        )
        verdicts = finish_verdicts(
            inputs.cache, ran_cases=results.ran_cases(), cases=cases, prune=options.prune
        )
        problems.extend(verdicts.problems)
    tolerated = 0
    if options.min_pass_rate is not None:
        from pytest_flywheel.pytest_plugin.gate import min_pass_rate_gate

        status, tolerated = min_pass_rate_gate(
            results,
            minimum=options.min_pass_rate,
            exit_status=int(session.exitstatus),
            tests_failed=session.testsfailed,
        )
        session.exitstatus = status
    from pytest_flywheel.pytest_plugin.report import build_report, write_report

    report = inputs.redactor.value(  # no secret reaches the report or the store
        build_report(
            results,
            verdicts=verdicts,
            root=settings.root,
            min_pass_rate=options.min_pass_rate,
            exit_status=int(session.exitstatus),
            started_at=inputs.started_at,
            ended_at=time.time(),
        )
    )
    report_path = None
    if options.report is not None:
        report_path = options.report if options.report.is_absolute() else inputs.invocation_dir / options.report
        try:
            write_report(report, report_path)
        except OSError as exc:
            problems.append(f"the report was not written to {report_path}: {exc}")
    if results.outcomes:
        from pytest_flywheel.runs import record_run

        try:
            record_run(settings, report)
        except Exception as exc:  # recording is a convenience: it must never break the test run
            problems.append(f"this run was not recorded in {settings.store}: {type(exc).__name__}: {exc}")
    for problem in problems:
        warnings.warn(FlywheelEndWarning(inputs.redactor.text(problem)), stacklevel=2)
    return SessionEnd(
        results=results,
        verdicts=verdicts,
        min_pass_rate=options.min_pass_rate,
        prune=options.prune,
        report_path=report_path,
        tolerated_failures=tolerated,
        problems=tuple(problems),
    )
