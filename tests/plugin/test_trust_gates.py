"""Verdicts one can trust, in a pytest run: judge repeats with a judge that answers differently on
purpose (a seeded 70/30 judge), people's labels overriding the judge, the min-agreement gate, and
budget gates against the suite's previous run."""

from __future__ import annotations

import json
import random
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_flywheel.judge.loopback import parse_judge_request, verdict_reply
from pytest_flywheel.testing import MessagesAPIServer, text_message
from tests.plugin.conftest import Project

CASES = 12


def many_cases() -> str:
    lines = ["version: 1\nname: qa\ntarget: agent:answer\ncases:\n"]
    for number in range(CASES):
        lines.append(
            f"  - id: c{number}\n    input: {{question: 'question {number}'}}\n"
            f"    assertions: [\"The reply must mention 'question'\", \"The reply must be kind ({number})\"]\n"
        )
    return "".join(lines)


class SeededJudge:
    """Answers each criterion pass with probability 0.7, from a seeded generator: the same run of
    calls gives the same answers, and repeats of one criterion disagree now and then."""

    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.lock = threading.Lock()

    def __call__(self, request: Any) -> dict[str, Any]:
        prompt = parse_judge_request(request.body)
        with self.lock:
            answers = [self.random.random() < 0.7 for _ in prompt.criteria]
        return verdict_reply(
            [
                {"index": index, "passed": passed, "reason": "seeded answer", "confidence": 0.6}
                for index, passed in enumerate(answers)
            ]
        )


@pytest.fixture
def seeded(project: Project) -> Iterator[Project]:
    project.judge.respond_with(SeededJudge())
    project.judge.delay = 0.05  # long enough for calls to be seen overlapping
    project.write_suite("qa", many_cases())
    yield project


def test_judge_repeats_find_flaky_assertions_keep_the_majority_and_remember_the_spread(seeded: Project) -> None:
    result = seeded.pytester.runpytest(
        "--flywheel-suite=qa", "--flywheel-judge-repeats=3", "--flywheel-report=r.json", "--junitxml=j.xml",
        "-p", "no:xdist",
    )
    report = json.loads((seeded.path / "r.json").read_text())
    results = [a for case in report["cases"] for a in case["assertions"]]
    assert all(len(a["votes"]) == 3 for a in results)
    assert all(a["passed"] == (sum(a["votes"]) >= 2) for a in results)  # the majority decides
    flaky = [a for a in results if a["flaky"]]
    assert flaky and all(len(set(a["votes"])) == 2 for a in flaky)
    assert report["judge"]["calls"] == CASES * 3  # three separate calls per case
    assert seeded.judge.max_in_flight > 1  # and they overlapped
    result.stdout.fnmatch_lines([f"flaky verdicts: {len(flaky)} (the judge's repeats disagreed)"])
    properties = [
        {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(seeded.path / "j.xml").getroot().iter("testcase")
    ]
    assert sum(1 for props in properties for name, value in props.items() if name.startswith("flywheel.flaky.") and value == "true") == len(flaky)

    # the verdict file keeps the answers: an offline rerun knows which were flaky, with no call
    calls = len(seeded.judge.message_requests)
    again = seeded.pytester.runpytest("--flywheel-suite=qa", "--flywheel-judge-repeats=3", "--flywheel-offline", "-p", "no:xdist")
    again.stdout.fnmatch_lines([f"flaky verdicts: {len(flaky)} (the judge's repeats disagreed)"])
    assert len(seeded.judge.message_requests) == calls
    # asking for more answers than the file holds judges again
    more = seeded.pytester.runpytest("--flywheel-suite=qa", "--flywheel-judge-repeats=5", "-p", "no:xdist")
    assert len(seeded.judge.message_requests) == calls + CASES * 5
    assert "flaky verdicts" in more.stdout.str()


def test_a_person_s_label_decides_the_verdict_and_says_so(project: Project) -> None:
    from pytest_flywheel.config import load_settings
    from pytest_flywheel.trust.labels import Label, labels_path, save_labels

    project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-report=r.json").assert_outcomes(passed=1, failed=1)
    report = json.loads((project.path / "r.json").read_text())
    shipping = next(case for case in report["cases"] if case["case_id"] == "shipping")
    failing = next(a for a in shipping["assertions"] if a["passed"] is False)
    save_labels(
        labels_path(load_settings(project.path)),
        [Label(key=failing["key"], passed=True, assertion=failing["assertion"], note="tracking is implied")],
    )
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-report=r.json", "--flywheel-offline")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["labels: 1 verdicts decided by people's labels (flywheel/labels.jsonl)"])
    relabelled = json.loads((project.path / "r.json").read_text())
    decided = next(
        a for case in relabelled["cases"] for a in case["assertions"] if a["key"] == failing["key"]
    )
    assert decided["passed"] is True and decided["labelled"] is True
    assert decided["reason"].startswith("labelled pass by a person: tracking is implied (the judge said fail:")


def test_the_min_agreement_gate_refuses_a_judge_people_disagree_with(project: Project) -> None:
    from pytest_flywheel.config import load_settings
    from pytest_flywheel.trust.labels import Label, labels_path, save_labels

    project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-report=r.json").assert_outcomes(passed=1, failed=1)
    report = json.loads((project.path / "r.json").read_text())
    sentences = [a for case in report["cases"] for a in case["assertions"] if a["kind"] == "sentence"]
    # people disagree with every verdict of the judge
    save_labels(
        labels_path(load_settings(project.path)),
        [Label(key=a["key"], passed=not a["passed"], assertion=a["assertion"], judge_passed=a["passed"], suite="qa")
         for a in sentences],
    )
    refused = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-min-agreement=0.8", "--flywheel-min-labels=3")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--flywheel-min-agreement 0.8: suite 'qa': the judge agrees with people too little*"])
    too_few = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-min-agreement=0", "--flywheel-min-labels=10")
    assert too_few.ret == pytest.ExitCode.USAGE_ERROR
    too_few.stderr.fnmatch_lines(["*rests on 3 labels, fewer than the 10 required*"])
    allowed = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-min-agreement=0", "--flywheel-min-labels=3")
    assert allowed.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)


TOKEN_AGENT = """
import os

import anthropic

from pytest_flywheel import track_anthropic

client = track_anthropic(anthropic.Anthropic(base_url=os.environ["AGENT_URL"], max_retries=0))


def answer(question):
    return client.messages.create(
        model="claude-haiku-5-5", max_tokens=50, messages=[{"role": "user", "content": question}]
    ).content[0].text
"""


def test_a_case_whose_re_recorded_cassette_doubles_its_tokens_fails_the_budget_gate(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = {"output": 100}
    with MessagesAPIServer(lambda request: text_message("hello", output_tokens=tokens["output"])) as agent:
        monkeypatch.setenv("AGENT_URL", agent.base_url)
        project.pytester.makepyfile(token_agent=TOKEN_AGENT)
        project.write_suite(
            "tokens",
            "version: 1\nname: tokens\ntarget: token_agent:answer\ncases:\n"
            "  - id: one\n    input: {question: hi}\n    assertions: [{contains: hello}]\n"
            "  - id: two\n    input: {question: ho}\n    assertions: [{contains: hello}]\n",
        )
        first = project.pytester.runpytest("--flywheel-suite=tokens", "--flywheel-record=rewrite")
        first.assert_outcomes(passed=2)
        same = project.pytester.runpytest("--flywheel-suite=tokens", "--flywheel-max-tokens-increase=20%")
        assert same.ret == pytest.ExitCode.OK  # replayed, the same tokens: within budget
        tokens["output"] = 225  # 25 + 225 = 250 against 25 + 100 = 125: doubled
        grown = project.pytester.runpytest(
            "--flywheel-suite=tokens", "--flywheel-record=rewrite", "--flywheel-max-tokens-increase=20%",
            "--flywheel-report=r.json",
        )
    grown.assert_outcomes(passed=2)
    assert grown.ret == pytest.ExitCode.TESTS_FAILED
    grown.stdout.fnmatch_lines(["over budget: 2 cases rose past a limit", "  OVER tokens::one: tokens 125 → 250 (+100.0%*"])
    report = json.loads((project.path / "r.json").read_text())
    assert report["passed"] is False and len(report["over_budget"]) == 2
    bad = project.pytester.runpytest("--flywheel-suite=tokens", "--flywheel-max-tokens-increase=0.2")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--flywheel-max-tokens-increase*as a percentage, as in 20%*"])


def test_repeated_live_runs_pass_on_their_threshold_and_say_what_varied(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = iter(["A refund is on its way.", "No.", "A refund is on its way."] * 10)
    with MessagesAPIServer(lambda request: text_message(next(replies))) as agent:
        monkeypatch.setenv("AGENT_URL", agent.base_url)
        project.pytester.makepyfile(token_agent=TOKEN_AGENT)
        project.write_suite(
            "varies",
            "version: 1\nname: varies\ntarget: token_agent:answer\nruns: 3\ncases:\n"
            "  - id: lenient\n    pass_threshold: 2\n    input: {question: hi}\n    assertions: [{contains: refund}]\n"
            "  - id: strict\n    input: {question: ho}\n    assertions: [{contains: refund}]\n",
        )
        result = project.pytester.runpytest(
            "--flywheel-suite=varies", "--flywheel-record=rewrite", "--flywheel-report=r.json", "-p", "no:xdist"
        )
        assert len(agent.message_requests) == 6  # three live runs of each case
    result.assert_outcomes(passed=1, failed=1)
    report = {case["case_id"]: case for case in json.loads((project.path / "r.json").read_text())["cases"]}
    assert report["lenient"]["runs"] == {"passed": 2, "total": 3, "threshold": 2, "varied": ["contains: 'refund'"]}
    assert report["strict"]["runs"]["passed"] == 2 and report["strict"]["runs"]["threshold"] == 3  # all by default
    result.stdout.fnmatch_lines(["  RUNS *::strict: 2/3 runs passed (needs 3); varied: contains: 'refund'"])
    # the cassette holds the first run only; replayed, the case runs once and the summary says so
    replayed = project.pytester.runpytest("--flywheel-suite=varies", "-p", "no:xdist")
    replayed.stdout.fnmatch_lines(["runs: 2 replayed cases ran once though 3 runs were asked for*"])
