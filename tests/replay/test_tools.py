"""Function-level replay of tool calls, through the seam ``@track(type="tool")`` calls
(``pytest_flywheel.tracing.hooks.active_tool_interceptor``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import CassetteMissError, RecordedToolError, replay_case, write_case_cassette
from pytest_flywheel.testing import MessagesAPIServer, text_message
from pytest_flywheel.tracing.hooks import active_tool_interceptor

from .spans import ask, llm_span, tool_span

EMAIL = r"[\w.+-]+@[\w-]+\.[\w.]+"


class OrderNotFound(Exception):
    """An importable exception type a tool raised when it was recorded."""


def call_tool(tool: str, fn: Callable[..., Any], **arguments: Any) -> Any:
    """What ``@track(type="tool")`` does with a call while an interceptor is active."""
    interceptor = active_tool_interceptor.get()
    if interceptor is None:
        return fn(**arguments)
    return interceptor.intercept(tool=tool, arguments=arguments, call=lambda: fn(**arguments))


def must_not_run(**arguments: Any) -> Any:
    raise AssertionError(f"the real tool ran with {arguments}")


def tools_in(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text()).get("tool_interactions") or [])


@pytest.fixture
def cassette(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    spans = [
        llm_span(ask("Where is W1?"), text_message("Let me look.")),
        tool_span("lookup_order", {"order_id": "W1", "fields": {"a": 1, "b": 2}}, {"status": "packed"}),
        tool_span("lookup_order", {"order_id": "W1", "fields": {"a": 1, "b": 2}}, {"status": "shipped"}),
        tool_span("cancel", {"order_id": "W1"}, error={"type": "ValueError", "message": "already shipped"}),
        tool_span(
            "refund", {"order_id": "W1"}, error={"type": f"{__name__}.OrderNotFound", "message": "no W1"}
        ),
        tool_span("audit", {}, error={"type": "json.decoder.JSONDecodeError", "message": "bad: line 1"}),
        tool_span("escalate", {}, error={"type": "nowhere.SupportDown", "message": "desk closed"}),
    ]
    return write_case_cassette(spans, tmp_path / "case.yaml", redactor=Redactor())


def test_recorded_results_come_back_in_order_without_running_the_tool(cassette: Path) -> None:
    with replay_case(cassette) as session:
        first = call_tool("lookup_order", must_not_run, fields={"b": 2, "a": 1.0}, order_id="W1")
        second = call_tool("lookup_order", must_not_run, order_id="W1", fields={"a": 1, "b": 2})
    session.raise_for_miss()
    assert (first, second) == ({"status": "packed"}, {"status": "shipped"})
    assert [call["source"] for call in session.tool_calls] == ["replayed", "replayed"]


def test_recorded_errors_are_raised_again_as_their_own_type_when_possible(cassette: Path) -> None:
    with replay_case(cassette) as session:
        with pytest.raises(ValueError, match=r"^already shipped$"):
            call_tool("cancel", must_not_run, order_id="W1")
        with pytest.raises(OrderNotFound, match=r"^no W1$"):
            call_tool("refund", must_not_run, order_id="W1")
        # JSONDecodeError cannot be built from a message alone; SupportDown cannot be imported.
        with pytest.raises(RecordedToolError) as undecodable:
            call_tool("audit", must_not_run)
        with pytest.raises(RecordedToolError) as unimportable:
            call_tool("escalate", must_not_run)
    session.raise_for_miss()
    assert undecodable.value.type_name == "json.decoder.JSONDecodeError"
    assert str(unimportable.value) == "nowhere.SupportDown: desk closed"


def test_an_unknown_call_in_none_mode_is_a_miss_naming_the_tool_and_its_arguments(cassette: Path) -> None:
    with replay_case(cassette) as session:
        with pytest.raises(CassetteMissError):
            call_tool("lookup_order", must_not_run, order_id="W2", fields={})
    assert str(session.misses[0]) == (
        "The cassette case.yaml holds no recorded call of tool 'lookup_order' with arguments "
        '{"fields": {}, "order_id": "W2"}.\n'
        'Recorded calls of \'lookup_order\' have arguments: {"fields": {"a": 1, "b": 2}, "order_id": "W1"}; '
        '{"fields": {"a": 1, "b": 2}, "order_id": "W1"}.\n'
        "Record mode 'none' does not record new tool calls; if the call changed on purpose, run once with "
        "--flywheel-record=new_episodes to record it."
    )
    assert session.misses[0].kind == "tool"


def test_a_tool_called_more_often_than_recorded_is_a_miss(cassette: Path) -> None:
    with replay_case(cassette):
        with pytest.raises(ValueError):
            call_tool("cancel", must_not_run, order_id="W1")
        with pytest.raises(CassetteMissError) as raised:
            call_tool("cancel", must_not_run, order_id="W1")
    assert str(raised.value) == (
        "The cassette case.yaml has already played back every recorded call of tool 'cancel' with arguments "
        '{"order_id": "W1"}: the agent called it more often than when the case was recorded.\n'
        "Record mode 'none' does not record new tool calls; run once with --flywheel-record=new_episodes to "
        "record the extra call."
    )


def test_new_episodes_records_new_calls_beside_new_http_interactions_and_keeps_the_old(
    cassette: Path, messages_api: MessagesAPIServer
) -> None:
    messages_api.queue(text_message("new answer"))
    calls: list[dict[str, Any]] = []

    def lookup(**arguments: Any) -> dict[str, Any]:
        calls.append(arguments)
        if arguments["order_id"] == "W404":
            raise KeyError("W404")
        return {"status": "new", "at": ("a", "tuple")}

    with replay_case(cassette, record_mode="new_episodes") as session:
        assert call_tool("lookup_order", lookup, order_id="W1", fields={"a": 1, "b": 2}) == {
            "status": "packed"
        }
        assert call_tool("lookup_order", lookup, order_id="W2") == {"status": "new", "at": ("a", "tuple")}
        with pytest.raises(KeyError):
            call_tool("lookup_order", lookup, order_id="W404")
        client = anthropic.Anthropic(api_key="test-key", base_url=messages_api.base_url, max_retries=0)
        client.messages.create(**ask("a new question"))
    session.raise_for_miss()
    assert calls == [{"order_id": "W2"}, {"order_id": "W404"}]
    tools = tools_in(cassette)
    assert len(tools) == 8
    assert tools[-2:] == [
        {
            "tool": "lookup_order",
            "arguments": {"order_id": "W2"},
            "result": {"status": "new", "at": ["a", "tuple"]},
        },
        {
            "tool": "lookup_order",
            "arguments": {"order_id": "W404"},
            "error": {"type": "KeyError", "message": "'W404'"},
        },
    ]
    bodies = [json.loads(i["request"]["body"]) for i in yaml.safe_load(cassette.read_text())["interactions"]]
    assert [body["messages"][0]["content"] for body in bodies] == ["Where is W1?", "a new question"]
    # ...and the new calls replay.
    with replay_case(cassette) as replay:
        assert call_tool("lookup_order", must_not_run, order_id="W2") == {
            "status": "new",
            "at": ["a", "tuple"],
        }
        with pytest.raises(KeyError):
            call_tool("lookup_order", must_not_run, order_id="W404")
    replay.raise_for_miss()


def test_all_runs_every_tool_again_and_rewrite_keeps_only_this_run(cassette: Path) -> None:
    with replay_case(cassette, record_mode="all") as session:
        assert call_tool("cancel", lambda **_: "cancelled", order_id="W1") == "cancelled"
    session.raise_for_miss()
    tools = tools_in(cassette)
    assert [t["tool"] for t in tools] == [
        "lookup_order",
        "lookup_order",
        "refund",
        "audit",
        "escalate",
        "cancel",
    ]
    assert tools[-1]["result"] == "cancelled"
    with replay_case(cassette, record_mode="rewrite"):
        call_tool("refund", lambda **_: 10, order_id="W1")
    assert tools_in(cassette) == [{"tool": "refund", "arguments": {"order_id": "W1"}, "result": 10}]
    assert yaml.safe_load(cassette.read_text())["interactions"] == []


def test_async_tools_replay_and_record(cassette: Path) -> None:
    async def lookup(**arguments: Any) -> str:
        return "fresh"

    async def run() -> list[Any]:
        interceptor = active_tool_interceptor.get()
        assert interceptor is not None
        replayed = await interceptor.intercept_async(
            tool="lookup_order",
            arguments={"order_id": "W1", "fields": {"a": 1, "b": 2}},
            call=lambda: lookup(),
        )
        recorded = await interceptor.intercept_async(
            tool="lookup_order", arguments={"order_id": "W3"}, call=lambda: lookup(order_id="W3")
        )
        return [replayed, recorded]

    with replay_case(cassette, record_mode="new_episodes") as session:
        assert asyncio.run(run()) == [{"status": "packed"}, "fresh"]
    session.raise_for_miss()
    assert tools_in(cassette)[-1] == {
        "tool": "lookup_order",
        "arguments": {"order_id": "W3"},
        "result": "fresh",
    }


def test_tool_arguments_and_results_are_redacted_yet_still_match(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    redactor = Redactor([EMAIL])
    with replay_case(path, record_mode="once", redactor=redactor):
        call_tool(
            "crm", lambda **_: {"owner": "ann@example.com", "api_key": "k-123"}, email="ann@example.com"
        )
    text = path.read_text()
    assert "ann@example.com" not in text and "k-123" not in text
    with replay_case(path, redactor=redactor) as session:
        assert call_tool("crm", must_not_run, email="ann@example.com") == {
            "owner": "[REDACTED]",
            "api_key": "[REDACTED]",
        }
    session.raise_for_miss()


def test_no_interceptor_outside_a_session(cassette: Path) -> None:
    with replay_case(cassette):
        assert active_tool_interceptor.get() is not None
    assert active_tool_interceptor.get() is None


def test_the_real_track_decorator_routes_sync_and_async_tools_through_the_session(cassette: Path) -> None:
    from pytest_flywheel.tracing import track

    ran: list[str] = []

    @track(type="tool", name="lookup_order")
    def lookup_order(order_id: str, fields: dict[str, int] | None = None) -> dict[str, str]:
        ran.append(order_id)
        return {"status": "live"}

    @track(type="tool", name="cancel")
    async def cancel(order_id: str) -> str:
        ran.append(order_id)
        return "cancelled"

    with replay_case(cassette, record_mode="new_episodes") as session:
        assert lookup_order("W1", fields={"a": 1, "b": 2}) == {"status": "packed"}
        with pytest.raises(ValueError, match="already shipped"):
            asyncio.run(cancel("W1"))
        assert asyncio.run(cancel(order_id="W5")) == "cancelled"
    session.raise_for_miss()
    assert ran == ["W5"]
    assert [(c["tool"], c["source"]) for c in session.tool_calls] == [
        ("lookup_order", "replayed"),
        ("cancel", "replayed"),
        ("cancel", "recorded"),
    ]
    assert tools_in(cassette)[-1] == {
        "tool": "cancel",
        "arguments": {"order_id": "W5"},
        "result": "cancelled",
    }


def test_replay_errors_survive_pickling() -> None:
    import pickle

    from pytest_flywheel.replay.session import RequestMissError

    miss = RequestMissError(
        "m", kind="request", cassette=Path("c.yaml"), record_mode="none", what="w", fix="once"
    )
    copy = pickle.loads(pickle.dumps(miss))
    assert (type(copy), str(copy), copy.kind, copy.cassette, copy.fix) == (
        RequestMissError,
        "m",
        "request",
        Path("c.yaml"),
        "once",
    )
    error = pickle.loads(pickle.dumps(RecordedToolError("shop.Down", "closed")))
    assert (error.type_name, error.message, str(error)) == ("shop.Down", "closed", "shop.Down: closed")


def test_the_session_counts_what_the_run_left_unplayed(cassette: Path) -> None:
    with replay_case(cassette) as session:
        call_tool("lookup_order", must_not_run, order_id="W1", fields={"a": 1, "b": 2})
    assert session.unplayed == {"http": 1, "tools": 5}


def test_a_tool_called_inside_a_tool_is_neither_recorded_nor_replayed_on_its_own(tmp_path: Path) -> None:
    from pytest_flywheel.tracing import track

    ran: list[str] = []

    @track(type="tool")
    def lookup_order(order_id: str) -> dict[str, str]:
        ran.append(f"lookup {order_id}")
        return {"status": "delivered", "order_id": order_id}

    @track(type="tool")
    def check_refund(order_id: str) -> bool:
        ran.append(f"check {order_id}")
        return lookup_order(order_id)["status"] == "delivered"

    path = tmp_path / "nested.yaml"
    with replay_case(path, record_mode="once") as recording:
        assert check_refund("A1") is True
    recording.raise_for_miss()
    assert ran == ["check A1", "lookup A1"]
    assert [t["tool"] for t in tools_in(path)] == ["check_refund"]  # the outer call only

    ran.clear()
    with replay_case(path) as replay:
        assert check_refund("A1") is True
    replay.raise_for_miss()
    assert ran == []
    assert replay.unplayed == {"http": 0, "tools": 0}


class Unprintable(Exception):
    """An exception whose text is not the message it was built from."""

    def __str__(self) -> str:
        return f"unprintable: {self.args[0]}" if self.args else "unprintable"


@pytest.mark.parametrize(
    "raised",
    [KeyError("order A-9999 not found"), KeyError(("A-9999", 2)), Unprintable("desk closed")],
    ids=["KeyError", "KeyError-tuple", "own-str"],
)
def test_a_replayed_error_prints_what_it_printed_when_recorded(tmp_path: Path, raised: Exception) -> None:
    """An agent that catches a tool's exception and sends ``f"error: {exc}"`` to the model must send
    the same text on replay, or the next request misses its cassette. ``str(KeyError("x"))`` is
    ``"'x'"``, so ``KeyError(recorded_message)`` would print the quotes twice."""
    recorded = str(raised)
    kind = type(raised)
    type_name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    spans = [tool_span("lookup_order", {"order_id": "A-9999"}, error={"type": type_name, "message": recorded})]
    path = write_case_cassette(spans, tmp_path / "case.yaml", redactor=Redactor())

    with replay_case(path) as session:
        with pytest.raises(kind) as replayed:
            call_tool("lookup_order", must_not_run, order_id="A-9999")
    session.raise_for_miss()
    assert str(replayed.value) == recorded
    assert type(replayed.value).__name__ == kind.__name__


def test_a_tool_error_recorded_live_replays_with_the_same_text(tmp_path: Path) -> None:
    def lookup_order(order_id: str) -> Any:
        raise KeyError(f"order {order_id} not found")

    path = tmp_path / "live.yaml"
    with replay_case(path, record_mode="once") as session:
        with pytest.raises(KeyError) as live:
            call_tool("lookup_order", lookup_order, order_id="A-9999")
    with replay_case(path) as session:
        with pytest.raises(KeyError) as replayed:
            call_tool("lookup_order", must_not_run, order_id="A-9999")
    session.raise_for_miss()
    assert str(replayed.value) == str(live.value) == "'order A-9999 not found'"
