"""The LLM analyst through the real Anthropic SDK against the loopback Messages API server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from pytest_flywheel.analysis import AnalyzeOptions, analyze
from pytest_flywheel.analysis.analyst import SYSTEM_PROMPT
from pytest_flywheel.store import Store
from pytest_flywheel.testing import MessagesAPIServer
from pytest_flywheel.testing.messages_api import ErrorReply, RecordedRequest, text_message, tool_use_message
from pytest_flywheel.tracing import flush

from . import agents
from .builders import TraceBuilder

CORPUS = ["Refunds are accepted within 30 days of purchase with the original receipt."]


@pytest.fixture(autouse=True)
def agent_setup(messages_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test agent talks to the loopback server and searches a two-document help center."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    with agents.help_center(CORPUS):
        yield


@pytest.fixture
def store() -> Iterator[Store]:
    """The per-test store the tracing SDK writes to (the root conftest points FLYWHEEL_STORE at it)."""
    with Store(os.environ["FLYWHEEL_STORE"]) as store:
        yield store


def _bad_trace(store: Store) -> TraceBuilder:
    b = TraceBuilder(input={"question": "What is the refund window?"})
    b.span("search_docs", "retrieval", input={"query": "refund window"}, output=[])
    b.span(
        "messages.create",
        "llm",
        input={"model": "claude-haiku-5-5", "system": "Answer from the docs."},
        output={"content": [{"type": "text", "text": "You can return items within 90 days."}]},
        stop_reason="end_turn",
    )
    b.finish(store, output="You can return items within 90 days.")
    return b


def _client(server: MessagesAPIServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=server.base_url, max_retries=0)


def _tool_results(request: RecordedRequest) -> list[dict[str, Any]]:
    last = request.body["messages"][-1]
    assert last["role"] == "user"
    return [block for block in last["content"] if block["type"] == "tool_result"]


def test_scripted_conversation_reads_the_tree_then_a_span_then_reports(
    store: Store, messages_api: MessagesAPIServer
) -> None:
    # The agent's trace, written by the real tracing SDK: the search finds nothing, the model makes
    # up an answer. The good run of the same question is there to compare with.
    messages_api.queue(
        text_message("Refunds are accepted within 30 days of purchase with the receipt."),
        text_message("You can return items within 90 days."),
    )
    agents.answer_question("What is the refund window?")
    with agents.help_center([]):
        agents.answer_question("What is the refund window?")
    assert flush(10.0)
    good_id, bad_id = [r["id"] for r in store.conn.execute("SELECT id FROM traces ORDER BY start_time")]
    spans = {s.name: s for s in store.get_spans(bad_id)}
    search_id, llm_id = spans["search_docs"].id, spans["anthropic.messages.create"].id

    with MessagesAPIServer() as analyst_api:
        analyst_api.queue(
            tool_use_message("get_tree", {}, tool_use_id="toolu_tree"),
            tool_use_message("get_span", {"span_id": search_id, "detail": "full"}, tool_use_id="toolu_span"),
            tool_use_message("search_spans", {"text": "90 days"}, tool_use_id="toolu_search"),
            tool_use_message(
                "report_root_cause",
                {
                    "root_cause_span_id": search_id,
                    "explanation": "search_docs returned nothing, so the model invented a 90-day window.",
                    "evidence_span_ids": [search_id, llm_id],
                    "suggested_assertions": [
                        "The answer does not state a refund window the documents do not give."
                    ],
                    "suggested_fix": "Tell the model to say it found nothing when search_docs is empty.",
                },
                tool_use_id="toolu_report",
            ),
        )
        analysis = analyze(
            store,
            bad_id,
            AnalyzeOptions(
                client=_client(analyst_api),
                question="Why did it invent a refund window?",
                model="claude-opus-5-5",
            ),
        )
        requests = analyst_api.message_requests

    assert analysis.analyst.status == "used", analysis.analyst.message
    answer = analysis.analyst.answer
    assert answer is not None
    assert answer.root_cause_span_id == search_id
    assert answer.evidence_span_ids == [search_id, llm_id]
    assert answer.rounds == 4 and answer.input_tokens == 160
    assert analysis.root_cause_span_id == search_id
    assert analysis.suggested_assertions == [
        "The answer does not state a refund window the documents do not give."
    ]

    assert len(requests) == 4
    first = requests[0].body
    assert (
        "temperature" not in first
        and first["model"] == "claude-opus-5-5"
        and first["system"] == SYSTEM_PROMPT
    )
    assert first["max_tokens"] == 2048
    assert [t["name"] for t in first["tools"]] == [
        "get_tree",
        "get_span",
        "search_spans",
        "get_comparison",
        "report_root_cause",
    ]
    opening = first["messages"][0]["content"]
    assert opening.startswith("Question: Why did it invent a refund window?")
    assert f"tool.empty on span {search_id}" in opening  # the rule findings come up front
    assert f"Compared with successful trace {good_id}: first divergence (empty_result)" in opening

    (tree_result,) = _tool_results(requests[1])
    assert tree_result["tool_use_id"] == "toolu_tree" and not tree_result["is_error"]
    assert f"\n  {search_id} retrieval search_docs [ok]" in tree_result["content"]
    assert "empty result" in tree_result["content"]
    assert f"  {llm_id} llm anthropic.messages.create [ok]" in tree_result["content"]

    (span_result,) = _tool_results(requests[2])
    span_view = json.loads(span_result["content"])
    assert span_view["id"] == search_id and span_view["output"] == []
    assert span_view["input"] == {"query": "What is the refund window?"}

    (search_result,) = _tool_results(requests[3])
    hits = json.loads(search_result["content"])
    assert [(h["span_id"], h["field"]) for h in hits] == [
        (analysis.tree.roots[0].id, "output"),
        (llm_id, "output"),
    ]


def test_unknown_span_id_gets_one_correction_then_an_error(
    store: Store, messages_api: MessagesAPIServer
) -> None:
    b = _bad_trace(store)
    broken = {
        "root_cause_span_id": "span-that-does-not-exist",
        "explanation": "x",
        "evidence_span_ids": [],
        "suggested_assertions": [],
        "suggested_fix": "",
    }
    messages_api.queue(
        tool_use_message("report_root_cause", broken), tool_use_message("report_root_cause", broken)
    )

    analysis = analyze(store, b.trace_id, AnalyzeOptions(client=_client(messages_api)))

    assert analysis.analyst.status == "error"
    assert (
        "root_cause_span_id 'span-that-does-not-exist' is not a span of the analysed trace"
        in analysis.analyst.message
    )
    (correction,) = _tool_results(messages_api.message_requests[1])
    assert correction["is_error"] is True and correction["content"].startswith("Invalid report:")
    assert analysis.findings  # the rules still stand
    assert analysis.root_cause_span_id == b.spans[1].id


def test_missing_fields_are_reported_by_name(store: Store, messages_api: MessagesAPIServer) -> None:
    b = _bad_trace(store)
    messages_api.queue(*[tool_use_message("report_root_cause", {"explanation": "no id"})] * 2)
    analysis = analyze(store, b.trace_id, AnalyzeOptions(client=_client(messages_api)))
    assert analysis.analyst.status == "error"
    assert "'root_cause_span_id' is a required property" in analysis.analyst.message


def test_no_final_answer_within_the_round_bound(store: Store, messages_api: MessagesAPIServer) -> None:
    b = _bad_trace(store)
    messages_api.respond_with(lambda request: tool_use_message("get_tree", {}))
    analysis = analyze(store, b.trace_id, AnalyzeOptions(client=_client(messages_api), max_rounds=3))
    assert analysis.analyst.status == "error"
    assert "no final answer within 3 rounds" in analysis.analyst.message
    requests = messages_api.message_requests
    assert len(requests) == 3
    assert requests[0].body["tool_choice"] == {"type": "auto"}
    # The last round forces the answer tool.
    assert requests[2].body["tool_choice"] == {"type": "tool", "name": "report_root_cause"}


def test_text_reply_is_nudged_then_answered(store: Store, messages_api: MessagesAPIServer) -> None:
    b = _bad_trace(store)
    messages_api.queue(
        text_message("Let me think."),
        tool_use_message(
            "report_root_cause",
            {
                "root_cause_span_id": b.spans[1].id,
                "explanation": "empty search",
                "evidence_span_ids": [],
                "suggested_assertions": ["The answer admits no document was found."],
                "suggested_fix": "fix",
            },
        ),
    )
    analysis = analyze(store, b.trace_id, AnalyzeOptions(client=_client(messages_api)))
    assert analysis.analyst.status == "used"
    nudge = messages_api.message_requests[1].body["messages"][-1]
    assert nudge == {
        "role": "user",
        "content": "Continue the analysis with the tools, then call report_root_cause.",
    }


def test_api_error_is_an_analyst_error_not_a_crash(store: Store, messages_api: MessagesAPIServer) -> None:
    b = _bad_trace(store)
    messages_api.queue(ErrorReply(400, "invalid_request_error", "model not found"))
    analysis = analyze(store, b.trace_id, AnalyzeOptions(client=_client(messages_api)))
    assert analysis.analyst.status == "error"
    assert "BadRequestError" in analysis.analyst.message and "model not found" in analysis.analyst.message
    assert "--no-llm" in analysis.analyst.message


def test_token_budget_ends_the_loop(store: Store, messages_api: MessagesAPIServer) -> None:
    from pytest_flywheel.analysis.analyst import AnalystConfig, AnalystError, run_analyst
    from pytest_flywheel.store.tree import SpanTree

    b = _bad_trace(store)
    messages_api.respond_with(
        lambda request: tool_use_message("get_tree", {}, input_tokens=420, output_tokens=20)
    )
    tree = SpanTree.build(store.get_spans(b.trace_id), store.get_trace(b.trace_id))
    with pytest.raises(AnalystError, match=r"used its token budget \(1,000 tokens\) after 3 rounds"):
        run_analyst(
            tree,
            [],
            config=AnalystConfig(model="claude-haiku-5-5", token_budget=1000),
            client=_client(messages_api),
        )
    requests = messages_api.message_requests
    # 440 tokens after one round; 880 (over 80% of 1,000) after two: the third round forces the answer.
    assert [r.body["tool_choice"]["type"] for r in requests] == ["auto", "auto", "tool"]


def test_an_llm_span_summary_shows_what_was_said(store: Store, messages_api: MessagesAPIServer) -> None:
    from pytest_flywheel.analysis.trace_tools import TraceTools
    from pytest_flywheel.store.tree import SpanTree

    messages_api.queue(text_message("Refunds are accepted within 30 days."))
    agents.answer_question("What is the refund window?")
    assert flush(10.0)
    (trace_id,) = [r["id"] for r in store.conn.execute("SELECT id FROM traces")]
    tree = SpanTree.build(store.get_spans(trace_id), store.get_trace(trace_id))
    (llm,) = [n for n in tree.walk() if n.span.type == "llm"]

    text, is_error = TraceTools(tree).call("get_span", {"span_id": llm.id})
    view = json.loads(text)
    assert not is_error
    assert view["input"]["system"] == agents.SYSTEM
    assert view["input"]["last_messages"] == [
        {"role": "user", "text": f"Documents:\n{CORPUS[0]}\n\nQuestion: What is the refund window?"}
    ]
    assert view["output"] == {
        "text": "Refunds are accepted within 30 days.",
        "tool_calls": [],
        "stop_reason": "end_turn",
    }
    assert view["model"] == "claude-sonnet-5-5" and view["input_tokens"] == 25

    full = json.loads(TraceTools(tree).call("get_span", {"span_id": llm.id, "detail": "full"})[0])
    assert full["output"]["content"][0]["text"] == "Refunds are accepted within 30 days."
    assert TraceTools(tree).call("get_span", {"span_id": "nope"}) == (
        "no span with id 'nope' in this trace; use ids from get_tree",
        True,
    )
