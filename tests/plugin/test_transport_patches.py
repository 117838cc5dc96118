"""Suite cases keep vcrpy's transport patches in from one case to the next; a plain test after (or
between) them runs unpatched and reaches a real loopback server, and nothing stays patched after the
session."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from vcr import patch as vcr_patch

from pytest_flywheel.testing import MessagesAPIServer, text_message
from tests.plugin.conftest import Project

AGENT = """
import os

import anthropic


def answer(question):
    client = anthropic.Anthropic(api_key="test-key", base_url=os.environ["AGENT_BASE_URL"], max_retries=0)
    message = client.messages.create(
        model="claude-haiku-5-5", max_tokens=100, messages=[{"role": "user", "content": question}]
    )
    return message.content[0].text
"""


def suite(name: str, *questions: str) -> str:
    lines = [f"version: 1\nname: {name}\ntarget: live_agent:answer\ncases:\n"]
    for number, question in enumerate(questions):
        word = question.split()[-1]
        lines.append(
            f"  - id: c{number}\n    input: {{question: '{question}'}}\n"
            f"    assertions:\n      - contains: 'answer to {word}'\n"
        )
    return "".join(lines)


PLAIN_TEST = """
import os

import anthropic
import httpx2
from vcr import patch as vcr_patch


def test_a_plain_test_reaches_the_real_server():
    assert httpx2.HTTPTransport.handle_request is vcr_patch._Httpx2HttpTransport_handle_request
    client = anthropic.Anthropic(api_key="test-key", base_url=os.environ["PLAIN_BASE_URL"], max_retries=0)
    message = client.messages.create(
        model="claude-haiku-5-5", max_tokens=10, messages=[{"role": "user", "content": "ping"}]
    )
    assert message.content[0].text == "pong from the real server"
"""


@pytest.fixture
def agent_api() -> Iterator[MessagesAPIServer]:
    def reply(request: object) -> dict[str, object]:
        question = request.body["messages"][0]["content"]  # type: ignore[attr-defined]
        return text_message(f"answer to {question.split()[-1]}", model="claude-haiku-5-5")

    with MessagesAPIServer(reply) as server:
        yield server


@pytest.fixture
def plain_api() -> Iterator[MessagesAPIServer]:
    with MessagesAPIServer(lambda request: text_message("pong from the real server")) as server:
        yield server


def test_cases_replay_their_own_cassettes_and_plain_tests_around_them_run_unpatched(
    project: Project,
    agent_api: MessagesAPIServer,
    plain_api: MessagesAPIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_BASE_URL", agent_api.base_url)
    monkeypatch.setenv("PLAIN_BASE_URL", plain_api.base_url)
    project.pytester.makepyfile(live_agent=AGENT, test_plain=PLAIN_TEST)
    project.write_suite("first", suite("first", "Where is alpha", "Where is bravo", "Where is charlie"))
    project.write_suite("second", suite("second", "Where is delta", "Where is echo"))
    order = ["flywheel/suites/first.yaml", "test_plain.py", "flywheel/suites/second.yaml"]
    options = ["--flywheel-suite=first", "--flywheel-suite=second", "-p", "no:randomly"]

    project.pytester.runpytest(*order, *options, "--flywheel-record=once").assert_outcomes(passed=6)
    assert len(agent_api.message_requests) == 5
    assert httpx2.HTTPTransport.handle_request is vcr_patch._Httpx2HttpTransport_handle_request

    monkeypatch.setenv("AGENT_BASE_URL", "http://127.0.0.1:9")  # the cases must replay now
    result = project.pytester.runpytest(*order, *options, "--flywheel-offline", "-v")
    result.assert_outcomes(passed=6)
    # The plain test ran between the two suites, so it really ran after a case held the patches.
    result.stdout.re_match_lines(
        [
            r".*first\.yaml::c2 PASSED.*",
            r".*test_plain\.py::test_a_plain_test_reaches_the_real_server PASSED.*",
        ]
    )
    assert len(agent_api.message_requests) == 5  # every answer came from a cassette
    assert len(plain_api.message_requests) == 2  # the plain test's call reached the server both times
    assert httpx2.HTTPTransport.handle_request is vcr_patch._Httpx2HttpTransport_handle_request
    assert httpx2.HTTPTransport.handle_request is vcr_patch._Httpx2HttpTransport_handle_request
