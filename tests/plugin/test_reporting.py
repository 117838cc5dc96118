"""Reporting: JUnit XML properties, the JSON report, exit status, the minimum pass rate, recorded runs."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_flywheel.runs import list_runs, load_run
from pytest_flywheel.store import Store
from tests.plugin.conftest import Project


def test_junitxml_holds_each_assertion_verdict_and_reason(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa", "--junitxml=out.xml")
    tree = ET.parse(project.path / "out.xml")
    cases = {case.get("name"): case for case in tree.iter("testcase")}
    shipping = {prop.get("name"): prop.get("value") for prop in cases["shipping"].iter("property")}
    assert shipping["flywheel.suite"] == "qa"
    assert shipping["flywheel.case"] == "shipping"
    assert shipping["flywheel.assertion.1"] == "The reply must mention 'tracking'"
    assert shipping["flywheel.verdict.1"] == "fail"
    assert shipping["flywheel.reason.1"] == "The output does not mention tracking."
    assert shipping["flywheel.source.1"] == "judged"
    assert shipping["flywheel.verdict.2"] == "pass"
    refund = {prop.get("name"): prop.get("value") for prop in cases["refund"].iter("property")}
    assert refund["flywheel.assertion.2"] == "contains: '5 days'"
    assert refund["flywheel.source.2"] == "check"
    assert cases["shipping"].find("failure") is not None


def test_the_json_report(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-report=reports/run.json")
    report = json.loads((project.path / "reports/run.json").read_text())
    assert report["version"] == 2
    assert report["passed"] is False and report["exit_status"] == 1
    assert report["suites"] == {
        "qa": {
            "cases": 2,
            "passed": 1,
            "failed": 1,
            "errors": 0,
            "skipped": 0,
            "xfailed": 0,
            "xpassed": 0,
            "pass_rate": 0.5,
            "passed_min_pass_rate": True,
        }
    }
    cases = {case["case_id"]: case for case in report["cases"]}
    assert cases["refund"]["outcome"] == "passed"
    assert cases["shipping"]["outcome"] == "failed"
    assert cases["shipping"]["output"] == "About my parcel: we will refund you within 5 days."
    first = cases["shipping"]["assertions"][0]
    assert first["assertion"] == "The reply must mention 'tracking'"
    assert first["passed"] is False
    assert first["kind"] == "sentence"
    assert first["reason"] == "The output does not mention tracking."
    assert first["key"].startswith("sha256:")
    assert all(case["duration_ms"] > 0 for case in report["cases"])
    assert report["judge"]["calls"] == 2
    assert report["judge"]["tokens"] == report["judge"]["input_tokens"] + report["judge"]["output_tokens"] > 0
    assert report["judge"]["cost_usd"] > 0
    assert report["verdicts"] == {
        "path": "flywheel/verdicts.jsonl",
        "cached": 0,
        "new": 3,
        "unused": 0,
        "pruned": 0,
        "written": True,
    }


def test_exit_status(project: Project) -> None:
    passing = project.pytester.runpytest("--flywheel-suite=qa", "-k", "refund")
    assert passing.ret == pytest.ExitCode.OK
    failing = project.pytester.runpytest("--flywheel-suite=qa")
    assert failing.ret == pytest.ExitCode.TESTS_FAILED


def test_min_pass_rate(project: Project) -> None:
    below = project.pytester.runpytest(
        "--flywheel-suite=qa", "--flywheel-min-pass-rate=0.9", "--flywheel-report=r.json"
    )
    assert below.ret == pytest.ExitCode.TESTS_FAILED
    below.stdout.fnmatch_lines(["suite qa: 1/2 passed (50.0%), 1 failed, below the minimum 90.0%"])
    assert json.loads((project.path / "r.json").read_text())["passed_min_pass_rate"] is False

    met = project.pytester.runpytest(
        "--flywheel-suite=qa", "--flywheel-min-pass-rate=0.5", "--flywheel-report=r.json"
    )
    met.stdout.fnmatch_lines(
        [
            "suite qa: 1/2 passed (50.0%), 1 failed, minimum 50.0% met",
            "1 failed case tolerated: every suite met --flywheel-min-pass-rate, so the run passes",
        ]
    )
    assert json.loads((project.path / "r.json").read_text())["passed_min_pass_rate"] is True
    assert met.ret == pytest.ExitCode.OK  # the minimum is the gate: the known failure is tolerated
    met.assert_outcomes(passed=1, failed=1)


def test_min_pass_rate_tolerates_failed_cases_only(project: Project) -> None:
    project.pytester.makepyfile(test_plain="def test_ordinary():\n    assert 1 == 2\n")
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-min-pass-rate=0.5")
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # an ordinary failing test is never tolerated
    assert "tolerated" not in result.stdout.str()


def test_a_skipped_case_lowers_no_rate_but_an_unmet_minimum_fails_a_green_run(project: Project) -> None:
    project.pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name == "shipping":
                    item.add_marker(pytest.mark.skip(reason="not today"))
        """
    )
    green = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-min-pass-rate=1")
    green.assert_outcomes(passed=1, skipped=1)
    assert green.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("value", ["1.5", "-0.1", "ninety"])
def test_a_bad_min_pass_rate_is_a_usage_error(project: Project, value: str) -> None:
    result = project.pytester.runpytest("--flywheel-suite=qa", f"--flywheel-min-pass-rate={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--flywheel-min-pass-rate*expected a pass rate as a fraction from 0 to 1*"])


def test_each_session_is_recorded_as_a_run(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa")
    with Store(Path(os.environ["FLYWHEEL_STORE"]), readonly=True) as store:
        runs = list_runs(store)
        assert len(runs) == 1
        assert runs[0].suites == ["qa"]
        run = load_run(store, runs[0].id)
    assert sorted(case.outcome for case in run.cases) == ["failed", "passed"]
    assert run.judge_calls == 2


def test_a_run_that_cannot_be_recorded_warns_and_keeps_the_result(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_STORE", str(project.path / "agent.py" / "not-a-db"))  # under a file
    result = project.pytester.runpytest("--flywheel-suite=qa", "-k", "refund")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["warning: this run was not recorded in *agent.py/not-a-db*"])


def test_no_key_in_the_output_reaches_the_report(project: Project) -> None:
    project.write_suite(
        "leak",
        """\
        version: 1
        name: leak
        target: agent:answer
        cases:
          - id: leaky
            input: {question: "sk-ant\x2dapi03-abcdefghijklmnop"}
            assertions: [{contains: "refund"}]
        """,
    )
    project.pytester.runpytest("--flywheel-suite=leak", "--flywheel-report=r.json").assert_outcomes(passed=1)
    text = (project.path / "r.json").read_text()
    assert "sk-ant-api03" not in text
    assert "REDACTED" in text


def test_a_conftest_s_redact_hook_scrubs_the_report(project: Project) -> None:
    project.pytester.makeconftest(
        """
        def pytest_flywheel_redact(text):
            return text.replace("5 days", "[DELAY]")
        """
    )
    result = project.pytester.runpytest("--flywheel-suite=qa", "-k", "refund", "--flywheel-report=r.json")
    result.assert_outcomes(passed=1, deselected=1)
    report = (project.path / "r.json").read_text()
    assert "[DELAY]" in report and "5 days" not in report


def test_a_report_that_cannot_be_written_warns_and_keeps_the_result(project: Project) -> None:
    (project.path / "taken").mkdir()
    result = project.pytester.runpytest("--flywheel-suite=qa", "-k", "refund", "--flywheel-report=taken")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["warning: the report was not written to *taken*"])


def test_min_pass_rate_never_tolerates_a_case_that_could_not_be_checked(project: Project) -> None:
    # offline with no verdict file: sentence cases are errors (no verdict), which no minimum excuses
    result = project.pytester.runpytest(
        "--flywheel-suite=qa", "--flywheel-offline", "--flywheel-min-pass-rate=0"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.parseoutcomes().get("errors", 0) >= 1
    assert "tolerated" not in result.stdout.str()
