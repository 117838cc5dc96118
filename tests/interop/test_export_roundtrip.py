"""Round trip: @track and track_anthropic spans exported over OTLP (export = "otlp") to flywheel collect give
back the same trace tree, inputs, outputs, tokens and errors as the tracer's own store holds."""

from __future__ import annotations

from pathlib import Path

import anthropic
import pytest

from pytest_flywheel import flush, track, track_anthropic
from pytest_flywheel.interop.receiver import OTLPReceiver
from pytest_flywheel.store import SpanRecord, Store
from pytest_flywheel.testing import MessagesAPIServer
from pytest_flywheel.testing.messages_api import text_message, tool_use_message
from pytest_flywheel.tracing import reset_for_tests

FIELDS = ("id", "trace_id", "parent_id", "name", "type", "project", "input", "output", "error", "tags", "metadata",
          "module", "qualname", "model", "input_tokens", "output_tokens", "cache_read_tokens",
          "cache_creation_tokens", "cost_usd", "stop_reason")


@track(type="tool")
def lookup_order(order_id: str) -> dict[str, str]:
    if order_id == "missing":
        raise KeyError(order_id)
    return {"order_id": order_id, "status": "shipped"}


@track(entrypoint=True, tags=["support"], metadata={"channel": "chat"})
def answer(question: str, base_url: str) -> str:
    client = track_anthropic(anthropic.Anthropic(api_key="sk-ant-not-a-key", base_url=base_url))
    first = client.messages.create(model="claude-sonnet-5-5", max_tokens=100,
                                   messages=[{"role": "user", "content": question}])
    lookup_order(first.content[-1].input["order_id"])
    try:
        lookup_order("missing")
    except KeyError:
        pass
    with client.messages.stream(model="claude-sonnet-5-5", max_tokens=100,
                                messages=[{"role": "user", "content": question}]) as stream:
        text = stream.get_final_message().content[0].text
    if "refund" in question:
        raise RuntimeError("refunds are not handled")
    return str(text)


def _spans(store: Path) -> dict[str, SpanRecord]:
    with Store(store) as opened:
        return {row[0]: span for row in opened.conn.execute("SELECT id FROM spans")
                for span in [opened.conn and _one(opened, row[0])]}


def _one(store: Store, span_id: str) -> SpanRecord:
    from pytest_flywheel.store.store import span_from_row

    return span_from_row(store.conn.execute("SELECT * FROM spans WHERE id = ?", (span_id,)).fetchone())


def test_spans_exported_over_otlp_come_back_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     messages_api: MessagesAPIServer) -> None:
    collected = tmp_path / "collected.db"
    receiver = OTLPReceiver(collected, port=0).start()
    monkeypatch.setenv("FLYWHEEL_EXPORT", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url.removesuffix("/v1/traces"))
    reset_for_tests()
    try:
        for question in ("Where is order A-1?", "I want a refund for A-2"):
            messages_api.queue(tool_use_message("lookup_order", {"order_id": question.split()[-1].rstrip("?")}),
                               text_message("It shipped.", input_tokens=30, output_tokens=8))
            try:
                answer(question, messages_api.base_url)
            except RuntimeError:
                pass
        assert flush(10)
    finally:
        reset_for_tests()
        receiver.stop()
    import os

    own = _spans(Path(os.environ["FLYWHEEL_STORE"]))
    back = _spans(collected)
    assert len(own) == 10 and set(back) == set(own)
    for span_id, span in own.items():
        again = back[span_id]
        for name in FIELDS:
            assert getattr(again, name) == getattr(span, name), (span.name, name)
        assert again.start_time == pytest.approx(span.start_time, abs=1e-6)
        assert again.duration_ms == pytest.approx(span.duration_ms, abs=1e-3)
    errors = sorted(span.error["type"] for span in back.values() if span.error)
    assert errors == ["KeyError", "KeyError", "RuntimeError"]
    assert receiver.summary.orphans == 0 and receiver.summary.traces_new == 2


def test_export_without_the_sdk_installed_warns_and_tracing_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_otel(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("opentelemetry"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setenv("FLYWHEEL_EXPORT", "otlp")
    monkeypatch.setattr(builtins, "__import__", no_otel)
    reset_for_tests()
    from pytest_flywheel.tracing import TracingWarning

    with pytest.warns(TracingWarning, match=r"pytest-flywheel\[otel\]"):
        assert lookup_order("A-9") == {"order_id": "A-9", "status": "shipped"}
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert flush(5)
    import os

    assert len(_spans(Path(os.environ["FLYWHEEL_STORE"]))) == 1


def test_a_bad_export_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_flywheel.config import ConfigError, load_settings

    monkeypatch.setenv("FLYWHEEL_EXPORT", "zipkin")
    with pytest.raises(ConfigError, match="expected otlp or none"):
        load_settings()
