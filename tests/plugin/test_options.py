"""Every option as a command-line flag, an ini key and a [tool.flywheel] key, with their precedence."""

from __future__ import annotations

import json

import pytest

from tests.plugin.conftest import PYPROJECT, Project

MORE = """\
version: 1
name: more
target: agent:answer
cases:
  - id: extra
    input: {question: "an extra"}
    assertions: [{contains: "extra"}]
"""


def _pyproject(project: Project, *, ini: str = "", flywheel: str = "") -> None:
    text = PYPROJECT.replace("[tool.pytest.ini_options]\n", f"[tool.pytest.ini_options]\n{ini}\n")
    text = text.replace("[tool.flywheel]\n", f"[tool.flywheel]\n{flywheel}\n")
    (project.path / "pyproject.toml").write_text(text)


def test_suite_precedence_cli_over_ini_over_pyproject(project: Project) -> None:
    project.write_suite("more", MORE)
    _pyproject(project, flywheel='suite = "qa"')
    project.pytester.runpytest().assert_outcomes(passed=1, failed=1)  # [tool.flywheel] suite

    _pyproject(project, ini='flywheel_suite = "more"', flywheel='suite = "qa"')
    project.pytester.runpytest().assert_outcomes(passed=1)  # the ini key wins

    project.pytester.runpytest("--flywheel-suite=qa").assert_outcomes(passed=1, failed=1)  # the flag wins


def test_suite_option_is_repeatable(project: Project) -> None:
    project.write_suite("more", MORE)
    project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-suite=more").assert_outcomes(
        passed=2, failed=1
    )


def test_pyproject_flags_and_report(project: Project) -> None:
    _pyproject(project, flywheel='offline = true\nreport = "out/report.json"\nmin_pass_rate = 0.25')
    result = project.pytester.runpytest("--flywheel-suite=qa")
    result.assert_outcomes(errors=2)  # offline from [tool.flywheel]: nothing is cached yet
    assert project.judge_calls() == 0
    report = json.loads((project.path / "out/report.json").read_text())
    assert report["min_pass_rate"] == 0.25


def test_ini_flags(project: Project) -> None:
    _pyproject(project, ini='flywheel_offline = true\nflywheel_report = "ini.json"')
    project.pytester.runpytest("--flywheel-suite=qa").assert_outcomes(errors=2)
    assert (project.path / "ini.json").is_file()


def test_ini_judge_model(project: Project) -> None:
    _pyproject(project, ini='flywheel_judge_model = "claude-opus-5-5"')
    project.pytester.runpytest("--flywheel-suite=qa")
    assert {request.body["model"] for request in project.judge.message_requests} == {"claude-opus-5-5"}


def test_a_suite_files_judge_model_ranks_below_the_option(project: Project) -> None:
    suite = project.path / "flywheel/suites/qa.yaml"
    suite.write_text(
        suite.read_text().replace(
            "target: agent:answer", "target: agent:answer\njudge: {model: claude-haiku-5-5}"
        )
    )
    project.pytester.runpytest("--flywheel-suite=qa", "-k", "refund")
    project.pytester.runpytest(
        "--flywheel-suite=qa", "-k", "refund", "--flywheel-judge-model=claude-opus-5-5"
    )
    assert [r.body["model"] for r in project.judge.message_requests] == [
        "claude-haiku-5-5",
        "claude-opus-5-5",
    ]


@pytest.mark.parametrize(
    ("args", "flywheel", "message"),
    [
        (
            ["--flywheel-record=sometimes"],
            "",
            "*--flywheel-record = 'sometimes' is not a record mode; use one of none*",
        ),
        ([], 'record = "sometimes"', "*[[]tool.flywheel[]] record = 'sometimes' is not a record mode*"),
        (
            ["--flywheel-offline", "--flywheel-update-verdicts"],
            "",
            "*--flywheel-offline*drop one of the two*",
        ),
        ([], "offline = 3", "*[[]tool.flywheel[]] offline = 3: expected true or false*"),
    ],
)
def test_misuse_is_a_usage_error_saying_what_to_do(
    project: Project, args: list[str], flywheel: str, message: str
) -> None:
    _pyproject(project, flywheel=flywheel)
    result = project.pytester.runpytest("--flywheel-suite=qa", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--flywheel-judge-model=\udcff\udcfe"], {}, "*--flywheel-judge-model*is not UTF-8 text*"),
        (["--flywheel-judge-model=claude\x1b[2J"], {}, "*--flywheel-judge-model*control character*"),
        ([], {"FLYWHEEL_JUDGE_MODEL": "\udcff\udcfe"}, "*FLYWHEEL_JUDGE_MODEL*is not UTF-8 text*"),
    ],
)
def test_a_judge_model_that_is_no_text_is_a_usage_error_not_an_error_per_case(
    project: Project, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], message: str
) -> None:
    """A non-UTF-8 model name (pasted from a terminal in another encoding) failed every case with a
    UnicodeEncodeError traceback from the verdict key."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = project.pytester.runpytest("--flywheel-suite=qa", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_every_record_mode_is_accepted(project: Project) -> None:
    for mode in ("none", "once", "new_episodes", "all", "rewrite"):
        project.pytester.runpytest("--flywheel-suite=qa", f"--flywheel-record={mode}").assert_outcomes(
            passed=1, failed=1
        )


def test_help_texts_start_with_a_capital_and_end_without_a_period(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    options = config._parser.getgroup("flywheel").options
    from pytest_flywheel.pytest_plugin.options import OPTION_NAMES

    assert len(options) == len(OPTION_NAMES)
    for option in options:
        help_text = option.attrs()["help"]
        assert help_text[0].isupper(), help_text
        assert not help_text.endswith("."), help_text
    for _, ini, flag in OPTION_NAMES:
        assert ini in config._parser._inidict
        assert any(flag in option.names() for option in options)
