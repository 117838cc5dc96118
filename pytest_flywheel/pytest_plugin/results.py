"""The results of a session: one :class:`~pytest_flywheel.pytest_plugin.outcome.CaseOutcome` per test
the plugin touched (a suite case, a test marked ``assertion``, a test using the ``judge`` fixture),
with its true status, gathered from the test reports (so from xdist workers too).

Every phase's report of such a test carries ``report.flywheel`` (the outcome so far, as a dict; see
``plugin.py``), so a test that fails, errors, skips or xfails before or without any judging still
counts, with pytest's own verdict. :meth:`ResultsCollector.snapshot` gives the immutable
:class:`SessionResults` that the terminal summary, the JSON report and the run record are built from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_flywheel.judge.types import JudgeUsage
from pytest_flywheel.pytest_plugin.outcome import CaseOutcome, outcome_from_result

#: The group name used for judged tests that are not suite cases.
HAND_WRITTEN = "(hand-written tests)"


def phase_status(previous: str | None, report: pytest.TestReport) -> str:
    """The test's status after the report of one phase (setup, call or teardown)."""
    xfail = hasattr(report, "wasxfail")
    if report.when == "setup":
        if report.failed:
            return "error"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "passed"
    if report.when == "call":
        if report.failed:
            return "error" if getattr(report, "flywheel_error", False) else "failed"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "xpassed" if xfail else "passed"
    if report.failed and previous in (None, "passed", "xpassed"):
        return "error"  # a teardown failure after a pass, as pytest counts it
    return previous or "passed"


def pass_rate(outcomes: list[CaseOutcome]) -> float | None:
    """Passed over passed + failed + errors (skipped and xfailed cases do not count; an xpass counts
    as a pass); None when none counted."""
    counted = [outcome for outcome in outcomes if outcome.status not in ("skipped", "xfailed")]
    if not counted:
        return None
    return sum(1 for outcome in counted if outcome.status in ("passed", "xpassed")) / len(counted)


@dataclass(frozen=True)
class SessionResults:
    """Every touched test's outcome, in the order the tests reported."""

    outcomes: tuple[CaseOutcome, ...]

    def groups(self) -> dict[str, list[CaseOutcome]]:
        """Outcomes per suite name (hand-written tests under :data:`HAND_WRITTEN`), first-seen order."""
        groups: dict[str, list[CaseOutcome]] = defaultdict(list)
        for outcome in self.outcomes:
            groups[outcome.suite or HAND_WRITTEN].append(outcome)
        return dict(groups)

    def judge_usage(self) -> JudgeUsage:
        """The judge's usage over every outcome."""
        total = JudgeUsage()
        for outcome in self.outcomes:
            total.add(outcome.judge)
        return total

    def ran_cases(self) -> list[str]:
        """Node ids of the tests whose every assertion got an answer in this run."""
        return sorted(outcome.nodeid for outcome in self.outcomes if outcome.judged)


class ResultsCollector:
    """Keeps the outcome each report carries (reports from xdist workers arrive here too); called for
    each phase, so durations add up and the status is the test's overall one."""

    def __init__(self) -> None:
        self._outcomes: dict[str, CaseOutcome] = {}
        #: The result dict each outcome was read from: in one process every phase's report carries
        #: the same one, read once.
        self._sources: dict[str, dict[str, Any]] = {}

    def record(self, report: pytest.TestReport, result: dict[str, Any]) -> None:
        previous = self._outcomes.get(report.nodeid)
        if previous is not None and self._sources.get(report.nodeid) is result:
            previous.duration_ms += _duration_ms(report)
            previous.status = phase_status(previous.status, report)
            if report.failed and not previous.failing and previous.error is None and previous.raised is None:
                previous.raised = _failure_text(report)
            return
        self._sources[report.nodeid] = result
        outcome = outcome_from_result(result)
        if previous is not None:
            if not outcome.assertions and previous.assertions:
                outcome = previous  # a later phase that knows less (teardown) keeps what was known
            else:
                outcome.error = outcome.error or previous.error
                outcome.raised = outcome.raised or previous.raised
        outcome.nodeid = report.nodeid
        outcome.duration_ms = (previous.duration_ms if previous else 0.0) + _duration_ms(report)
        outcome.status = phase_status(previous.status if previous else None, report)
        if report.failed and not outcome.failing and outcome.error is None and outcome.raised is None:
            outcome.raised = _failure_text(report)  # what pytest says, for a test that failed on its own
        self._outcomes[report.nodeid] = outcome

    def snapshot(self) -> SessionResults:
        return SessionResults(outcomes=tuple(self._outcomes.values()))

    def __bool__(self) -> bool:
        return bool(self._outcomes)


def _failure_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message.strip():
        return message.strip()
    text = str(report.longreprtext or "").strip()
    return "\n".join(text.splitlines()[-20:]) or f"{report.when} failed"


def _duration_ms(report: pytest.TestReport) -> float:
    return float(getattr(report, "duration", 0.0) or 0.0) * 1000.0
