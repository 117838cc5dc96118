"""Capture of a trace logged by the real tracing SDK (``track`` + ``track_anthropic``) against a loopback
Messages API; the captured case then replays from its cassette with the server stopped."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import pytest_flywheel
from pytest_flywheel.cli.main import main
from pytest_flywheel.config import load_settings
from pytest_flywheel.redaction import build_redactor
from pytest_flywheel.replay import replay_case
from pytest_flywheel.store import Store
from pytest_flywheel.suites import load_suite
from pytest_flywheel.testing import MessagesAPIServer, text_message

AGENT = """
import os

import anthropic

from pytest_flywheel import track, track_anthropic

client = track_anthropic(
    anthropic.Anthropic(api_key="sk-ant\x2dapi03-NEVER-WRITE-ME", base_url=os.environ["AGENT_BASE_URL"], max_retries=0)
)


@track(type="tool")
def lookup_order(order_id: str) -> dict:
    return {"order_id": order_id, "status": "shipped", "lookups": LOOKUPS.append(order_id) or len(LOOKUPS)}


LOOKUPS: list = []


@track(entrypoint=True)
def answer(question: str, user_id: int = 0) -> str:
    order = lookup_order("1234")
    reply = client.messages.create(
        model="claude-sonnet-5-5",
        max_tokens=200,
        messages=[{"role": "user", "content": f"{question} (order status: {order['status']})"}],
    )
    return reply.content[0].text
"""


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, messages_api: MessagesAPIServer) -> Iterator[str]:
    """A project whose module ``agent_<id>`` is traced, talking to the loopback server."""
    module = f"agent_{uuid.uuid4().hex[:10]}"
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(AGENT))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENT_BASE_URL", messages_api.base_url)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    sys.modules.pop(module, None)


def test_a_real_trace_is_captured_and_replays_offline(
    agent: str, messages_api: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    messages_api.queue(text_message("Order 1234 has shipped and arrives Monday."))
    module = importlib.import_module(agent)
    output = module.answer("Where is my order?", user_id=7)
    assert pytest_flywheel.flush()
    settings = load_settings()
    with Store(settings.store, readonly=True) as store:  # the one trace the call logged
        (row,) = store.conn.execute("SELECT id FROM traces").fetchall()
    trace_id = row["id"]

    code = main(
        ["suite", "add", "support", "--trace", trace_id[:10], "--assert", "The response must give the day."]
    )
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    assert out.startswith("Added case where-is-my-order-")
    loaded = load_suite(settings.suites_dir / "support.yaml")
    assert loaded.suite.target == f"{agent}:answer"
    case = loaded.suite.cases[0]
    assert case.input == {"question": "Where is my order?", "user_id": 7}
    cassette = case.cassette_path(settings, "support")
    recorded = cassette.read_text()
    assert "NEVER-WRITE-ME" not in recorded and "NEVER-WRITE-ME" not in loaded.path.read_text()
    data = yaml.safe_load(recorded)
    assert len(data["interactions"]) == 1
    assert [(item["tool"], item["arguments"]) for item in data["tool_interactions"]] == [
        ("lookup_order", {"order_id": "1234"})
    ]

    # Replay: the server is stopped, the tool must not run again, and the output is production's.
    messages_api.stop()
    module.LOOKUPS.clear()
    with replay_case(cassette, redactor=build_redactor(settings)) as session:
        replayed = module.answer(**case.input)
    session.raise_for_miss()
    assert replayed == output == "Order 1234 has shipped and arrives Monday."
    assert module.LOOKUPS == []
