"""Installed into other people's projects, the plugin stays out of their way: their own ``assertion``
marker is left alone, a configuration file pytest does not read is never read, and a run that uses no
flywheel feature is not stopped by an unreadable ``[tool.flywheel]``. And a test using the ``judge``
fixture replays its agent calls from a cassette, like a marked test."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest

from pytest_flywheel.testing import MessagesAPIServer, text_message
from tests.plugin.conftest import Project

OWN_MARKER_CONFTEST = """
def pytest_configure(config):
    config.addinivalue_line("markers", "assertion(text): this project's own marker")
"""

OWN_MARKER_TESTS = """
import pytest


@pytest.mark.assertion("the project's own meaning")
def test_uses_its_own_marker(request):
    marker = request.node.get_closest_marker("assertion")
    assert marker.args == ("the project's own meaning",)
    return "a value pytest-flywheel must not send anywhere"


@pytest.mark.flywheel_assertion("The reply must mention 'refund'")
def test_ours_still_works():
    return "We will refund you."
"""


def test_a_project_s_own_assertion_marker_is_left_alone(project: Project) -> None:
    project.pytester.makeconftest(OWN_MARKER_CONFTEST)
    project.pytester.makepyfile(test_own=OWN_MARKER_TESTS)
    result = project.pytester.runpytest("test_own.py", "--strict-markers")
    # ours, once; and pytest's own "returned a value" for the project's test, which is no flywheel test
    result.assert_outcomes(passed=2, warnings=2)
    assert result.stdout.str().count("registers its own 'assertion' marker") == 1
    assert "test_uses_its_own_marker returned" in result.stdout.str()
    assert project.judge_calls() == 1  # only the flywheel_assertion test was judged
    assert "::test_uses_its_own_marker" not in project.verdicts.read_text()


def test_an_unreadable_pyproject_pytest_does_not_use_never_stops_a_run(pytester: pytest.Pytester) -> None:
    (pytester.path / "pyproject.toml").write_text("this is [ not toml\n")  # a parent folder's file
    child = pytester.mkdir("service")
    (child / "tox.ini").write_text("[pytest]\n")
    (child / "test_plain.py").write_text("def test_one():\n    assert True\n")
    result = pytester.runpytest_subprocess(str(child / "test_plain.py"), "--rootdir", str(child))
    result.assert_outcomes(passed=1)
    assert "not valid TOML" not in result.stdout.str() + result.stderr.str()


def test_a_broken_flywheel_table_warns_a_plain_run_and_stops_a_flywheel_one(pytester: pytest.Pytester) -> None:
    (pytester.path / "pyproject.toml").write_text("[tool]\nflywheel = 3\n")  # pytest reads its own table only
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    plain = pytester.runpytest_subprocess()
    plain.assert_outcomes(passed=1, warnings=1)
    assert "pytest-flywheel ignores [tool.flywheel] in this run" in plain.stdout.str()
    asked = pytester.runpytest_subprocess("--flywheel-suite=qa")
    assert asked.ret == pytest.ExitCode.USAGE_ERROR
    assert "[tool.flywheel] must be a table" in asked.stderr.str() and "Traceback" not in asked.stderr.str()


AGENT_CALLING_TEST = """
import os

import anthropic

from pytest_flywheel import track_anthropic

client = track_anthropic(anthropic.Anthropic(base_url=os.environ["AGENT_URL"], max_retries=0))


def test_the_reply_is_judged(judge):
    reply = client.messages.create(
        model="claude-haiku-5-5", max_tokens=50, messages=[{"role": "user", "content": "refund?"}]
    ).content[0].text
    judge.expect(reply, "The reply must mention 'refund'")
"""


@pytest.fixture
def agent_api() -> Iterator[MessagesAPIServer]:
    with MessagesAPIServer(lambda request: text_message("Yes, a refund in 5 days.")) as server:
        yield server


def test_a_test_using_judge_records_once_then_replays_offline(
    project: Project, agent_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_URL", agent_api.base_url)
    project.pytester.makepyfile(test_judged=AGENT_CALLING_TEST)
    project.pytester.runpytest("test_judged.py", "--flywheel-record=once").assert_outcomes(passed=1)
    cassette = project.path / "flywheel" / "cassettes" / "test_judged" / "test_the_reply_is_judged.yaml"
    assert cassette.is_file() and len(agent_api.message_requests) == 1

    monkeypatch.setenv("AGENT_URL", "http://127.0.0.1:9")  # the agent's API is gone: only the cassette
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    replayed = project.pytester.runpytest("test_judged.py", "--flywheel-offline")
    replayed.assert_outcomes(passed=1)
    assert len(agent_api.message_requests) == 1

    # a request the cassette does not hold is an error that names the cassette, not the test's failure
    project.pytester.makepyfile(test_judged=AGENT_CALLING_TEST.replace("refund?", "exchange?"))
    missed = project.pytester.runpytest("test_judged.py", "--flywheel-offline")
    missed.assert_outcomes(errors=1)
    missed.stdout.fnmatch_lines(["*test_the_reply_is_judged.yaml holds no response*"])


SECRET = "sk-ant" + "-api03-" + "EchoedEchoedEchoedEchoed_0123456789abcdef-XYZ"


def test_a_key_echoed_by_the_model_reaches_no_file_and_no_terminal_line(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MessagesAPIServer(lambda request: text_message(f"Your key is {SECRET}, keep it safe.")) as echo:
        monkeypatch.setenv("AGENT_URL", echo.base_url)
        project.pytester.makepyfile(
            echo_agent=textwrap.dedent(
                """
                import os
                import anthropic
                from pytest_flywheel import track_anthropic

                client = track_anthropic(anthropic.Anthropic(base_url=os.environ["AGENT_URL"], max_retries=0))

                def answer(question):
                    return client.messages.create(
                        model="claude-haiku-5-5", max_tokens=50, messages=[{"role": "user", "content": question}]
                    ).content[0].text
                """
            )
        )
        project.write_suite(
            "echo",
            """\
            version: 1
            name: echo
            target: echo_agent:answer
            cases:
              - id: leaks
                input: {question: "what is my key?"}
                assertions:
                  - "The reply must mention 'nothing'"
                  - not_contains: "keep it"
            """,
        )
        result = project.pytester.runpytest(
            "--flywheel-suite=echo", "--flywheel-record=once", "--junitxml=junit.xml",
            "--flywheel-report=report.json", "-rA", "-vv",
        )
    result.assert_outcomes(failed=1)
    assert SECRET not in result.stdout.str() + result.stderr.str()
    assert "[REDACTED]" in result.stdout.str()
    leaked = [
        str(path.relative_to(project.path))
        for path in project.path.rglob("*")
        if path.is_file() and SECRET.encode() in path.read_bytes()
    ]
    assert leaked == []


def test_a_case_recorded_with_a_secret_replays_offline_on_the_verdicts_its_recording_judged(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cassette keeps the model's reply and the tool's result redacted, so a replay sees them
    redacted: the judge must have seen (and keyed) them redacted when the case was recorded too, or the
    next offline run finds no verdict for the reply it replays."""
    (project.path / "pyproject.toml").write_text(
        (project.path / "pyproject.toml").read_text() + '\nredact = ["[a-z.]+@example[.]org"]\n'
    )
    reply = f"Your key is {SECRET}; we wrote to dana.customer@example.org about the refund."
    with MessagesAPIServer(lambda request: text_message(reply)) as echo:
        monkeypatch.setenv("AGENT_URL", echo.base_url)
        project.pytester.makepyfile(
            echo_agent=textwrap.dedent(
                """
                import os
                import anthropic
                from pytest_flywheel import track, track_anthropic

                client = track_anthropic(anthropic.Anthropic(base_url=os.environ["AGENT_URL"], max_retries=0))

                @track(type="tool")
                def lookup_customer(customer_id):
                    return {"id": customer_id, "email": "dana.customer@example.org"}

                def answer(question):
                    customer = lookup_customer("C-1")
                    text = client.messages.create(
                        model="claude-haiku-5-5", max_tokens=50,
                        messages=[{"role": "user", "content": f"{question} ({customer['email']})"}],
                    ).content[0].text
                    return {"reply": text, "customer": customer}
                """
            )
        )
        project.write_suite(
            "echo",
            """\
            version: 1
            name: echo
            target: echo_agent:answer
            cases:
              - id: leaks
                input: {question: "what is my key?"}
                assertions:
                  - "The reply must mention 'refund'"
            """,
        )
        recorded = project.pytester.runpytest("--flywheel-suite=echo", "--flywheel-record=once")
    recorded.assert_outcomes(passed=1)
    assert project.judge_calls() == 1
    judged = project.judge.message_requests[0].body["messages"][0]["content"]
    assert SECRET not in judged and "dana.customer@example.org" not in judged  # nor did the judge see them

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("AGENT_URL", "http://127.0.0.1:9")
    replayed = project.pytester.runpytest("--flywheel-suite=echo", "--flywheel-offline")
    replayed.assert_outcomes(passed=1)
    assert project.judge_calls() == 1
