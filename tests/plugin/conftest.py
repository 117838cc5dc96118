"""Fixtures for the plugin's end-to-end tests: a project in a pytester folder (pyproject, an agent, a
suite file) and a loopback judge reached through the real Anthropic SDK."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Imported here, in the outer session, so that in-process pytester runs (which put sys.modules back
# after each run) never import them twice: ruamel's C extension does not survive a second import.
import pytest_flywheel.replay.session
import pytest_flywheel.suites.loading  # noqa: F401
from pytest_flywheel.judge.loopback import verdict_handler
from pytest_flywheel.testing import MessagesAPIServer

PYPROJECT = """\
[tool.pytest.ini_options]
# In-process pytester runs see pytest_flywheel already imported by the outer session.
filterwarnings = ["ignore::pytest.PytestAssertRewriteWarning"]

[tool.flywheel]
store = ".flywheel/flywheel.db"
"""

AGENT = '''\
def answer(question):
    """A deterministic stand-in agent."""
    if "crash" in question:
        raise RuntimeError("the agent crashed on purpose")
    return f"About {question}: we will refund you within 5 days."


async def answer_async(question):
    return f"Async answer about {question}: refund approved."
'''

SUITE = """\
version: 1
name: qa
description: questions customers ask
target: agent:answer
cases:
  - id: refund
    input: {question: "a refund"}
    tags: [billing, smoke]
    assertions:
      - "The reply must mention 'refund'"
      - contains: "5 days"
  - id: shipping
    input: {question: "my parcel"}
    tags: [shipping]
    assertions:
      - "The reply must mention 'tracking'"
      - "The reply must mention 'parcel'"
"""


@dataclass
class Project:
    """A pytester project with a suite and the judge server it talks to."""

    pytester: pytest.Pytester
    judge: MessagesAPIServer

    @property
    def path(self) -> Path:
        return self.pytester.path

    @property
    def verdicts(self) -> Path:
        return self.path / "flywheel" / "verdicts.jsonl"

    def write_suite(self, name: str, text: str) -> Path:
        path = self.path / "flywheel" / "suites" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def judge_calls(self) -> int:
        return len(self.judge.message_requests)


@pytest.fixture
def judge_server() -> Iterator[MessagesAPIServer]:
    """The loopback Messages API answering judge requests (a criterion passes when the words it quotes
    in single quotes are in the output)."""
    with MessagesAPIServer(verdict_handler()) as server:
        yield server


@pytest.fixture
def project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, judge_server: MessagesAPIServer
) -> Project:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", judge_server.base_url)
    pytester.makefile(".toml", pyproject=PYPROJECT)
    pytester.makepyfile(agent=AGENT)
    project = Project(pytester, judge_server)
    project.write_suite("qa", SUITE)
    return project
