"""Hand-written tests: ``@pytest.mark.assertion`` and the ``judge`` fixture."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import Project

MARKED = """
import pytest

from agent import answer


@pytest.mark.assertion("The reply must mention 'refund'", "The reply must mention 'days'")
def test_refund_reply():
    return answer("my refund")


@pytest.mark.assertion("The reply must mention 'tracking'")
def test_tracking_reply():
    return answer("my parcel")


def test_unmarked_still_plain():
    assert answer("x").startswith("About")
"""

FIXTURE = """
import pytest


def test_single_verdict(judge):
    verdict = judge("We will refund you.", "The reply must mention 'refund'", input={"q": "refund?"})
    assert verdict.passed is True
    assert verdict.reason == "The output mentions refund."
    assert verdict.cached is False
    assert 0.0 <= verdict.confidence <= 1.0


def test_expect_lists_every_failing_assertion(judge):
    with pytest.raises(AssertionError) as raised:
        judge.expect(
            "Your parcel ships today.",
            "The reply must mention 'parcel'",
            "The reply must mention 'tracking'",
            "The reply must mention 'refund'",
        )
    message = str(raised.value)
    assert message.startswith("2 of 3 assertions failed:")
    assert "FAIL  The reply must mention 'tracking'" in message
    assert "The output does not mention tracking." in message
    assert "FAIL  The reply must mention 'refund'" in message
    assert "'parcel'" not in message


def test_expect_passes(judge):
    verdicts = judge.expect("a refund, in 5 days", "The reply must mention 'refund'")
    assert [v.passed for v in verdicts] == [True]
"""


def test_marked_tests_judge_their_return_value_without_the_return_warning(project: Project) -> None:
    project.pytester.makepyfile(test_marked=MARKED)
    result = project.pytester.runpytest("-v", "-W", "error::pytest.PytestReturnNotNoneWarning")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_tracking_reply FAILED*",
            "*1 of 1 assertions failed:*",
            "*FAIL  The reply must mention 'tracking' (judged)*",
            "*The output does not mention tracking.*",
        ]
    )
    assert "PytestReturnNotNoneWarning" not in result.stdout.str()
    assert project.judge_calls() == 2

    again = project.pytester.runpytest()
    again.assert_outcomes(passed=2, failed=1)
    again.stdout.fnmatch_lines(["verdicts: 3 cached, 0 newly judged, 0 unused"])
    assert project.judge_calls() == 2


def test_an_unmarked_test_that_returns_still_gets_pytests_warning(project: Project) -> None:
    project.pytester.makepyfile(test_plain="def test_returns():\n    return 1\n")
    result = project.pytester.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*PytestReturnNotNoneWarning*"])


def test_a_marked_test_without_a_key_is_an_error(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    project.pytester.makepyfile(test_marked=MARKED)
    result = project.pytester.runpytest()
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*the judge could not answer for test_marked.py::test_refund_reply*"])


def test_the_judge_fixture(project: Project) -> None:
    project.pytester.makepyfile(test_fixture=FIXTURE)
    result = project.pytester.runpytest("-v")
    result.assert_outcomes(passed=3)
    assert project.judge_calls() == 3


def test_the_judge_fixture_reports_a_judge_that_cannot_answer_as_an_error(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    project.pytester.makepyfile(test_fixture="def test_x(judge):\n    judge('out', 'The reply is polite')\n")
    result = project.pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*JudgeError*ANTHROPIC_API_KEY is not set*"])


def test_the_judge_fixture_is_documented(project: Project) -> None:
    result = project.pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(["judge -- *", "*The flywheel LLM judge, with the session's verdict cache.*"])


def test_a_marked_test_that_fails_its_own_assert_shows_it_plainly(project: Project) -> None:
    project.pytester.makepyfile(
        test_own="""
        import pytest

        @pytest.mark.assertion("The reply is polite")
        def test_own_assert():
            reply = "rude"
            assert reply == "polite", "the reply was rude"
            return reply
        """
    )
    result = project.pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ['>*assert reply == "polite", "the reply was rude"', "E*AssertionError: the reply was rude"]
    )
    assert "run_in_cassette" not in result.stdout.str()
    assert project.judge_calls() == 0


def test_a_report_is_written_even_when_no_case_ran(project: Project) -> None:
    result = project.pytester.runpytest(
        "--flywheel-suite=qa", "-k", "nothing-matches", "--flywheel-report=r.json"
    )
    result.assert_outcomes(deselected=2)
    assert (project.path / "r.json").is_file()
