"""The example's one pytest switch: ``--standin`` answers model and judge calls offline.

``pytest --flywheel-suite=customer-support-qa`` needs neither: it replays cassettes and reads cached
verdicts. ``--standin`` is for the steps that make new calls with no API key (re-recording a case
with ``--flywheel-record=new_episodes``, judging a new output): it starts the scripted stand-in
(``support_agent/standin.py`` for the agent's model, ``support_agent/standin_judge.py`` for the
judge) on a loopback port and points ``ANTHROPIC_BASE_URL`` at it. Its replies report the models
``flywheel-standin-agent`` and ``flywheel-standin-judge``: they are not Claude's. With
``ANTHROPIC_API_KEY`` set, ``--standin`` is refused, so a real key never talks to the stand-in.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

STANDIN_KEY = "standin-placeholder-not-a-key"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("support-agent").addoption(
        "--standin",
        action="store_true",
        help="Answer new model and judge calls with the offline scripted stand-in (not Claude)",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("standin") or hasattr(config, "workerinput"):
        return
    if os.environ.get("ANTHROPIC_API_KEY") and os.environ["ANTHROPIC_API_KEY"] != STANDIN_KEY:
        raise pytest.UsageError("--standin is for runs without a key; unset ANTHROPIC_API_KEY to use it.")
    from support_agent.standin import start_server

    server = start_server()
    config.add_cleanup(server.stop)
    # The judge refuses to run with no key at all; the stand-in ignores this placeholder.
    os.environ["ANTHROPIC_API_KEY"] = STANDIN_KEY
    os.environ["ANTHROPIC_BASE_URL"] = server.base_url
    config.stash[_server_key] = server


_server_key = pytest.StashKey[Any]()


def pytest_report_header(config: pytest.Config) -> str | None:
    server = config.stash.get(_server_key, None)
    if server is None:
        return None
    return (
        f"support-agent: new model and judge calls go to the offline STAND-IN at {server.base_url} "
        "(flywheel-standin-agent, flywheel-standin-judge), not to Claude"
    )
