"""Fixtures shared by the project's own tests (``tests/``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flywheel.testing import MessagesAPIServer

CORPUS = Path(__file__).resolve().parent.parent / "shared" / "corpus"

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_network_and_no_key(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test runs with no API key, no stray FLYWHEEL_* settings, its own trace store, and its
    traced calls stored (FLYWHEEL_TRACE_TESTS).

    ANTHROPIC_BASE_URL points at a closed loopback port, so a call that escaped a cassette or a stand-in
    fails at once instead of reaching the network.
    """
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    import os

    for name in list(os.environ):
        if name.startswith("FLYWHEEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FLYWHEEL_STORE", str(tmp_path_factory.mktemp("store") / "flywheel.db"))
    # This project's tests trace on purpose and read the store back; a user's test session keeps its
    # spans out of the store unless asked (tests/plugin/test_test_sessions.py checks that default).
    monkeypatch.setenv("FLYWHEEL_TRACE_TESTS", "1")
    # the tracing writer and its settings were made for the previous test's store: start afresh
    from pytest_flywheel.tracing import reset_for_tests

    reset_for_tests()


@pytest.fixture
def messages_api() -> Iterator[MessagesAPIServer]:
    """A started loopback Messages API server; ``.queue(...)`` scripts replies, ``.requests`` counts calls."""
    with MessagesAPIServer() as server:
        yield server


@pytest.fixture
def corpus() -> Path:
    """``../shared/corpus``: real public material. Skips the test when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    return CORPUS
