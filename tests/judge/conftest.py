"""Fixtures for the judge's tests: a loopback judge server and an SDK client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from pytest_flywheel.judge.loopback import verdict_handler
from pytest_flywheel.testing import MessagesAPIServer


@pytest.fixture
def judge_api() -> Iterator[MessagesAPIServer]:
    """A loopback Messages API answering every judge request with verdicts (quoted-words rule)."""
    with MessagesAPIServer(verdict_handler()) as server:
        yield server


@pytest.fixture
def judge_client(judge_api: MessagesAPIServer) -> anthropic.Anthropic:
    """The real SDK client, pointed at :func:`judge_api`, with no SDK-level retries."""
    return anthropic.Anthropic(api_key="test-key", base_url=judge_api.base_url, max_retries=0)
