"""``python -m pytest_flywheel.testing``: the loopback server as its own process, judged against by the
real judge (the Anthropic SDK, pointed at it through ANTHROPIC_BASE_URL as a user would)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pytest_flywheel.judge import AnthropicJudge, JudgeError, JudgeRequest

REQUEST = JudgeRequest(
    assertions=[
        "The reply must mention 'refund'.",
        "The reply must give the order number 'A-17'.",
        "The reply must mention 'voucher'.",
    ],
    input={"question": "Where is my refund for order A-17?"},
    output="Your refund for order A-17 was sent on Monday.",
    trajectory=[],
    label="support.yaml::refund-1",
)


@contextmanager
def serving(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The server started with ``args``; yields its base URL (read from its first line) and the process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_flywheel.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.match(r"Messages API on (http://127\.0\.0\.1:\d+) \(judge: ", first)
        assert match, first + process.stderr.read() if process.stderr else first
        yield match.group(1), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)


def judge_through_env(url: str, monkeypatch: pytest.MonkeyPatch) -> AnthropicJudge:
    """The default judge with nothing but the environment a user would set."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "loopback")
    return AnthropicJudge(max_api_retries=0)


@pytest.mark.parametrize(("mode", "expected"), [("pass", [True] * 3), ("fail", [False] * 3)])
def test_pass_and_fail_answer_every_criterion(
    mode: str, expected: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving("--judge", mode) as (url, _):
        verdicts = judge_through_env(url, monkeypatch).judge(REQUEST)
    assert [v.passed for v in verdicts] == expected
    assert all(v.reason.startswith("Loopback judge: ") for v in verdicts)


def test_without_judge_mode_quoted_words_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving() as (url, _):
        verdicts = judge_through_env(url, monkeypatch).judge(REQUEST)
    assert [v.passed for v in verdicts] == [True, True, False]
    assert "voucher" in verdicts[2].reason


def test_an_apostrophe_inside_a_word_opens_no_quote() -> None:
    """"The reply must give the order's status 'shipped'" quotes one word, shipped: read as a quote, the
    apostrophe of order's made the stand-in judge look for "s status " and say so, garbled."""
    from pytest_flywheel.judge.loopback import ParsedJudgePrompt, quoted_words_rule

    prompt = ParsedJudgePrompt(nonce="n", blocks={"OUTPUT": "Order A-1 has shipped."}, criteria=[], system="")
    assert quoted_words_rule("The reply must give the order's status 'shipped'", prompt) == (
        True,
        "The output mentions shipped.",
    )
    assert quoted_words_rule("The customer's order must be 'lost' or 'late'", prompt) == (
        False,
        "The output does not mention lost, late.",
    )
    assert quoted_words_rule("Say 'A-1' and 'has shipped.'", prompt)[0] is True


def test_a_script_answers_in_order_then_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "judge.json"
    script.write_text(
        json.dumps(
            [
                {"verdicts": [True, False, {"passed": False, "reason": "No voucher is offered.", "confidence": 0.7}]},
                {"error": {"status": 529, "type": "overloaded_error", "message": "Overloaded"}},
            ]
        )
    )
    with serving("--judge", str(script)) as (url, process):
        judge = judge_through_env(url, monkeypatch)
        first = judge.judge(REQUEST)
        with pytest.raises(JudgeError, match=r"529|verloaded"):
            judge.judge(REQUEST)
        with pytest.raises(JudgeError, match="no reply left"):
            judge.judge(REQUEST)  # the script is used up: an error, never a pass
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert [v.passed for v in first] == [True, False, False]
    assert first[2].reason == "No voucher is offered." and first[2].confidence == 0.7
    assert process.returncode == 0 and "Traceback" not in err
    assert out.splitlines()[-1] == "Stopped after 3 requests."


def test_the_port_given_is_the_port_served(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with serving("--port", str(port), "--judge", "pass") as (url, _):
        assert url == f"http://127.0.0.1:{port}"
        assert judge_through_env(url, monkeypatch).judge(REQUEST)[0].passed


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (None, "cannot read the script"),
        ("[]", "expected a JSON list of replies"),
        ("{not json", "is not valid JSON"),
        ('[{"verdicts": [NaN]}]', "NaN is not a JSON value"),
        ('[{"verdicts": ["yes"]}]', "reply 1: verdict 0 must be true, false"),
        ('[{"error": {"status": 200}}]', "reply 1: error must be an object with an HTTP status from 400 to 599"),
        ('[{"hello": 1}]', "reply 1: expected one of the keys verdicts, text, error"),
    ],
)
def test_a_bad_script_is_one_clear_line(tmp_path: Path, script: str | None, message: str) -> None:
    path = tmp_path / "judge.json"
    if script is not None:
        path.write_text(script)
    done = subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.testing", "--judge", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("python -m pytest_flywheel.testing: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_port_in_use_and_a_bad_port_are_clear_errors() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "pytest_flywheel.testing", "--port", str(port)],
            capture_output=True, text=True, timeout=30, check=False, env={**os.environ},
        )  # fmt: skip
    assert done.returncode == 1 and f"cannot listen on port {port}" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.testing", "--port", "70000"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "expected a port from 0 to 65535" in done.stderr
