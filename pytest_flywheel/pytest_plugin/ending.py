"""The end of a session on the controller, in order: the verdict file, the pass-rate gate, the JSON
report, the run record. Each step works on values and a failure of one (a file not written, a store
that cannot be reached) is a warning in the summary, never a change to the tests' outcomes."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flywheel.files import write_atomic
from pytest_flywheel.pytest_plugin.outcome import tool_names
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
    from pytest_flywheel.redaction import Redactor


class FlywheelEndWarning(pytest.PytestWarning):
    """Something around the tests went wrong at session end (a file or the run not written, a live tool
    that no case called)."""


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
    #: The environment's CI variables (GITHUB_STEP_SUMMARY, GITHUB_ACTIONS), read by the caller.
    environ: dict[str, str] = field(default_factory=dict)


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
    problems.extend(_unused_live_tools(options.live_tools, results))
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

    report = _scrubbed(  # no secret reaches the report or the store
        inputs.redactor,
        build_report(
            results,
            verdicts=verdicts,
            root=settings.root,
            min_pass_rate=options.min_pass_rate,
            exit_status=int(session.exitstatus),
            started_at=inputs.started_at,
            ended_at=time.time(),
        ),
    )
    over_budget = _budget_gate(inputs, report, problems)
    report["over_budget"] = list(over_budget)
    if over_budget and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        report["passed"], report["exit_status"] = False, int(session.exitstatus)
    report_path = None
    if options.report is not None:
        report_path = options.report if options.report.is_absolute() else inputs.invocation_dir / options.report
        try:
            write_report(report, report_path)
        except OSError as exc:
            problems.append(f"the report was not written to {report_path}: {exc}")
    run_id: str | None = None
    if results.outcomes:
        from pytest_flywheel.runs import record_run

        try:
            run_id = record_run(settings, report)
        except Exception as exc:  # recording is a convenience: it must never break the test run
            problems.append(f"this run was not recorded in {settings.store}: {type(exc).__name__}: {exc}")
    markdown_path = _write_markdown(inputs, report, run_id, problems)
    annotations: tuple[str, ...] = ()
    if inputs.environ.get("GITHUB_ACTIONS") == "true":
        from pytest_flywheel.pytest_plugin.ci_summary import github_annotations

        annotations = tuple(github_annotations(report["cases"]))
    for problem in problems:
        warnings.warn(FlywheelEndWarning(inputs.redactor.text(problem)), stacklevel=2)
    return SessionEnd(
        results=results,
        verdicts=verdicts,
        min_pass_rate=options.min_pass_rate,
        prune=options.prune,
        report_path=report_path,
        markdown_path=markdown_path,
        annotations=annotations,
        over_budget=over_budget,
        tolerated_failures=tolerated,
        problems=tuple(problems),
    )


def _unused_live_tools(live_tools: tuple[str, ...], results: SessionResults) -> list[str]:
    """A ``--flywheel-live-tools`` name that no case of the run called (a misspelt tool, most likely):
    nothing ran live under it, so the run must say so rather than pass on replayed results."""
    named = [tool for tool in live_tools if tool != "all"]
    ran = [outcome for outcome in results.outcomes if outcome.tools_called is not None or outcome.trajectory]
    if not named or not ran:
        return []
    called = sorted({tool for outcome in ran for tool in outcome.tools_called or tool_names(outcome.trajectory)})
    return [
        f"--flywheel-live-tools names {tool!r}, but no case of this run called a tool of that name "
        f"(the tools called: {', '.join(called) or 'none'}); check the name against the @track(type=\"tool\") "
        "functions, or nothing runs live under it"
        for tool in named
        if tool not in called
    ]


def _scrubbed(redactor: Redactor, report: dict[str, Any]) -> dict[str, Any]:
    """The report with secrets redacted; a report whose JSON text certainly holds none (one scan of
    the text, the common case) is kept as it is rather than walked value by value."""
    import json

    if redactor.clean_json_text(json.dumps(report, ensure_ascii=False)):
        return report
    scrubbed: dict[str, Any] = redactor.value(report)
    return scrubbed


def _budget_gate(inputs: EndInputs, report: dict[str, Any], problems: list[str]) -> tuple[str, ...]:
    """With ``--flywheel-max-*-increase``: each case whose cost, tokens or latency rose past its limit
    against the suite's previous recorded run, as lines to show; the run then fails."""
    options = inputs.options
    limits = (options.max_cost_increase, options.max_tokens_increase, options.max_latency_increase)
    if all(limit is None for limit in limits) or not report["cases"]:
        return ()
    from pytest_flywheel.runs import run_from_report
    from pytest_flywheel.runs.budget import BudgetGates, budget_against_previous, describe_change
    from pytest_flywheel.store import Store

    gates = BudgetGates(*limits)
    current = run_from_report(report)
    lines: list[str] = []
    try:
        with Store(inputs.settings.store) as store:
            for suite in current.suites:
                compared = budget_against_previous(store, current, gates, suite=suite)
                if compared is None:
                    continue
                previous, comparison = compared
                for case in comparison.over_budget:
                    changes = "; ".join(describe_change(figure) for figure in case.over)
                    lines.append(f"{case.key}: {changes} (against run {previous.id[:12]})")
    except Exception as exc:
        problems.append(f"the budget gates could not read the previous runs: {type(exc).__name__}: {exc}")
    return tuple(lines)


def _write_markdown(inputs: EndInputs, report: dict[str, Any], run_id: str | None, problems: list[str]) -> Path | None:
    """The Markdown summary to ``--flywheel-markdown`` (written) or ``$GITHUB_STEP_SUMMARY`` (appended,
    as GitHub expects of each step's writers); None when neither is asked for."""
    option = inputs.options.markdown
    step_summary = inputs.environ.get("GITHUB_STEP_SUMMARY")
    if option is None and not step_summary:
        return None
    from pytest_flywheel.pytest_plugin.ci_summary import SuiteHistory, markdown_summary, suite_history

    histories: dict[str, SuiteHistory] = {}
    if run_id is not None:
        from pytest_flywheel.runs.queries import load_run, previous_run
        from pytest_flywheel.store import Store

        try:
            with Store(inputs.settings.store) as store:
                current = load_run(store, run_id)
                for suite in current.suites:
                    previous = previous_run(store, suite=suite, started_before=current.started_at, exclude_id=run_id)
                    histories[suite] = suite_history(previous, current, suite)
        except Exception as exc:
            problems.append(f"the previous runs could not be read for the Markdown summary: {exc}")
    text = inputs.redactor.text(markdown_summary(report, histories))
    try:
        if option is not None:
            path = option if option.is_absolute() else inputs.invocation_dir / option
            write_atomic(path, text)
            return path
        path = Path(str(step_summary))
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
        return path
    except OSError as exc:
        problems.append(f"the Markdown summary was not written: {exc}")
        return None
