"""A synthetic project for the suite benchmarks (``suite_warm.py``, ``suite_cold.py``).

It holds a small traced agent (one Anthropic ``messages.create`` call per question, through the real
SDK), a suite of N cases with three sentence assertions each, the cases' cassettes (recorded by a real
``--flywheel-record once`` run against a loopback Messages API), and the verdict file from that run.
The agent can also run against in-memory answers (an ``httpx2.MockTransport``), which is what the
plain-pytest baseline uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from pytest_flywheel.judge.loopback import verdict_handler
from pytest_flywheel.testing import MessagesAPIServer, text_message

SUITE_NAME = "bench"
SENTENCES = (
    "The reply must mention 'sorry'",
    "The reply must mention 'refund'",
    "The reply must mention 'order'",
)

AGENT = '''\
"""A synthetic support agent: one LLM call per question."""

import os

import anthropic
import httpx2

from pytest_flywheel import track, track_anthropic


def reply_text(question):
    number = question.rsplit(" ", 1)[-1]
    return f"We are sorry about order {number}; a refund is on its way."


def _in_memory(request):
    import json

    body = json.loads(request.content)
    text = reply_text(body["messages"][0]["content"])
    return httpx2.Response(200, json={
        "id": "msg_mem", "type": "message", "role": "assistant", "model": body["model"],
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 15, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    })


def _client():
    if os.environ.get("AGENT_TRANSPORT") == "memory":
        http = httpx2.Client(transport=httpx2.MockTransport(_in_memory))
        return anthropic.Anthropic(api_key="test-key", base_url="http://agent.invalid", http_client=http)
    return anthropic.Anthropic(
        api_key="test-key", base_url=os.environ.get("AGENT_BASE_URL", "http://127.0.0.1:9"), max_retries=0
    )


CLIENT = track_anthropic(_client())


@track
def answer(question: str) -> str:
    message = CLIENT.messages.create(
        model="claude-haiku-5-5", max_tokens=200, messages=[{"role": "user", "content": question}]
    )
    return message.content[0].text
'''

PLAIN_TEST = '''\
"""The baseline: the same agent calls in a plain parametrized pytest test, answers in memory."""

import pytest

from agent import answer

QUESTIONS = [f"Where is my order {n}" for n in range({cases})]


@pytest.mark.parametrize("question", QUESTIONS)
def test_answer(question):
    reply = answer(question)
    assert "sorry" in reply
    assert "refund" in reply
    assert "order" in reply
'''


def question(number: int) -> str:
    return f"Where is my order {number}"


def write_project(root: Path, *, cases: int) -> None:
    """The pyproject, the agent, the suite file and the baseline test, in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.pytest.ini_options]
            addopts = "-p no:cacheprovider"

            [tool.flywheel]
            tracing = "off"
            """
        )
    )
    (root / "agent.py").write_text(AGENT)
    (root / "plain").mkdir(exist_ok=True)
    (root / "plain" / "test_plain.py").write_text(PLAIN_TEST.replace("{cases}", str(cases)))
    lines = [f"version: 1\nname: {SUITE_NAME}\ntarget: agent:answer\ncases:\n"]
    for number in range(cases):
        lines.append(
            f"  - id: case-{number:04d}\n    input: {{question: '{question(number)}'}}\n    assertions:\n"
        )
        lines.extend(f'      - "{sentence}"\n' for sentence in SENTENCES)
    suites = root / "flywheel" / "suites"
    suites.mkdir(parents=True, exist_ok=True)
    (suites / f"{SUITE_NAME}.yaml").write_text("".join(lines))


def environment(root: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLYWHEEL_", "ANTHROPIC_"))}
    env["FLYWHEEL_STORE"] = str(root / ".flywheel" / "flywheel.db")
    env.update(extra)
    return env


def suite_args() -> list[str]:
    """Run the suite alone: its file as the path argument, as ``flywheel test run`` does."""
    return [f"flywheel/suites/{SUITE_NAME}.yaml", f"--flywheel-suite={SUITE_NAME}"]


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args]


def run_pytest(root: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """A fresh ``python -m pytest`` process in the project, its output captured; ``extra`` goes into
    its environment (see :func:`environment`)."""
    return subprocess.run(
        pytest_command(*args),
        cwd=root,
        env=environment(root, **extra),
        capture_output=True,
        text=True,
        check=False,
    )


def record(root: Path) -> None:
    """Record every case's cassette and judge every assertion once (fills the verdict file)."""

    def reply(request: Any) -> dict[str, Any]:
        content = request.body["messages"][0]["content"]
        number = content.rsplit(" ", 1)[-1]
        return text_message(
            f"We are sorry about order {number}; a refund is on its way.", model="claude-haiku-5-5"
        )

    with MessagesAPIServer(reply) as agent_api, MessagesAPIServer(verdict_handler()) as judge_api:
        done = run_pytest(
            root,
            *suite_args(),
            "--flywheel-record=once",
            AGENT_BASE_URL=agent_api.base_url,
            ANTHROPIC_API_KEY="test-key",
            ANTHROPIC_BASE_URL=judge_api.base_url,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"recording the benchmark suite failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
