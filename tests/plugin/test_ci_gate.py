"""The suite as a CI gate people can rely on: offline replay for an agent whose client is built at import
with no key, one clear error per case when a key is missing, and every touched test's true outcome in
the terminal, the JSON report, JUnit and the run record."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from pytest_flywheel.testing import MessagesAPIServer, text_message
from tests.plugin.conftest import Project

CLOSED = "http://127.0.0.1:9"
CASES = 30

# The README's "Log" snippet, as a user writes it: the client is built at import, from the environment.
AGENT = '''
import anthropic

from pytest_flywheel import track, track_anthropic

client = track_anthropic(anthropic.Anthropic(max_retries=0))


@track(type="tool")
def lookup_order(order_id: str) -> dict:
    return {"order_id": order_id, "status": "shipped"}


@track(entrypoint=True, project_name="support-agent")
def answer(question: str, order_id: str) -> str:
    order = lookup_order(order_id)
    message = client.messages.create(
        model="claude-haiku-5-5",
        max_tokens=200,
        messages=[{"role": "user", "content": f"{question} (order {order['order_id']}: {order['status']})"}],
    )
    return message.content[0].text
'''


def suite_text(name: str, *, sentence: bool) -> str:
    lines = [f"version: 1\nname: {name}\ntarget: readme_agent:answer\ncases:\n"]
    for number in range(CASES):
        lines.append(
            f"  - id: order-{number}\n"
            f"    input: {{question: 'Where is my order?', order_id: 'W{number:03d}'}}\n"
            f"    cassette: flywheel/cassettes/qa/order-{number}.yaml\n"
            f"    assertions:\n      - contains: 'W{number:03d} has shipped'\n"
        )
        if sentence:
            lines.append("      - \"The reply must mention 'shipped'\"\n")
    return "".join(lines)


@pytest.fixture
def agent_api() -> Iterator[MessagesAPIServer]:
    def reply(request: object) -> dict[str, object]:
        content = request.body["messages"][0]["content"]  # type: ignore[attr-defined]
        order = content.split("(order ")[1].split(":")[0]
        return text_message(f"Order {order} has shipped.", model="claude-haiku-5-5")

    with MessagesAPIServer(reply) as server:
        yield server


@pytest.fixture
def recorded(project: Project, agent_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The README agent's 30 cases, recorded once with a key against a loopback API."""
    project.pytester.makepyfile(readme_agent=AGENT)
    project.write_suite("qa", suite_text("qa", sentence=False))
    project.write_suite("qa-judged", suite_text("qa-judged", sentence=True))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", agent_api.base_url)
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-record=once", "-p", "no:randomly")
    result.assert_outcomes(passed=CASES)
    assert len(agent_api.message_requests) == CASES
    return project


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_client_built_at_import_replays_offline_with_no_key(
    recorded: Project, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", CLOSED)  # no network: only the cassettes can answer
    result = recorded.pytester.runpytest("--flywheel-suite=qa", *workers)
    result.assert_outcomes(passed=CASES)
    assert "Could not resolve authentication method" not in result.stdout.str()


def test_with_no_key_each_unjudged_case_is_one_error_and_the_judge_is_never_called(
    recorded: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", recorded.judge.base_url)  # the judge's endpoint, listening
    result = recorded.pytester.runpytest("--flywheel-suite=qa-judged", "-n", "2")
    result.assert_outcomes(errors=CASES)
    output = result.stdout.str()
    assert output.count("needs an Anthropic API key and ANTHROPIC_API_KEY is not set") >= CASES
    assert "Traceback" not in output
    assert recorded.judge.requests == []  # no request ever went out, with or without a credential


def test_recording_with_no_key_is_one_clear_error_per_case(
    project: Project, monkeypatch: pytest.MonkeyPatch, agent_api: MessagesAPIServer
) -> None:
    project.pytester.makepyfile(readme_agent=AGENT)
    project.write_suite("qa", suite_text("qa", sentence=False))
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", agent_api.base_url)
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-record=new_episodes", "-p", "no:xdist")
    result.assert_outcomes(errors=CASES)
    output = result.stdout.str()
    assert output.count("needs an Anthropic API key, and none is set") >= CASES
    assert "Traceback" not in output and "APIConnectionError" not in output
    assert len(output.splitlines()) < 40 * CASES  # one short error per case, not pages of tracebacks
    assert agent_api.requests == []
    assert not (project.path / "flywheel" / "cassettes").exists()


OUTCOMES = '''
import pytest

from agent import answer


@pytest.mark.assertion("The reply must mention 'refund'")
def test_marked_passes():
    return answer("a refund")


@pytest.mark.assertion("The reply must mention 'tracking'")
def test_marked_fails_its_assertion():
    return answer("a parcel")


@pytest.mark.assertion("The reply must mention 'refund'")
def test_marked_raises():
    raise ValueError("the test broke before returning")


@pytest.mark.flywheel_assertion("The reply must mention 'refund'")
def test_marked_skips():
    pytest.skip("not today")


@pytest.mark.xfail(reason="known bad")
@pytest.mark.assertion("The reply must mention 'tracking'")
def test_marked_xfails():
    return answer("a parcel")


@pytest.mark.xfail(reason="was bad")
@pytest.mark.assertion("The reply must mention 'refund'")
def test_marked_xpasses():
    return answer("a refund")


def test_judge_user_fails(judge):
    judge.expect(answer("a parcel"), "The reply must mention 'tracking'")


@pytest.fixture
def broken():
    raise RuntimeError("the fixture broke")


def test_judge_user_errors_in_setup(judge, broken):
    judge.expect("x", "The reply must mention 'x'")


def test_untouched():
    assert True
'''


def test_every_touched_test_has_its_true_outcome_everywhere(project: Project) -> None:
    project.pytester.makepyfile(test_outcomes=OUTCOMES)
    result = project.pytester.runpytest(
        "test_outcomes.py", "--flywheel-report=r.json", "--junitxml=junit.xml", "-p", "no:xdist", "-rA"
    )
    result.assert_outcomes(passed=2, failed=3, skipped=1, xfailed=1, xpassed=1, errors=1)
    expected = {
        "test_marked_passes": "passed",
        "test_marked_fails_its_assertion": "failed",
        "test_marked_raises": "failed",
        "test_marked_skips": "skipped",
        "test_marked_xfails": "xfailed",
        "test_marked_xpasses": "xpassed",
        "test_judge_user_fails": "failed",
        "test_judge_user_errors_in_setup": "error",
    }
    # the JSON report: every touched test, with pytest's verdict; `passed` is the exit status
    report = json.loads((project.path / "r.json").read_text())
    outcomes = {case["nodeid"].split("::")[-1]: case["outcome"] for case in report["cases"]}
    assert outcomes == expected
    assert report["passed"] is (result.ret == 0) is False and report["exit_status"] == result.ret
    raised = next(case for case in report["cases"] if case["nodeid"].endswith("test_marked_raises"))
    assert "the test broke before returning" in raised["message"]
    group = report["suites"]["(hand-written tests)"]
    assert (group["passed"], group["failed"], group["errors"], group["skipped"]) == (1, 3, 1, 1)
    assert (group["xfailed"], group["xpassed"]) == (1, 1)
    # the terminal's flywheel section agrees
    result.stdout.fnmatch_lines(
        ["(hand-written tests): 2/6 passed (33.3%), 3 failed, 1 error, 1 skipped, 1 xfailed, 1 xpassed"]
    )
    # JUnit: pytest's own status for each, plus the flywheel properties where something was judged
    cases = {case.get("name"): case for case in ET.parse(project.path / "junit.xml").getroot().iter("testcase")}
    assert cases["test_marked_raises"].find("failure") is not None
    assert cases["test_judge_user_errors_in_setup"].find("error") is not None
    assert cases["test_marked_skips"].find("skipped") is not None
    verdicts = {p.get("name"): p.get("value") for p in cases["test_marked_fails_its_assertion"].iter("property")}
    assert verdicts["flywheel.verdict.1"] == "fail"
    # the run record holds the same outcomes
    from pytest_flywheel.config import load_settings
    from pytest_flywheel.runs.queries import list_runs, load_run
    from pytest_flywheel.store import Store

    with Store(load_settings(project.path).store) as store:
        (listed,) = list_runs(store, limit=1)
        run = load_run(store, listed.id)
    assert {case.nodeid.split("::")[-1]: case.outcome for case in run.cases} == expected


def test_a_passing_session_reports_passed_and_exits_zero(project: Project) -> None:
    project.pytester.makepyfile(
        test_ok=textwrap.dedent(
            """
            import pytest
            from agent import answer

            @pytest.mark.assertion("The reply must mention 'refund'")
            def test_ok():
                return answer("a refund")
            """
        )
    )
    result = project.pytester.runpytest("test_ok.py", "--flywheel-report=r.json")
    assert result.ret == 0
    assert json.loads((project.path / "r.json").read_text())["passed"] is True
