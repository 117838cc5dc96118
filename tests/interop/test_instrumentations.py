"""Real instrumentation, not hand-made JSON: OpenInference's and OpenTelemetry's Anthropic instrumentors
trace a real Anthropic client against the loopback Messages API; the OTel SDK exports to an OTLP file and
to ``flywheel collect``; the result is imported, analyzed and captured as a suite case."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openinference.instrumentation.anthropic as openinference
import opentelemetry.instrumentation.anthropic as otel_anthropic
import pytest
import yaml

from pytest_flywheel.cli.main import main
from pytest_flywheel.interop.receiver import OTLPReceiver
from pytest_flywheel.store import SpanRecord, Store
from pytest_flywheel.testing import MessagesAPIServer
from pytest_flywheel.testing.messages_api import text_message, tool_use_message

from .otel import otlp_file, provider_to

AGENT = '''
"""A support agent traced with OpenTelemetry alone (no @track)."""
import json

CLIENT = None
TRACER = None
TOOLS = [{"name": "lookup_order", "description": "Find an order", "input_schema": {"type": "object",
          "properties": {"order_id": {"type": "string"}}}}]


def lookup_order(order_id):
    with TRACER.start_as_current_span("lookup_order", attributes={
            "openinference.span.kind": "TOOL", "tool.name": "lookup_order",
            "input.value": json.dumps({"order_id": order_id}), "input.mime_type": "application/json"}) as span:
        result = {"order_id": order_id, "status": "shipped"}
        span.set_attribute("output.value", json.dumps(result))
        span.set_attribute("output.mime_type", "application/json")
        return result


def answer(question):
    with TRACER.start_as_current_span("answer", attributes={
            "openinference.span.kind": "CHAIN", "code.namespace": "support_agent", "code.function": "answer",
            "input.value": json.dumps({"question": question}), "input.mime_type": "application/json"}) as span:
        first = CLIENT.messages.create(model="claude-sonnet-5-5", max_tokens=200, tools=TOOLS,
                                       messages=[{"role": "user", "content": question}])
        call = next(block for block in first.content if block.type == "tool_use")
        order = lookup_order(**call.input)
        with CLIENT.messages.stream(model="claude-sonnet-5-5", max_tokens=200, messages=[
                {"role": "user", "content": question}, {"role": "assistant", "content": first.content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                              "content": json.dumps(order)}]}]) as stream:
            reply = stream.get_final_message().content[0].text
        span.set_attribute("output.value", reply)
        return reply
'''

INSTRUMENTORS = {
    "openinference": lambda: openinference.AnthropicInstrumentor(),
    "opentelemetry": lambda: otel_anthropic.AnthropicInstrumentor(),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'support'\n[tool.flywheel]\n")
    (root / "support_agent.py").write_text(AGENT)
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("FLYWHEEL_STORE", str(root / ".flywheel" / "flywheel.db"))
    yield root
    sys.modules.pop("support_agent", None)


def run_agent(provider: Any, instrumentation: str, base_url: str, server: MessagesAPIServer) -> str:
    import importlib

    agent = importlib.import_module("support_agent")
    server.queue(tool_use_message("lookup_order", {"order_id": "A-1001"}, tool_use_id="toolu_1"),
                 text_message("Order A-1001 has shipped."))
    instrumentor = INSTRUMENTORS[instrumentation]()
    instrumentor.instrument(tracer_provider=provider)
    try:
        agent.CLIENT = anthropic.Anthropic(api_key="sk-ant-test-not-a-key", base_url=base_url)
        agent.TRACER = provider.get_tracer("support_agent")
        return str(agent.answer("Where is my order A-1001?"))
    finally:
        instrumentor.uninstrument()


def only_trace(store_path: Path) -> tuple[str, list[SpanRecord]]:
    with Store(store_path) as store:
        (trace_id,) = [row[0] for row in store.conn.execute("SELECT id FROM traces")]
        return trace_id, store.get_spans(trace_id)


@pytest.mark.parametrize("instrumentation", ["openinference", "opentelemetry"])
def test_instrumented_agent_through_an_otlp_file_imports_analyzes_and_becomes_a_case(
        project: Path, messages_api: MessagesAPIServer, capsys: pytest.CaptureFixture[str],
        instrumentation: str) -> None:
    export = project / "traces.jsonl"
    with otlp_file(export) as provider:
        assert run_agent(provider, instrumentation, messages_api.base_url, messages_api) == "Order A-1001 has shipped."
    assert main(["import", str(export), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["traces"], summary["spans"], summary["orphans"]) == (1, 4, 0)
    assert summary["formats"] == {str(export): "otlp-json"}
    trace_id, stored = only_trace(project / ".flywheel" / "flywheel.db")
    spans = {span.name: span for span in stored}
    root, tool = spans["answer"], spans["lookup_order"]
    assert (root.type, root.location, root.input, root.project) == (
        "general", "support_agent:answer", {"question": "Where is my order A-1001?"}, "support-agent")
    assert (tool.type, tool.input, tool.output, tool.parent_id) == (
        "tool", {"order_id": "A-1001"}, {"order_id": "A-1001", "status": "shipped"}, root.id)
    calls = [span for span in stored if span.type == "llm"]  # (in start order)
    assert [(c.model, c.input_tokens, c.output_tokens) for c in calls] == [
        ("claude-sonnet-5-5", 40, 20), ("claude-sonnet-5-5", 25, calls[1].output_tokens)]
    assert all(c.cost_usd and c.cost_usd > 0 for c in calls)  # priced from the table
    assert calls[0].stop_reason in ("tool_use", "tool_call")
    # the Messages-API view the CLI and the rules read, whichever convention carried it
    assert calls[0].input["messages"][0]["role"] == "user"
    assert any(b.get("type") == "tool_use" and b.get("name") == "lookup_order" for b in calls[0].output["content"])

    assert main(["analyze", trace_id[:10]]) == 0
    assert "lookup_order [tool]" in capsys.readouterr().out

    assert main(["suite", "add", "orders", "--trace", trace_id, "--check", '{"contains": "shipped"}']) == 0
    said = capsys.readouterr().out
    cassette = yaml.safe_load(next((project / "flywheel" / "cassettes" / "orders").glob("*.yaml")).read_text())
    assert cassette["tool_interactions"] == [{"tool": "lookup_order", "arguments": {"order_id": "A-1001"},
                                              "result": {"order_id": "A-1001", "status": "shipped"}}]
    suite = yaml.safe_load((project / "flywheel" / "suites" / "orders.yaml").read_text())
    assert suite["target"] == "support_agent:answer"
    if instrumentation == "openinference":
        # OpenInference records the whole request and response: the cassette answers both calls
        assert [i["request"]["uri"] for i in cassette["interactions"]] == ["https://api.anthropic.com/v1/messages"] * 2
        assert json.loads(cassette["interactions"][1]["request"]["body"])["stream"] is True
        assert "sk-ant-test" not in json.dumps(cassette)
        assert "Note:" not in said
    else:
        # GenAI attributes hold the messages, not the request: no HTTP interaction, and the command says so
        assert cassette["interactions"] == []
        assert "Note: 2 LLM calls" in said and "--flywheel-record=new_episodes" in said


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_instrumented_agent_exports_to_flywheel_collect(project: Path, messages_api: MessagesAPIServer,
                                                       encoding: str) -> None:
    if encoding == "protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter  # type: ignore[no-redef]
    store_path = project / ".flywheel" / "flywheel.db"
    receiver = OTLPReceiver(store_path, port=0).start()
    try:
        with provider_to(OTLPSpanExporter(endpoint=receiver.url)) as provider:
            run_agent(provider, "openinference", messages_api.base_url, messages_api)
    finally:
        summary = receiver.stop()
    assert (summary.traces_new, summary.spans_new, summary.orphans) == (1, 4, 0)
    assert receiver.stats.requests == 4 and receiver.stats.rejected_bad == 0
    _, stored = only_trace(store_path)
    spans = {span.name: span for span in stored}
    assert spans["lookup_order"].output == {"order_id": "A-1001", "status": "shipped"}
    assert {s.metadata["imported"]["format"] for s in spans.values()} == {"otlp-http"}
