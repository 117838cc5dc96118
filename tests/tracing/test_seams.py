"""The seams replay and the plugin use: the tool interceptor and span collectors (tracing/hooks.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pytest_flywheel.tracing import reset_for_tests, track
from pytest_flywheel.tracing.hooks import collect_spans, tool_interceptor
from pytest_flywheel.tracing.runtime import RUNTIME
from tests.tracing.conftest import ReadSpans

real_calls: list[str] = []


@track(type="tool", ignore_arguments=["token"])
def weather(city: str, units: str = "C", token: str = "secret") -> dict[str, Any]:
    real_calls.append(city)
    return {"city": city, "temp": 21}


@track(type="tool")
async def stock(sku: str) -> int:
    real_calls.append(sku)
    return 7


@track(entrypoint=True)
def agent(city: str) -> str:
    return f"{weather(city)['temp']} degrees"


class Recorder:
    """Replays recorded results by tool name; calls through for unknown tools."""

    def __init__(self, recorded: dict[str, Any]) -> None:
        self.recorded = recorded
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def intercept(self, *, tool: str, arguments: dict[str, Any], call: Callable[[], Any]) -> Any:
        self.seen.append((tool, arguments))
        if tool in self.recorded:
            result = self.recorded[tool]
            if isinstance(result, BaseException):
                raise result
            return result
        return call()

    async def intercept_async(self, *, tool: str, arguments: dict[str, Any],
                              call: Callable[[], Awaitable[Any]]) -> Any:
        self.seen.append((tool, arguments))
        if tool in self.recorded:
            return self.recorded[tool]
        return await call()


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    real_calls.clear()


def test_tool_calls_go_through_the_interceptor_and_are_still_recorded(read_spans: ReadSpans) -> None:
    recorder = Recorder({"weather": {"city": "Oslo", "temp": -3}})
    with tool_interceptor(recorder):
        assert agent("Oslo") == "-3 degrees"
    assert real_calls == []  # replayed, not called
    assert recorder.seen == [("weather", {"city": "Oslo", "units": "C"})]  # bound, defaults, ignored gone
    _, tool = read_spans()
    assert tool.name == "weather" and tool.output == {"city": "Oslo", "temp": -3}


def test_the_interceptor_can_call_through_or_raise(read_spans: ReadSpans) -> None:
    with tool_interceptor(Recorder({})):
        assert weather("Lima") == {"city": "Lima", "temp": 21}
    assert real_calls == ["Lima"]
    with tool_interceptor(Recorder({"weather": ConnectionError("recorded failure")})):
        with pytest.raises(ConnectionError, match="recorded failure"):
            weather("Rome")
    first, second = read_spans()
    assert first.output == {"city": "Lima", "temp": 21}
    assert second.error is not None and second.error["type"] == "ConnectionError"


def test_async_tools_use_intercept_async(read_spans: ReadSpans) -> None:
    recorder = Recorder({"stock": 99})
    with tool_interceptor(recorder):
        assert asyncio.run(stock("TEA-1")) == 99
    assert real_calls == [] and recorder.seen == [("stock", {"sku": "TEA-1"})]
    (span,) = read_spans()
    assert span.output == 99


def test_non_tool_spans_never_reach_the_interceptor() -> None:
    recorder = Recorder({"agent": "replayed"})
    with tool_interceptor(recorder):
        agent("Oslo")
    assert [tool for tool, _ in recorder.seen] == ["weather"]


def test_collectors_get_every_span_finished_inside(read_spans: ReadSpans) -> None:
    with collect_spans() as outer, collect_spans() as inner:
        agent("Oslo")
    assert [span.name for span in inner.spans] == ["weather", "agent"]  # in the order they finished
    assert outer.spans == inner.spans
    assert [span.name for span in read_spans()] == ["agent", "weather"]  # persisted too


def test_a_collector_with_persist_false_keeps_spans_out_of_the_store(read_spans: ReadSpans) -> None:
    with collect_spans(persist=False) as collector:
        agent("Oslo")
    assert len(collector.spans) == 2
    assert RUNTIME.writer is None
    assert read_spans() == []


def test_seams_work_with_tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_TRACING", "off")
    reset_for_tests()
    recorder = Recorder({"weather": {"city": "Oslo", "temp": 5}})
    with collect_spans() as collector, tool_interceptor(recorder):
        assert agent("Oslo") == "5 degrees"
    assert [span.name for span in collector.spans] == ["weather", "agent"]
    assert RUNTIME.writer is None  # off: collected, never stored
