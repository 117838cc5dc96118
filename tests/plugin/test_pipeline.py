"""The run-ahead pipeline: judge calls of different cases overlap, and each case's problems stay its own."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import Project


def _suite(count: int, *, crash_at: int | None = None) -> str:
    cases = "".join(
        f"  - id: case-{number}\n"
        f"    input: {{question: '{'please crash' if number == crash_at else f'order {number}'}'}}\n"
        "    assertions: [\"The reply must mention 'refund'\"]\n"
        for number in range(count)
    )
    return f"version: 1\nname: many\ntarget: agent:answer\ncases:\n{cases}"


def test_judge_calls_of_different_cases_overlap(project: Project) -> None:
    project.judge.delay = 0.2
    project.write_suite("many", _suite(8))
    project.pytester.runpytest("--flywheel-suite=many").assert_outcomes(passed=8)
    assert project.judge_calls() == 8
    assert project.judge.max_in_flight >= 2  # cases ahead were being judged while one waited


def test_without_run_ahead_calls_go_one_at_a_time(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_JUDGE_LOOKAHEAD", "0")
    project.judge.delay = 0.05
    project.write_suite("many", _suite(4))
    project.pytester.runpytest("--flywheel-suite=many").assert_outcomes(passed=4)
    assert project.judge.max_in_flight == 1


def test_a_problem_of_a_case_run_ahead_is_reported_on_that_case(project: Project) -> None:
    project.write_suite("many", _suite(5, crash_at=2))
    result = project.pytester.runpytest("--flywheel-suite=many", "-v")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*::case-0 PASSED*",
            "*::case-1 PASSED*",
            "*::case-2 FAILED*",
            "*::case-3 PASSED*",
            "*::case-4 PASSED*",
        ]
    )


def test_a_bad_lookahead_setting_is_an_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_JUDGE_LOOKAHEAD", "lots")
    result = project.pytester.runpytest("--flywheel-suite=qa")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*FLYWHEEL_JUDGE_LOOKAHEAD='lots': expected a whole number*"])
    assert "Traceback" not in result.stdout.str()
