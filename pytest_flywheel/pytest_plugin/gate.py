"""``--flywheel-min-pass-rate``: the suites' pass rates as the gate of a run."""

from __future__ import annotations

import pytest

from pytest_flywheel.pytest_plugin.results import SessionResults, pass_rate


def minimum_met(results: SessionResults, minimum: float | None) -> bool:
    """Whether every suite's pass rate is at least ``minimum`` (hand-written tests are no suite)."""
    if minimum is None:
        return True
    return all(
        (rate := pass_rate(group)) is None or rate >= minimum
        for group in results.groups().values()
        if any(outcome.suite for outcome in group)
    )


def min_pass_rate_gate(
    results: SessionResults, *, minimum: float, exit_status: int, tests_failed: int
) -> tuple[int, int]:
    """The run's exit status under the gate, and how many failed suite cases it tolerated.

    Below the minimum, the run fails even when pytest saw no failure. At or above it, failed suite
    cases are tolerated (an LLM agent's suite is allowed its known failures), but nothing else is: an
    error (a case that could not be checked), a failed hand-written test or any other failing test
    still fails the run.
    """
    if not minimum_met(results, minimum):
        if exit_status == pytest.ExitCode.OK:
            return int(pytest.ExitCode.TESTS_FAILED), 0
        return exit_status, 0
    if exit_status != pytest.ExitCode.TESTS_FAILED:
        return exit_status, 0
    outcomes = results.outcomes
    tolerated = sum(1 for outcome in outcomes if outcome.suite and outcome.status == "failed")
    if tolerated and tolerated == tests_failed and not any(o.status == "error" for o in outcomes):
        return int(pytest.ExitCode.OK), tolerated
    return exit_status, 0
