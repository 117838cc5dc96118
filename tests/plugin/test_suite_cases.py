"""Suite cases as pytest items: collection, node ids, -k and markers, outcomes, failure text."""

from __future__ import annotations

from tests.plugin.conftest import Project


def test_cases_run_as_items_and_failures_show_each_assertion(project: Project) -> None:
    result = project.pytester.runpytest("--flywheel-suite=qa", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "flywheel/suites/qa.yaml::refund PASSED*",
            "flywheel/suites/qa.yaml::shipping FAILED*",
            "*1 of 2 assertions failed:*",
            "*FAIL  The reply must mention 'tracking' (judged)*",
            "*The output does not mention tracking.*",
            "*PASS  The reply must mention 'parcel' (judged)*",
            "output:*",
            "*About my parcel: we will refund you within 5 days.*",
        ]
    )
    assert project.judge_calls() == 2  # one call per case, all its sentences at once

