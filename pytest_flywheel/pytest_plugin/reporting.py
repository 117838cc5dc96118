"""Results through the reporting people already use: the test report (and so xdist), JUnit XML
properties, and a ``flywheel`` section in the terminal summary."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flywheel.pytest_plugin.outcome import CaseOutcome

if TYPE_CHECKING:
    from pytest_flywheel.pytest_plugin.runtime import FlywheelRuntime

#: The group name used for judged tests that are not suite cases.
HAND_WRITTEN = "(hand-written tests)"


def attach_result(item: pytest.Item, report: pytest.TestReport, result: dict[str, Any]) -> None:
    """Carry the test's flywheel result on its report: JSON-safe, so xdist ships it to the controller."""
    report.flywheel = result  # type: ignore[attr-defined]
    if getattr(item, "flywheel_error", False):
        report.flywheel_error = True  # type: ignore[attr-defined]


def junit_properties(outcome: CaseOutcome) -> list[tuple[str, object]]:
    """One ``<property>`` per fact, numbered per assertion (JUnit XML has no nesting below a testcase):
    ``flywheel.assertion.N`` (the text), ``flywheel.verdict.N`` (pass / fail / unchecked),
    ``flywheel.reason.N`` and ``flywheel.source.N`` (cached / judged / check)."""
    properties: list[tuple[str, object]] = []
    if outcome.suite:
        properties.append(("flywheel.suite", outcome.suite))
    if outcome.case_id:
        properties.append(("flywheel.case", outcome.case_id))
    for number, result in enumerate(outcome.assertions, start=1):
        verdict = "unchecked" if result.passed is None else "pass" if result.passed else "fail"
        source = "check" if result.kind == "check" else "cached" if result.cached else "judged"
        properties.append((f"flywheel.assertion.{number}", result.assertion))
        properties.append((f"flywheel.verdict.{number}", verdict))
        properties.append((f"flywheel.reason.{number}", result.reason))
        properties.append((f"flywheel.source.{number}", source))
    return properties


def group_outcomes(outcomes: list[CaseOutcome]) -> dict[str, list[CaseOutcome]]:
    """Outcomes per suite name (hand-written tests under :data:`HAND_WRITTEN`), in first-seen order."""
    groups: dict[str, list[CaseOutcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.suite or HAND_WRITTEN].append(outcome)
    return dict(groups)


def pass_rate(outcomes: list[CaseOutcome]) -> float | None:
    """Passed over passed + failed + errors (skipped cases do not count); None when none counted."""
    counted = [outcome for outcome in outcomes if outcome.status != "skipped"]
    if not counted:
        return None
    return sum(1 for outcome in counted if outcome.status == "passed") / len(counted)


def _money(value: float) -> str:
    return f"${value:.4f}"


def write_terminal_summary(runtime: FlywheelRuntime, terminal: pytest.TerminalReporter) -> None:
    """The ``flywheel`` section: per suite the cases passed and the pass rate, each failing assertion
    with its reason, the verdict counts and the judge's tokens and cost."""
    if runtime.is_worker:
        return
    outcomes = list(runtime.outcomes.values())
    if not outcomes and runtime.write_result is None:
        return
    terminal.section("flywheel")
    minimum = runtime.options.min_pass_rate
    for name, group in group_outcomes(outcomes).items():
        rate = pass_rate(group)
        passed = sum(1 for outcome in group if outcome.status == "passed")
        counted = sum(1 for outcome in group if outcome.status != "skipped")
        shown_rate = "n/a" if rate is None else f"{rate:.1%}"
        below = rate is not None and minimum is not None and rate < minimum
        label = name if name == HAND_WRITTEN else f"suite {name}"
        line = f"{label}: {passed}/{counted} passed ({shown_rate})"
        if minimum is not None:
            line += f", below the minimum {minimum:.1%}" if below else f", minimum {minimum:.1%} met"
        terminal.write_line(line, red=below or passed < counted, green=not below and passed == counted)
        for outcome in group:
            if outcome.status == "error":
                terminal.write_line(f"  ERROR {outcome.nodeid}: {_first_line(outcome.error)}", red=True)
            for result in outcome.failing:
                terminal.write_line(f"  FAIL {outcome.nodeid}: {result.assertion}", red=True)
                if result.reason:
                    terminal.write_line(f"       {result.reason}")
            if outcome.raised is not None:
                terminal.write_line(
                    f"  FAIL {outcome.nodeid}: the target raised {_last_line(outcome.raised)}", red=True
                )
    stats = runtime.stats()
    verdicts = (
        f"verdicts: {stats['cached']} cached, {stats['new']} newly judged, {len(runtime.unused_keys)} unused"
    )
    if runtime.unused_keys and not runtime.options.prune:
        verdicts += " (--flywheel-prune removes them)"
    written = runtime.write_result
    if written is not None and written.written:
        verdicts += f"; wrote {written.path}"
        if written.pruned:
            verdicts += f" ({len(written.pruned)} pruned)"
    terminal.write_line(verdicts)
    terminal.write_line(
        f"judge: {stats['calls']} call{'s' if stats['calls'] != 1 else ''}, "
        f"{stats['input_tokens']} input + {stats['output_tokens']} output tokens, {_money(stats['cost_usd'])}"
    )
    if runtime.options.report is not None:
        terminal.write_line(f"report: {runtime._report_path()}")
    if runtime.tolerated_failures:
        count = runtime.tolerated_failures
        terminal.write_line(
            f"{count} failed case{'s' if count != 1 else ''} tolerated: every suite met "
            "--flywheel-min-pass-rate, so the run passes",
            yellow=True,
        )
    for problem in runtime.problems:
        terminal.write_line(f"warning: {problem}", yellow=True)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
