"""The judge through the real SDK against a loopback server, and the verdict cache around it."""

from __future__ import annotations

import json

import pytest

from pytest_flywheel.testing import ErrorReply
from tests.plugin.conftest import Project


def test_the_second_run_makes_no_judge_call_and_gives_the_same_answer(project: Project) -> None:
    first = project.pytester.runpytest("--flywheel-suite=qa")
    first.assert_outcomes(passed=1, failed=1)
    first.stdout.fnmatch_lines(["verdicts: 0 cached, 3 newly judged, 0 unused; wrote *verdicts.jsonl"])
    assert project.judge_calls() == 2
    written = project.verdicts.read_bytes()
    assert len(written.splitlines()) == 3

    second = project.pytester.runpytest("--flywheel-suite=qa")
    second.assert_outcomes(passed=1, failed=1)
    second.stdout.fnmatch_lines(["verdicts: 3 cached, 0 newly judged, 0 unused", "judge: 0 calls, *$0.0000"])
    assert project.judge_calls() == 2  # no new call
    assert project.verdicts.read_bytes() == written  # read once, not rewritten


def test_offline_without_a_cached_verdict_is_an_error(project: Project) -> None:
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-offline")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*No cached verdict for 1 assertion*--flywheel-offline*"])
    assert project.judge_calls() == 0
    assert not project.verdicts.exists()


def test_offline_serves_cached_verdicts(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa").assert_outcomes(passed=1, failed=1)
    project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-offline").assert_outcomes(
        passed=1, failed=1
    )
    assert project.judge_calls() == 2


def test_no_api_key_is_an_error_never_a_pass(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    result = project.pytester.runpytest("--flywheel-suite=qa")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*ANTHROPIC_API_KEY is not set*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_failing_judge_api_is_an_error(project: Project) -> None:
    project.judge.respond_with(lambda request: ErrorReply(400, "invalid_request_error", "model not found"))
    result = project.pytester.runpytest("--flywheel-suite=qa")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*the judge could not answer for case 'refund'*"])


def test_update_verdicts_judges_again_and_overwrites(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa")
    before = [json.loads(line) for line in project.verdicts.read_text().splitlines()]
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-update-verdicts")
    result.stdout.fnmatch_lines(["verdicts: 0 cached, 3 newly judged*"])
    assert project.judge_calls() == 4
    after = [json.loads(line) for line in project.verdicts.read_text().splitlines()]
    assert [entry["key"] for entry in after] == [entry["key"] for entry in before]


def test_unused_verdicts_are_reported_and_pruned(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa")
    keys_before = {json.loads(line)["key"] for line in project.verdicts.read_text().splitlines()}
    # A new input gives a new output, so the old verdict of that assertion is no longer used.
    suite = project.path / "flywheel/suites/qa.yaml"
    suite.write_text(suite.read_text().replace('"a refund"', '"a refund request"'))

    reported = project.pytester.runpytest("--flywheel-suite=qa")
    reported.stdout.fnmatch_lines(
        ["verdicts: 2 cached, 1 newly judged, 1 unused (--flywheel-prune removes them)*"]
    )
    assert len(project.verdicts.read_text().splitlines()) == 4

    # Only the tests that ran count: a run of the other case alone prunes nothing of this one.
    partial = project.pytester.runpytest("--flywheel-suite=qa", "-k", "shipping", "--flywheel-prune")
    partial.stdout.fnmatch_lines(["verdicts: 2 cached, 0 newly judged, 0 unused"])
    assert len(project.verdicts.read_text().splitlines()) == 4

    pruned = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-prune")
    pruned.stdout.fnmatch_lines(["verdicts: 3 cached, 0 newly judged, 0 unused; wrote * (1 pruned)"])
    keys_after = {json.loads(line)["key"] for line in project.verdicts.read_text().splitlines()}
    assert len(keys_after) == 3
    assert len(keys_before - keys_after) == 1


def test_judge_model_option_reaches_the_api_and_the_cache_key(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa")
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-judge-model=claude-haiku-5-5")
    result.stdout.fnmatch_lines(["verdicts: 0 cached, 3 newly judged*"])
    models = [request.body["model"] for request in project.judge.message_requests]
    assert models == ["claude-sonnet-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-haiku-5-5"]


def test_a_corrupt_verdict_line_warns_and_the_others_still_serve(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa")
    project.verdicts.write_text("{not json\n" + project.verdicts.read_text())
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-offline")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*verdicts.jsonl:1: not a verdict entry*"])


def test_judge_calls_carry_the_judge_header_and_no_key_reaches_the_verdict_file(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa")
    assert all(request.headers.get("x-flywheel-judge") == "1" for request in project.judge.message_requests)
    assert "test-key" not in project.verdicts.read_text()
