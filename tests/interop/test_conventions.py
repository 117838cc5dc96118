"""The mapping of both GenAI generations, OpenInference's flattened messages and Opik's export files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.interop import MapOptions, import_paths
from pytest_flywheel.store import SpanRecord, Store

from .otel import write_spans


def _one_llm_span(tmp_path: Path, build: Any) -> SpanRecord:
    source = write_spans(tmp_path / "spans.jsonl", build)
    store = tmp_path / "f.db"
    result = import_paths([str(source)], store_path=store, options=MapOptions())
    assert not result.failed
    with Store(store) as opened:
        (trace_id,) = [row[0] for row in opened.conn.execute("SELECT id FROM traces")]
        (span,) = [s for s in opened.get_spans(trace_id) if s.type == "llm"]
    return span


def test_older_generation_indexed_prompt_and_completion_attributes(tmp_path: Path) -> None:
    def build(tracer: Any) -> None:
        with tracer.start_as_current_span("anthropic.chat", attributes={
            "gen_ai.system": "anthropic", "llm.request.type": "chat", "gen_ai.request.model": "claude-haiku-4-5",
            "gen_ai.response.model": "claude-haiku-4-5-20251001",
            "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "Be brief.",
            "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "Refund order A-7?",
            "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "Checking.",
            "gen_ai.completion.0.finish_reason": "tool_use",
            "gen_ai.completion.0.tool_calls.0.id": "toolu_9", "gen_ai.completion.0.tool_calls.0.name": "refund",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"order": "A-7"}',
            "gen_ai.usage.prompt_tokens": 50, "gen_ai.usage.completion_tokens": 9,
        }):
            pass

    span = _one_llm_span(tmp_path, build)
    assert span.model == "claude-haiku-4-5-20251001"
    assert (span.input_tokens, span.output_tokens, span.stop_reason) == (50, 9, "tool_use")
    assert span.input["system"] == "Be brief."
    assert span.input["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Refund order A-7?"}]}]
    assert span.output["content"] == [{"type": "text", "text": "Checking."},
                                      {"type": "tool_use", "id": "toolu_9", "name": "refund", "input": {"order": "A-7"}}]
    assert span.cost_usd == pytest.approx((50 * 1.0 + 9 * 5.0) / 1e6)
    assert "gen_ai.prompt.0.content" not in span.metadata["otel"].get("attributes", {})  # consumed, not duplicated


def test_older_generation_message_events(tmp_path: Path) -> None:
    def build(tracer: Any) -> None:
        with tracer.start_as_current_span("chat", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4-5"}) as span:
            span.add_event("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(
                [{"role": "user", "content": "What is the return window?"}])})
            span.add_event("gen_ai.content.completion", {"gen_ai.completion": json.dumps(
                [{"role": "assistant", "content": "30 days."}])})

    span = _one_llm_span(tmp_path, build)
    assert span.input["messages"][0]["content"][0]["text"] == "What is the return window?"
    assert span.output["content"] == [{"type": "text", "text": "30 days."}]


def test_current_generation_on_an_operation_details_event(tmp_path: Path) -> None:
    def build(tracer: Any) -> None:
        with tracer.start_as_current_span("chat claude-opus-5", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-opus-5", "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.cache_creation.input_tokens": 600, "gen_ai.usage.output_tokens": 10}) as span:
            span.add_event("gen_ai.client.inference.operation.details", {
                "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You are terse."}]),
                "gen_ai.input.messages": json.dumps([
                    {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
                    {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "weather",
                                                     "arguments": {"city": "Oslo"}}]},
                    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "rain"}]}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop",
                                                      "parts": [{"type": "text", "content": "Rain."}]}]),
            })

    span = _one_llm_span(tmp_path, build)
    assert span.input["system"] == "You are terse."
    assert span.input["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "c1", "content": "rain"}]}
    assert (span.input_tokens, span.cache_creation_tokens, span.stop_reason) == (400, 600, "stop")


def test_openinference_flattened_messages_without_a_whole_request(tmp_path: Path) -> None:
    def build(tracer: Any) -> None:
        with tracer.start_as_current_span("ChatOpenAI", attributes={
                "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.contents.0.message_content.type": "text",
                "llm.input_messages.0.message.contents.0.message_content.text": "Hi",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.tool_calls.0.tool_call.id": "t1",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "greet",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{}",
                "llm.token_count.prompt": 12, "llm.token_count.completion": 3, "llm.cost.total": 0.5}):
            pass

    span = _one_llm_span(tmp_path, build)
    assert span.input["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert span.output["content"] == [{"type": "tool_use", "id": "t1", "name": "greet", "input": {}}]
    assert (span.input_tokens, span.output_tokens, span.cost_usd) == (12, 3, 0.5)  # the given cost wins
    assert "anthropic" not in span.metadata  # not a whole Anthropic exchange: no cassette from it


def _opik_file(folder: Path) -> Path:
    """A trace file laid out as ``opik export`` writes it (json.dump(..., indent=2, default=str))."""
    start = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)
    later = datetime(2026, 3, 1, 9, 30, 2, tzinfo=UTC)
    data = {
        "trace": {"id": "0195a1b2-0000-7000-8000-000000000001", "project_id": "p", "name": "answer",
                  "start_time": start, "end_time": later, "input": {"question": "Refund?"},
                  "output": {"output": "No refund."}, "metadata": {"env": "prod"}, "tags": ["support"],
                  "error_info": None, "usage": {"prompt_tokens": 80, "completion_tokens": 5},
                  "feedback_scores": [{"name": "thumbs", "value": 0.0, "reason": "wrong policy", "source": "ui",
                                       "last_updated_at": later}],
                  "total_estimated_cost": 0.01},
        "spans": [
            {"id": "0195a1b2-0000-7000-8000-000000000002", "trace_id": "0195a1b2-0000-7000-8000-000000000001",
             "parent_span_id": None, "name": "anthropic_messages_create", "type": "llm", "start_time": start,
             "end_time": later, "input": {"messages": [{"role": "user", "content": "Refund?"}]},
             "output": {"content": [{"type": "text", "text": "No refund."}]}, "model": "claude-sonnet-4-5",
             "provider": "anthropic", "usage": {"prompt_tokens": 80, "completion_tokens": 5, "total_tokens": 85,
                                                 "original_usage.input_tokens": 30,
                                                 "original_usage.cache_read_input_tokens": 50,
                                                 "original_usage.output_tokens": 5},
             "error_info": None, "total_estimated_cost": None, "feedback_scores": None, "tags": None},
            {"id": "0195a1b2-0000-7000-8000-000000000003", "trace_id": "0195a1b2-0000-7000-8000-000000000001",
             "parent_span_id": None, "name": "policy_lookup", "type": "tool", "start_time": start,
             "end_time": later, "input": {"topic": "refund"}, "output": None, "usage": None,
             "error_info": {"exception_type": "KeyError", "message": "'refund'", "traceback": "Traceback ..."}},
        ],
        "attachments": [],
        "downloaded_at": datetime(2026, 3, 2).isoformat(),
        "project_name": "support",
    }
    path = folder / "ws" / "projects" / "support" / "trace_0195a1b2-0000-7000-8000-000000000001.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def test_opik_export_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _opik_file(tmp_path / "export")
    store = tmp_path / "f.db"
    assert main(["import", str(tmp_path / "export"), "--store", str(store), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["traces"], summary["spans"], summary["feedback"]) == (1, 3, 1)
    with Store(store) as opened:
        trace_id = "0195a1b2-0000-7000-8000-000000000001"
        spans = {span.name: span for span in opened.get_spans(trace_id)}
        feedback = opened.get_feedback(trace_id)
        trace = opened.get_trace(trace_id)
    root, llm, tool = spans["answer"], spans["anthropic_messages_create"], spans["policy_lookup"]
    assert root.parent_id is None and llm.parent_id == root.id and tool.parent_id == root.id
    assert (root.project, root.tags, root.input) == ("support", ["support"], {"question": "Refund?"})
    assert (llm.input_tokens, llm.cache_read_tokens, llm.output_tokens) == (30, 50, 5)
    assert llm.cost_usd == pytest.approx((30 * 3.0 + 50 * 0.30 + 5 * 15.0) / 1e6)
    assert tool.error == {"type": "KeyError", "message": "'refund'", "traceback": "Traceback ..."}
    assert [(f.name, f.value, f.reason) for f in feedback] == [("thumbs", 0.0, "wrong policy")]
    assert trace is not None and trace.span_count == 3 and trace.duration_ms == pytest.approx(1876.544, abs=1)
    assert main(["traces", "list", "--feedback", "thumbs<1", "--store", str(store), "--json"]) == 0
    assert trace_id in capsys.readouterr().out


@pytest.mark.parametrize(
    "usage",
    [
        {"usage": {"input": 120, "output": 7, "total": 127, "unit": "TOKENS"}},  # Langfuse v2's usage object
        {"promptTokens": 120, "completionTokens": 7, "totalTokens": 127},  # its flat fields, older still
    ],
    ids=["usage", "promptTokens"],
)
def test_langfuse_exports_before_usage_details_keep_their_tokens(tmp_path: Path, usage: dict[str, Any]) -> None:
    """Langfuse exports from before ``usageDetails`` came out with 0 tokens (found by a stranger's run)."""
    observation = {"id": "obs-1", "traceId": "t-1", "type": "GENERATION", "name": "claude",
                   "startTime": "2025-03-01T09:30:00Z", "endTime": "2025-03-01T09:30:01Z",
                   "model": "claude-sonnet-4-5", "input": [{"role": "user", "content": "Refund?"}],
                   "output": {"role": "assistant", "content": "No refund."}, **usage}  # fmt: skip
    source = tmp_path / "langfuse.json"
    source.write_text(json.dumps({"trace": {"id": "t-1", "name": "answer", "timestamp": "2025-03-01T09:30:00Z",
                                            "input": {"question": "Refund?"}},
                                  "observations": [observation]}))  # fmt: skip
    store = tmp_path / "f.db"
    assert main(["import", str(source), "--store", str(store)]) == 0
    with Store(store) as opened:
        (span,) = [s for s in opened.get_spans("t-1") if s.type == "llm"]
    assert (span.model, span.input_tokens, span.output_tokens) == ("claude-sonnet-4-5", 120, 7)
    assert span.cost_usd == pytest.approx((120 * 3.0 + 7 * 15.0) / 1e6)


def test_a_langfuse_trace_with_one_generation_keeps_its_own_name_and_input(tmp_path: Path) -> None:
    """A trace whose one observation is a generation came in as that generation alone: the trace's
    name and input were lost and it showed as "llm" (found by a stranger's run)."""
    source = tmp_path / "langfuse.json"
    source.write_text(json.dumps({
        "trace": {"id": "t-2", "name": "answer", "timestamp": "2025-03-01T09:30:00Z", "latency": 1.5,
                  "input": {"question": "Refund?"}, "output": "No refund."},
        "observations": [{"id": "gen-1", "traceId": "t-2", "type": "GENERATION", "name": "claude",
                          "startTime": "2025-03-01T09:30:00.100Z", "endTime": "2025-03-01T09:30:01Z",
                          "model": "claude-sonnet-4-5", "usageDetails": {"input": 10, "output": 3}}],
    }))  # fmt: skip
    store = tmp_path / "f.db"
    assert main(["import", str(source), "--store", str(store)]) == 0
    with Store(store) as opened:
        spans = {span.id: span for span in opened.get_spans("t-2")}
        trace = opened.get_trace("t-2")
    root, llm = spans["t-2"], spans["gen-1"]
    assert (root.parent_id, root.name, root.type, root.input) == (None, "answer", "general", {"question": "Refund?"})
    assert (llm.parent_id, llm.type, llm.input_tokens) == ("t-2", "llm", 10)
    assert trace is not None and trace.span_count == 2
