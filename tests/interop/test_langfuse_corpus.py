"""The four real Langfuse exports of the shared corpus import, with their counts, models and tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.store import Store

# file, traces, spans, feedback, (an llm span: name, model, input tokens, output tokens)
CASES = [
    ("langfuse-google-adk-2025-08-28.json", 1, 5, 2, ("bded677884f031ce", "gemini-2.0-flash", 39, 6)),
    ("langfuse-microsoft-agent-2025-10-14.json", 1, 4, 2, ("3c2d6f2f26930c50", "gpt-4o", 631, 35)),
    ("langfuse-openai-agents-2025-09-30.json", 1, 5, 2, ("90d94774e8e3724d", "gpt-4.1-2025-04-14", 85, 29)),
    ("langfuse-pydantic-ai-tools-2025-12-04.json", 1, 12, 0, ("00d2804abb764b1b", "gpt-4o-mini-2024-07-18", 417, 53)),
]


@pytest.mark.parametrize(("name", "traces", "spans", "feedback", "llm"), CASES, ids=[c[0][9:-16] for c in CASES])
def test_each_langfuse_export_imports(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                      traces: int, spans: int, feedback: int,
                                      llm: tuple[str, str, int, int]) -> None:
    store_path = tmp_path / "flywheel.db"
    source = corpus / "traces" / name
    assert main(["import", str(source), "--store", str(store_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["traces"], summary["spans"], summary["feedback"]) == (traces, spans, feedback)
    assert summary["formats"] == {str(source): "langfuse"} and summary["orphans"] == 0
    span_id, model, input_tokens, output_tokens = llm
    with Store(store_path) as store:
        row = store.conn.execute("SELECT type, model, input_tokens, output_tokens, cost_usd FROM spans WHERE id = ?",
                                 (span_id,)).fetchone()
        assert tuple(row)[:4] == ("llm", model, input_tokens, output_tokens)
        assert row["cost_usd"] and row["cost_usd"] > 0  # Langfuse's own cost, kept
        trace = store.conn.execute("SELECT span_count FROM traces").fetchone()
        assert trace["span_count"] == spans
    # importing it again adds nothing
    assert main(["import", str(source), "--store", str(store_path), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["traces"], again["spans"], again["feedback"], again["already_present"]) == (0, 0, 0, spans)


def test_tool_spans_take_the_tool_name_and_llm_messages_read_as_the_messages_api(
        corpus: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "flywheel.db"
    assert main(["import", str(corpus / "traces" / "langfuse-microsoft-agent-2025-10-14.json"),
                 "--store", str(store_path), "--project", "weather"]) == 0
    with Store(store_path) as store:
        trace_id = store.conn.execute("SELECT id FROM traces").fetchone()[0]
        spans = {span.id: span for span in store.get_spans(trace_id)}
    tool = spans["7f845be8c0da22f3"]
    assert (tool.type, tool.name, tool.input, tool.project) == ("tool", "get_weather", {"location": "Portland"},
                                                                 "weather")
    first_call = spans["c6b8d4db5f0eac82"]
    assert first_call.input["messages"][0]["content"] == [
        {"type": "text", "text": "What's the weather like in Portland?"}]
    assert first_call.output["content"][0]["type"] == "tool_use"
    agent = spans["026d1c61bcaa1743"]
    assert agent.type == "general" and agent.input_tokens is None  # its usage is its calls' sum, not counted twice
    assert agent.metadata["usage"] == {"input_tokens": 631, "output_tokens": 35}
