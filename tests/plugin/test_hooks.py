"""The plugin hooks (``pytest_flywheel_*``) reach the plugin: a custom judge, and the verdicts hook.

(``pytest_flywheel_check`` is wired into ``run_check`` too, but the suite file schema accepts only the
built-in check kinds, so a suite cannot name a custom one yet.)"""

from __future__ import annotations

import json

from tests.plugin.conftest import Project

CONFTEST = """
import json
from pathlib import Path

from pytest_flywheel.judge import PooledJudge, Verdict


class KeywordJudge(PooledJudge):
    backend = "keyword"
    model = "keyword-1"
    prompt_version = "keyword/1"
    settings = {}

    def judge(self, request):
        text = str(request.output)
        return [
            Verdict(passed=word in text, reason=f"looked for {word!r}", confidence=1.0, assertion=word, model=self.model)
            for word in (assertion.split("'")[1] for assertion in request.assertions)
        ]


def pytest_flywheel_make_judge(config, settings):
    return KeywordJudge()


def pytest_flywheel_verdicts(item, verdicts):
    with Path("seen.jsonl").open("a") as handle:
        handle.write(json.dumps({"item": item.nodeid, "passed": [v.passed for v in verdicts]}) + "\\n")
"""


def test_a_judge_from_the_hook_replaces_the_anthropic_judge(project: Project) -> None:
    project.pytester.makeconftest(CONFTEST)
    result = project.pytester.runpytest("--flywheel-suite=qa", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*FAIL  The reply must mention 'tracking' (judged)*", "*looked for 'tracking'*"]
    )
    assert project.judge_calls() == 0
    entries = [json.loads(line) for line in project.verdicts.read_text().splitlines()]
    assert {entry["backend"] for entry in entries} == {"keyword"}
    seen = [json.loads(line) for line in (project.path / "seen.jsonl").read_text().splitlines()]
    assert seen == [
        {"item": "flywheel/suites/qa.yaml::refund", "passed": [True]},
        {"item": "flywheel/suites/qa.yaml::shipping", "passed": [False, True]},
    ]


CUSTOM_CHECK_CONFTEST = """
from pytest_flywheel.judge.checks import CheckResult


def pytest_flywheel_check(name, spec, output, trajectory):
    if name != "word_count":
        return None
    words = len(str(output).split())
    return CheckResult(words <= spec["max"], f"{words} words (max {spec['max']})", f"custom: word_count <= {spec['max']}")
"""


def test_a_suite_file_s_custom_check_reaches_the_pytest_flywheel_check_hook(project: Project) -> None:
    project.pytester.makeconftest(CUSTOM_CHECK_CONFTEST)
    project.write_suite(
        "custom",
        """\
        version: 1
        name: custom
        target: agent:answer
        cases:
          - id: short
            input: {question: "x"}
            assertions:
              - custom: {kind: word_count, max: 20}
          - id: too-short
            input: {question: "x"}
            assertions:
              - custom: {kind: word_count, max: 3}
          - id: nobody-answers
            input: {question: "x"}
            assertions:
              - custom: {kind: sentiment}
        """,
    )
    result = project.pytester.runpytest("--flywheel-suite=custom", "-rA")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*FAIL  custom: word_count <= 3*", "*9 words (max 3)*"])
    result.stdout.fnmatch_lines(["*No plugin answers the custom check 'sentiment'*"])


def test_a_custom_check_without_a_kind_is_a_suite_file_error(project: Project) -> None:
    project.write_suite(
        "bad",
        "version: 1\nname: bad\ntarget: agent:answer\ncases:\n  - id: a\n    input: {question: x}\n"
        "    assertions:\n      - custom: {max: 3}\n",
    )
    result = project.pytester.runpytest("--flywheel-suite=bad")
    result.stdout.fnmatch_lines(["*bad.yaml:8*kind*"])
