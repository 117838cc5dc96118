"""``flywheel verdicts review``, driven as a person would: the real command, answers on its stdin."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_flywheel.trust import LabelFile, is_split, judge_votes

from .builders import Project, entry, write_verdicts

NO_PROMISE = "The reply must not promise a refund."
CITES = "The reply must cite the refund article."
ASKS = "The reply must ask for the order number."
REFUND_REPLY = "Refunds follow our policy: unopened items within 30 days. Source: Refunds"
PARCEL_REPLY = "Could you give me your order number?"


@pytest.fixture
def shop(tmp_path: Path) -> Project:
    """One recorded run; the judge passed the first refund assertion, failed the citation, passed the
    parcel one."""
    project = Project(tmp_path / "shop")
    project.record(
        {"refund": REFUND_REPLY, "parcel": PARCEL_REPLY},
        {("refund", 0): True, ("refund", 2): False, ("parcel", 0): True},
        trajectories={"refund": [
            {"type": "tool", "name": "search_help", "arguments": {"query": "refund"}, "result": ["Refunds"]},
            {"type": "llm", "model": "claude-haiku-5-5", "stop_reason": "end_turn", "input_tokens": 812,
             "output_tokens": 64, "tool_uses": []},
        ]},
    )
    write_verdicts(project.verdicts, [
        entry(NO_PROMISE, REFUND_REPLY, True, reason="no promise"),
        entry(CITES, REFUND_REPLY, False, reason="no source line"),
        entry(ASKS, PARCEL_REPLY, True, case_id="parcel", reason="it asks"),
    ])
    return project


def flywheel(project: Project, *args: str, answers: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.cli.main", *args],
        cwd=project.root,
        input=answers,
        env={**os.environ, "FLYWHEEL_STORE": str(project.store)},
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


def labels(project: Project) -> dict[str, tuple[bool, bool | None, str]]:
    """assertion → (person's answer, judge's answer, note)."""
    return {label.assertion: (label.passed, label.judge_passed, label.note) for label in LabelFile.load(project.labels)}


def test_a_review_shows_what_the_judge_saw_and_saves_each_answer(shop: Project) -> None:
    done = flywheel(shop, "verdicts", "review", answers="a\nd  it does name the article \ns\n")

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "3 verdicts to review" in out
    # In suite-file order: the refund case's assertions 1 and 3, then the parcel case.
    assert out.index("[1/3] qa::refund · assertion 1 of 3") < out.index("[2/3] qa::refund · assertion 3 of 3")
    assert out.index("[2/3]") < out.index("[3/3] qa::parcel · assertion 1 of 1")
    first = out.split("[2/3]")[0]
    assert '"question": "Can I get a refund?"' in first  # the input, from the suite file
    assert REFUND_REPLY in first  # the output, from the run record
    assert '1. tool search_help({"query": "refund"}) → ["Refunds"]' in first
    assert "2. llm claude-haiku-5-5: end_turn, 812 in / 64 out tokens" in first
    assert f"Assertion: {NO_PROMISE}" in first
    assert "Judge: PASS (judge-a, confidence 0.80): no promise" in first
    # The parcel case's report kept no trajectory: the summary says where it comes from instead.
    assert "Trajectory (not in the run record" in out.split("[3/3]")[1]
    assert "Labelled 2 (1 agreed, 1 disagreed), skipped 1." in out

    assert labels(shop) == {
        NO_PROMISE: (True, True, ""),  # agreed with a pass
        CITES: (True, False, "it does name the article"),  # disagreed with a fail
    }


def test_answers_ending_early_keep_what_was_answered(shop: Project) -> None:
    done = flywheel(shop, "verdicts", "review", answers="nonsense\nd\n")
    assert done.returncode == 0, done.stderr
    assert "Answer a, d, s or q" in done.stdout  # an answer it does not know is asked again
    assert "Labelled 1 (0 agreed, 1 disagreed), skipped 0, 2 left for later." in done.stdout
    assert labels(shop) == {NO_PROMISE: (False, True, "")}

    # The next review starts where this one stopped.
    again = flywheel(shop, "verdicts", "review", answers="q\n")
    assert "2 verdicts to review" in again.stdout and "[1/2] qa::refund · assertion 3 of 3" in again.stdout


def test_a_review_killed_halfway_keeps_every_answer_given(shop: Project) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_flywheel.cli.main", "verdicts", "review"],
        cwd=shop.root,
        env={**os.environ, "FLYWHEEL_STORE": str(shop.store)},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write("a first answer\n")
    process.stdin.flush()
    deadline = time.monotonic() + 30
    while not shop.labels.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    assert labels(shop) == {NO_PROMISE: (True, True, "first answer")}
    assert not list(shop.labels.parent.glob(".*.tmp"))


def test_disagreements_brings_back_the_labels_that_contradict_the_judge(shop: Project) -> None:
    flywheel(shop, "verdicts", "review", answers="a\nd\na\n")
    done = flywheel(shop, "verdicts", "review", "--disagreements", answers="a agreed on second look\n")
    assert done.returncode == 0, done.stderr
    assert "1 verdicts to review" in done.stdout
    assert "Labelled PASS by a person" in done.stdout  # the earlier label is shown
    assert labels(shop)[CITES] == (False, False, "agreed on second look")

    none_left = flywheel(shop, "verdicts", "review", "--disagreements")
    assert none_left.returncode == 1
    assert "no label contradicts the judge's verdict" in none_left.stderr

    all_done = flywheel(shop, "verdicts", "review")
    assert all_done.returncode == 1 and "every verdict is labelled" in all_done.stderr


def test_suite_filter_and_verdicts_without_a_recorded_reply(shop: Project) -> None:
    write_verdicts(shop.verdicts, [entry(NO_PROMISE, "a reply no run recorded", False)])
    done = flywheel(shop, "verdicts", "review", "--suite", "qa", answers="q\n")
    assert "3 verdicts to review (1 more have no recorded reply to show" in done.stdout

    other = flywheel(shop, "verdicts", "review", "--suite", "billing")
    assert other.returncode == 1 and "nothing to review of suite 'billing'" in other.stderr


def test_only_unrecorded_verdicts_is_an_error_that_says_to_run_the_suite(tmp_path: Path) -> None:
    project = Project(tmp_path / "fresh")
    write_verdicts(project.verdicts, [entry(NO_PROMISE, "reply", True)])
    done = flywheel(project, "verdicts", "review")
    assert done.returncode == 1
    assert "no recorded run holds the replies" in done.stderr and "pytest --flywheel-suite" in done.stderr


def test_secrets_and_terminal_escapes_in_a_reply_never_reach_the_terminal_or_the_labels(tmp_path: Path) -> None:
    project = Project(tmp_path / "hostile")
    key, other = "sk-ant\x2dapi03-" + "FAKE" * 10, "sk-ant\x2dapi03-" + "NOTAKEY" * 5  # built, never a real key's text
    reply = f"Here is the key {key} \x1b[2J\x1b]0;pwned\x07 done"
    project.record({"refund": reply}, {("refund", 0): True, ("refund", 2): True})
    write_verdicts(project.verdicts, [entry(NO_PROMISE, reply, True)])
    done = flywheel(project, "verdicts", "review",
                    answers=f"d leaked {other}\n")
    assert done.returncode == 0, done.stderr
    assert "sk-ant-api03" not in done.stdout and "[REDACTED]" in done.stdout
    assert "\x1b" not in done.stdout and "\\x1b[2J" in done.stdout
    text = project.labels.read_text()
    assert "sk-ant-api03" not in text and "leaked [REDACTED]" in text


def test_flaky_selects_verdicts_whose_judge_repeats_split(shop: Project) -> None:
    # Today's verdict file records no repeats: --flaky says so rather than showing everything.
    done = flywheel(shop, "verdicts", "review", "--flaky")
    assert done.returncode == 1 and "--flywheel-judge-repeats" in done.stderr

    base = entry(NO_PROMISE, "reply", True)
    assert is_split(dataclasses.replace(base, votes=(True, False, True)))
    assert judge_votes(dataclasses.replace(base, votes=(True, False, True))) == (True, False, True)
    assert not is_split(dataclasses.replace(base, votes=(True, True, True)))
    assert not is_split(base) and judge_votes(base) is None


def test_an_answer_that_is_not_utf8_is_asked_again(shop: Project) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.cli.main", "verdicts", "review"],
        cwd=shop.root,
        input=b"d caf\xe9 latin-1\na fine\nq\n",
        env={**os.environ, "FLYWHEEL_STORE": str(shop.store)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    assert b"not valid UTF-8" in done.stdout
    assert labels(shop) == {NO_PROMISE: (True, True, "fine")}
