"""Cases and marked tests replay their cassettes (the agent's real SDK calls), with record modes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pytest_flywheel.testing import MessagesAPIServer, text_message
from tests.plugin.conftest import Project

LLM_AGENT = """
import os

import anthropic

from pytest_flywheel import track, track_anthropic


@track
def answer(question):
    client = track_anthropic(
        anthropic.Anthropic(api_key="sk-ant\x2dagent-secret-0123456789", base_url=os.environ["AGENT_BASE_URL"], max_retries=0)
    )
    message = client.messages.create(
        model="claude-haiku-5-5", max_tokens=100, messages=[{"role": "user", "content": question}]
    )
    return message.content[0].text
"""

LLM_SUITE = """\
version: 1
name: llm
target: llm_agent:answer
cases:
  - id: one
    input: {question: "Where is my refund?"}
    assertions:
      - "The reply must mention 'refund'"
      - {max_cost_usd: 1.0}
"""

LLM_MARKED = """
import pytest

from llm_agent import answer


@pytest.mark.assertion("The reply must mention 'refund'")
def test_llm_reply():
    return answer("Where is my refund?")
"""


@pytest.fixture
def agent_api() -> Iterator[MessagesAPIServer]:
    def reply(request: object) -> dict[str, object]:
        return text_message("Your refund was sent today.", model="claude-haiku-5-5")

    with MessagesAPIServer(reply) as server:
        yield server


@pytest.fixture
def llm_project(project: Project, agent_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("AGENT_BASE_URL", agent_api.base_url)
    project.pytester.makepyfile(llm_agent=LLM_AGENT)
    project.write_suite("llm", LLM_SUITE)
    return project


def test_record_once_then_replay_with_the_agent_api_gone(
    llm_project: Project, agent_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = llm_project.pytester.runpytest("--flywheel-suite=llm", "--flywheel-record=once")
    recorded.assert_outcomes(passed=1)
    assert len(agent_api.message_requests) == 1
    cassette = llm_project.path / "flywheel/cassettes/llm/one.yaml"
    text = cassette.read_text()
    assert "Your refund was sent today." in text
    assert "sk-ant-agent-secret" not in text
    assert "x-flywheel-judge" not in text  # the judge's own calls never enter a case cassette

    monkeypatch.setenv("AGENT_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    replayed = llm_project.pytester.runpytest("--flywheel-suite=llm", "--flywheel-offline")
    replayed.assert_outcomes(passed=1)
    assert len(agent_api.message_requests) == 1


def test_a_cassette_miss_is_an_error_naming_the_cassette_and_the_fix(llm_project: Project) -> None:
    result = llm_project.pytester.runpytest("--flywheel-suite=llm")  # record mode none, no cassette yet
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "flywheel/cassettes/llm/one.yaml" in output
    assert "--flywheel-record" in output
    assert llm_project.judge_calls() == 0


def test_a_marked_test_runs_inside_its_own_cassette(
    llm_project: Project, agent_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_project.pytester.makepyfile(test_llm=LLM_MARKED)
    llm_project.pytester.runpytest("test_llm.py", "--flywheel-record=once").assert_outcomes(passed=1)
    assert (llm_project.path / "flywheel/cassettes/test_llm/test_llm_reply.yaml").is_file()

    monkeypatch.setenv("AGENT_BASE_URL", "http://127.0.0.1:9")
    llm_project.pytester.runpytest("test_llm.py", "--flywheel-offline").assert_outcomes(passed=1)
    assert len(agent_api.message_requests) == 1


def test_a_marked_test_missing_its_cassette_is_an_error(llm_project: Project) -> None:
    llm_project.pytester.makepyfile(test_llm=LLM_MARKED)
    result = llm_project.pytester.runpytest("test_llm.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_llm_reply.yaml*"])


def test_new_episodes_records_a_changed_request_next_to_the_old_one(llm_project: Project) -> None:
    llm_project.pytester.runpytest("--flywheel-suite=llm", "--flywheel-record=once").assert_outcomes(passed=1)
    suite = llm_project.path / "flywheel/suites/llm.yaml"
    suite.write_text(suite.read_text().replace("Where is my refund?", "Where is my refund now?"))

    missed = llm_project.pytester.runpytest("--flywheel-suite=llm")
    missed.assert_outcomes(errors=1)
    missed.stdout.fnmatch_lines(["*--flywheel-record=new_episodes*"])

    llm_project.pytester.runpytest("--flywheel-suite=llm", "--flywheel-record=new_episodes").assert_outcomes(
        passed=1
    )
    cassette = (llm_project.path / "flywheel/cassettes/llm/one.yaml").read_text()
    assert "Where is my refund?" in cassette
    assert "Where is my refund now?" in cassette


TOOL_AGENT = """
from pathlib import Path

from pytest_flywheel import track


@track(type="tool")
def lookup_order(order_id):
    calls = Path("tool_calls.txt")
    calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
    return {"order_id": order_id, "status": "shipped"}


@track
def answer(order_id):
    order = lookup_order(order_id)
    return f"Order {order['order_id']} is {order['status']}."
"""

TOOL_SUITE = """\
version: 1
name: tools
target: tool_agent:answer
cases:
  - id: shipped
    input: {order_id: "A1"}
    assertions:
      - {tool_called: lookup_order, args: {order_id: "A1"}}
      - {contains: "shipped"}
      - "The reply must mention 'A1'"
"""


def test_tool_calls_replay_from_the_cassette_and_form_the_trajectory(project: Project) -> None:
    project.pytester.makepyfile(tool_agent=TOOL_AGENT)
    project.write_suite("tools", TOOL_SUITE)
    project.pytester.runpytest("--flywheel-suite=tools", "--flywheel-record=once").assert_outcomes(passed=1)
    assert (project.path / "tool_calls.txt").read_text() == "x"

    result = project.pytester.runpytest(
        "--flywheel-suite=tools", "--flywheel-offline", "--flywheel-report=r.json"
    )
    result.assert_outcomes(passed=1)
    assert (project.path / "tool_calls.txt").read_text() == "x"  # replayed, not called again
    report = json.loads((project.path / "r.json").read_text())
    first = report["cases"][0]["assertions"][0]
    assert first["kind"] == "check" and first["passed"] is True


def test_live_tools_run_the_tools_code_so_a_changed_or_raising_tool_shows(project: Project) -> None:
    """Tools replay from the cassette like the model: changing one changes nothing in replay. With
    --flywheel-live-tools (or live_tools in [tool.flywheel]) the named tools run for real, offline, while
    the model's calls still replay, so a fixed or broken tool is what the case sees."""
    project.pytester.makepyfile(tool_agent=TOOL_AGENT)
    project.write_suite("tools", TOOL_SUITE)
    project.pytester.runpytest("--flywheel-suite=tools", "--flywheel-record=once").assert_outcomes(passed=1)
    project.pytester.makepyfile(tool_agent=TOOL_AGENT.replace('"status": "shipped"', '"status": "lost"'))
    calls = project.path / "tool_calls.txt"

    replayed = project.pytester.runpytest("--flywheel-suite=tools", "--flywheel-offline")
    replayed.assert_outcomes(passed=1)  # the recorded result, not the tool's new code
    assert calls.read_text() == "x"

    live = project.pytester.runpytest(
        "--flywheel-suite=tools", "--flywheel-live-tools=lookup_order", "--flywheel-report=r.json"
    )
    live.assert_outcomes(failed=1)
    live.stdout.fnmatch_lines(["*FAIL  contains: 'shipped'*", "*Order A1 is lost.*"])
    assert calls.read_text() == "xx"
    assert json.loads((project.path / "r.json").read_text())["cases"][0]["output"] == "Order A1 is lost."

    project.pytester.makepyfile(
        tool_agent=TOOL_AGENT.replace("    return {", "    raise TimeoutError('the order service timed out')\n    return {")
    )
    (project.path / "pyproject.toml").write_text(
        (project.path / "pyproject.toml").read_text() + '\nlive_tools = ["lookup_order"]\n'
    )
    raising = project.pytester.runpytest("--flywheel-suite=tools")
    raising.assert_outcomes(failed=1)
    raising.stdout.fnmatch_lines(["*TimeoutError: the order service timed out*"])
    # a live tool's calls were never written into the cassette by a replay-only run
    assert "lost" not in (project.path / "flywheel/cassettes/tools/shipped.yaml").read_text()


def test_a_live_tool_name_no_case_called_is_a_warning_not_a_silent_replay(project: Project) -> None:
    """A misspelt --flywheel-live-tools name runs nothing live; the run must say so, naming the tools
    that were called, instead of passing on replayed results the user believes were live."""
    project.pytester.makepyfile(tool_agent=TOOL_AGENT)
    project.write_suite("tools", TOOL_SUITE)
    project.pytester.runpytest("--flywheel-suite=tools", "--flywheel-record=once").assert_outcomes(passed=1)
    result = project.pytester.runpytest("--flywheel-suite=tools", "--flywheel-live-tools=lookup_ordr,lookup_order")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*--flywheel-live-tools names 'lookup_ordr', but no case of this run called a tool of that name "
         "(the tools called: lookup_order)*"]
    )
    assert "'lookup_order', but" not in result.stdout.str()
    quiet = project.pytester.runpytest("--flywheel-suite=tools", "--flywheel-live-tools=all")
    quiet.assert_outcomes(passed=1)
    assert "no case of this run called" not in quiet.stdout.str()


def test_a_live_tool_re_recorded_replaces_its_old_result_in_the_cassette(project: Project) -> None:
    project.pytester.makepyfile(tool_agent=TOOL_AGENT)
    project.write_suite("tools", TOOL_SUITE.replace('{contains: "shipped"}', '{contains: "Order"}'))
    project.pytester.runpytest("--flywheel-suite=tools", "--flywheel-record=once").assert_outcomes(passed=1)
    project.pytester.makepyfile(tool_agent=TOOL_AGENT.replace('"status": "shipped"', '"status": "lost"'))
    project.pytester.runpytest(
        "--flywheel-suite=tools", "--flywheel-record=new_episodes", "--flywheel-live-tools=all"
    ).assert_outcomes(passed=1)
    cassette = (project.path / "flywheel/cassettes/tools/shipped.yaml").read_text()
    assert "lost" in cassette and "shipped" not in cassette
    result = project.pytester.runpytest("--flywheel-suite=tools", "--flywheel-offline", "--flywheel-report=r.json")
    result.assert_outcomes(passed=1)
    assert json.loads((project.path / "r.json").read_text())["cases"][0]["output"] == "Order A1 is lost."


SYSTEM_AGENT = """
import os

import anthropic

from pytest_flywheel import track, track_anthropic

client = track_anthropic(anthropic.Anthropic(base_url=os.environ["AGENT_BASE_URL"], max_retries=0))


@track
def answer(question):
    message = client.messages.create(
        model="claude-haiku-5-5", max_tokens=100, system="You are a polite support agent.",
        messages=[{"role": "user", "content": question}],
    )
    return message.content[0].text
"""

SYSTEM_SUITE = """\
version: 1
name: polite
target: polite_agent:answer
cases:
""" + "".join(
    f"""  - id: q{n}
    input: {{question: "Where is refund {n}?"}}
    assertions: ["The reply must mention 'refund'"]
"""
    for n in range(3)
)


def test_misses_from_one_prompt_change_are_summed_up_by_where_the_requests_differ(
    project: Project, agent_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_BASE_URL", agent_api.base_url)
    project.pytester.makepyfile(polite_agent=SYSTEM_AGENT)
    project.write_suite("polite", SYSTEM_SUITE)
    project.pytester.runpytest("--flywheel-suite=polite", "--flywheel-record=once").assert_outcomes(passed=3)

    agent = project.path / "polite_agent.py"
    agent.write_text(agent.read_text().replace("a polite support", "a terse support"))
    monkeypatch.delenv("ANTHROPIC_API_KEY")  # offline, no key: the misses are the only problem
    result = project.pytester.runpytest(
        "--flywheel-suite=polite", "-rE", "--flywheel-report=report.json", "--flywheel-markdown=summary.md"
    )
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            # the flywheel section: each case's miss in one line, then one line for the three, with the fix
            "  ERROR flywheel/suites/polite.yaml::q2: cassette miss at system: the system prompt changed",
            "misses: 3 cases differ at `system`: the system prompt changed; if it changed on purpose, "
            "re-record with --flywheel-record=rewrite*",
            # pytest's short summary: the miss in one line (cut at the terminal's width)
            "ERROR *polite.yaml::q0 - CaseError: cassette miss at system: t*",
        ]
    )
    output = result.stdout.str()
    assert "polite support" in output and "terse support" in output  # the long message shows both sides
    cases = json.loads((project.path / "report.json").read_text())["cases"]
    assert [(c["miss_at"], c["summary"]) for c in cases] == [
        ("system", "cassette miss at system: the system prompt changed")
    ] * 3
    # the CI run page says why each case errored, as the terminal does, not only that a request was missed
    markdown = (project.path / "summary.md").read_text()
    assert "- **q0** (error): cassette miss at system: the system prompt changed" in markdown
