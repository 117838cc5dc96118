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
