"""pytest-xdist: every worker's verdicts reach the file, none lost, none duplicated."""

from __future__ import annotations

import json

from tests.plugin.conftest import Project


def _many_cases(count: int) -> str:
    cases = "".join(
        f"  - id: case-{number:02d}\n"
        f"    input: {{question: 'order {number}'}}\n"
        "    assertions:\n"
        "      - \"The reply must mention 'refund'\"\n"
        f"      - \"The reply must mention 'order {number}'\"\n"
        for number in range(count)
    )
    return f"version: 1\nname: many\ntarget: agent:answer\ncases:\n{cases}"


def test_n2_writes_the_same_verdict_file_as_one_process(project: Project) -> None:
    project.write_suite("many", _many_cases(20))
    serial = project.pytester.runpytest_subprocess("--flywheel-suite=many", "-p", "no:cacheprovider")
    serial.assert_outcomes(passed=20)
    serial_file = project.verdicts.read_text()
    assert len(serial_file.splitlines()) == 40
    project.verdicts.unlink()

    parallel = project.pytester.runpytest_subprocess(
        "--flywheel-suite=many", "-n", "2", "-p", "no:cacheprovider"
    )
    parallel.assert_outcomes(passed=20)
    parallel.stdout.fnmatch_lines(
        ["suite many: 20/20 passed (100.0%)", "verdicts: 0 cached, 40 newly judged*"]
    )
    parallel_file = project.verdicts.read_text()
    keys = [json.loads(line)["key"] for line in parallel_file.splitlines()]
    assert len(keys) == len(set(keys)) == 40
    assert _without_times(parallel_file) == _without_times(serial_file)  # same entries, same order

    cached = project.pytester.runpytest_subprocess(
        "--flywheel-suite=many",
        "-n",
        "2",
        "--flywheel-offline",
        "--flywheel-report=r.json",
        "-p",
        "no:cacheprovider",
    )
    cached.assert_outcomes(passed=20)
    cached.stdout.fnmatch_lines(["verdicts: 40 cached, 0 newly judged, 0 unused"])
    report = json.loads((project.path / "r.json").read_text())
    assert report["suites"]["many"]["passed"] == 20
    assert project.verdicts.read_text() == parallel_file


def test_n2_failures_and_errors_reach_the_controller_summary(project: Project) -> None:
    result = project.pytester.runpytest_subprocess(
        "--flywheel-suite=qa", "-n", "2", "--flywheel-report=r.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "suite qa: 1/2 passed (50.0%), 1 failed",
            "  FAIL flywheel/suites/qa.yaml::shipping: The reply must mention 'tracking'",
        ]
    )
    report = json.loads((project.path / "r.json").read_text())
    assert {case["case_id"]: case["outcome"] for case in report["cases"]} == {
        "refund": "passed",
        "shipping": "failed",
    }


def _without_times(text: str) -> list[dict[str, object]]:
    """The file's entries in order, minus ``judged_at`` (which differs between two runs)."""
    return [{k: v for k, v in json.loads(line).items() if k != "judged_at"} for line in text.splitlines()]
