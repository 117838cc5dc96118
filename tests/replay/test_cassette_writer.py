from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic
import pytest
import vcr
import yaml
from vcr.serialize import deserialize
from vcr.serializers import yamlserializer

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import replay_case, write_case_cassette
from pytest_flywheel.testing import text_message, tool_use_message

from .spans import ask, llm_span, tool_span

EMAIL = r"[\w.+-]+@[\w-]+\.[\w.]+"


def _message_fields(message: Any) -> dict[str, Any]:
    dumped = message.model_dump(exclude_none=True)
    return {key: dumped[key] for key in ("id", "model", "role", "content", "stop_reason", "usage")}


def _expected(message: dict[str, Any]) -> dict[str, Any]:
    return {key: message[key] for key in ("id", "model", "role", "content", "stop_reason", "usage")}


def test_the_cassette_is_vcrpy_format_with_tool_interactions_beside_the_http_ones(tmp_path: Path) -> None:
    reply = text_message("Your order W1 ships Monday.")
    spans = [
        tool_span("lookup_order", {"order_id": "W1"}, {"status": "packed"}),
        tool_span(
            "refund",
            {"order_id": "W1"},
            error={"type": "shop.RefundDenied", "message": "too late", "traceback": "T"},
        ),
        llm_span(ask("Where is W1?"), reply),
    ]
    path = write_case_cassette(spans, tmp_path / "deep" / "case.yaml", redactor=Redactor())
    text = path.read_text()

    requests, responses = deserialize(text, yamlserializer)  # vcrpy's own loader
    assert [(r.method, r.uri) for r in requests] == [("POST", "https://api.anthropic.com/v1/messages")]
    assert (
        requests[0].body
        == b'{"model":"claude-sonnet-5-5","max_tokens":256,"messages":[{"role":"user","content":"Where is W1?"}]}'
    )
    assert responses[0]["status"] == {"code": 200, "message": "OK"}
    assert responses[0]["headers"] == {"content-type": ["application/json"]}

    data = yaml.safe_load(text)
    assert list(data) == ["version", "interactions", "tool_interactions"]
    assert data["version"] == 1
    assert data["tool_interactions"] == [
        {"tool": "lookup_order", "arguments": {"order_id": "W1"}, "result": {"status": "packed"}},
        {
            "tool": "refund",
            "arguments": {"order_id": "W1"},
            "error": {"type": "shop.RefundDenied", "message": "too late"},
        },
    ]
    assert not [p for p in path.parent.iterdir() if p.name != "case.yaml"]  # no temporary file left
    assert path.stat().st_mode & 0o777 == 0o644


def test_plain_vcrpy_replays_a_case_cassette_and_ignores_the_tool_interactions(tmp_path: Path) -> None:
    reply = text_message("Hi from the cassette")
    path = write_case_cassette(
        [llm_span(ask("hello"), reply), tool_span("lookup", {"q": 1}, 2)],
        tmp_path / "c.yaml",
        redactor=Redactor(),
    )
    with vcr.VCR(record_mode="none", match_on=("method", "path")).use_cassette(str(path)):
        client = anthropic.Anthropic(api_key="test-key", base_url="https://api.anthropic.com", max_retries=0)
        message = client.messages.create(**ask("hello"))
    assert _message_fields(message) == _expected(reply)


def _sync_create(kwargs: dict[str, Any]) -> Any:
    return anthropic.Anthropic(api_key="test-key", max_retries=0).messages.create(**kwargs)


def _sync_create_stream(kwargs: dict[str, Any]) -> Any:
    client = anthropic.Anthropic(api_key="test-key", max_retries=0)
    with client.messages.stream(**kwargs) as stream:
        return stream.get_final_message()


def _sync_raw_stream(kwargs: dict[str, Any]) -> Any:
    client = anthropic.Anthropic(api_key="test-key", max_retries=0)
    events = list(client.messages.create(**kwargs, stream=True))
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    # Reassemble the raw events by hand: start message, blocks, their deltas, the final delta.
    message = events[0].message.model_copy(deep=True)
    partial: dict[int, str] = {}
    for event in events[1:]:
        if event.type == "content_block_start":
            message.content.append(event.content_block.model_copy(deep=True))
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            message.content[event.index].text += event.delta.text
        elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            partial[event.index] = partial.get(event.index, "") + event.delta.partial_json
        elif event.type == "message_delta":
            message.stop_reason = event.delta.stop_reason
            message.usage.output_tokens = event.usage.output_tokens
    for index, text in partial.items():
        message.content[index].input = json.loads(text)
    return message


def _async_create(kwargs: dict[str, Any]) -> Any:
    async def run() -> Any:
        async with anthropic.AsyncAnthropic(api_key="test-key", max_retries=0) as client:
            return await client.messages.create(**kwargs)

    return asyncio.run(run())


def _async_stream(kwargs: dict[str, Any]) -> Any:
    async def run() -> Any:
        async with anthropic.AsyncAnthropic(api_key="test-key", max_retries=0) as client:
            async with client.messages.stream(**kwargs) as stream:
                return await stream.get_final_message()

    return asyncio.run(run())


CALLS = {
    "create": (_sync_create, "messages.create", False),
    "stream-helper": (_sync_create_stream, "messages.stream", True),
    "create-stream-true": (_sync_raw_stream, "messages.create", True),
    "async-create": (_async_create, "messages.create", False),
    "async-stream-helper": (_async_stream, "messages.stream", True),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize(
    "reply",
    [
        text_message("A fairly long answer, so that the stream is cut into several text deltas. Ünïcode ✓."),
        tool_use_message(
            "lookup_order", {"order_id": "W123", "fields": ["status", "eta"]}, text="Let me check."
        ),
        {
            **text_message("After thinking: yes."),
            "content": [
                {"type": "thinking", "thinking": "The order shipped Monday.", "signature": "c2lnbmF0dXJl"},
                {"type": "text", "text": "After thinking: yes."},
            ],
        },
    ],
    ids=["text", "tool-use", "thinking"],
)
def test_the_sdk_gets_the_recorded_message_back(tmp_path: Path, call: str, reply: dict[str, Any]) -> None:
    run, endpoint, stream = CALLS[call]
    kwargs = ask("Where is my order W123?", system="Be brief.", stop_sequences=["END"])
    recorded_kwargs = {**kwargs, "stream": True} if call == "create-stream-true" else kwargs
    span = llm_span(
        recorded_kwargs, reply, endpoint=endpoint, stream=stream, base_url="http://127.0.0.1:4010"
    )
    path = write_case_cassette([span], tmp_path / "case.yaml", redactor=Redactor())
    with replay_case(path) as session:  # ANTHROPIC_BASE_URL points at a closed port (conftest)
        message = run(kwargs)
    session.raise_for_miss()
    assert session.http_played == 1
    assert _message_fields(message) == _expected(reply)


def test_an_api_error_replays_as_the_same_error_at_once(tmp_path: Path) -> None:
    error = {
        "type": "anthropic.RateLimitError",
        "message": "Error code: 429 - rate limited",
        "traceback": "...",
    }
    path = write_case_cassette(
        [llm_span(ask("hi"), None, error=error)], tmp_path / "c.yaml", redactor=Redactor()
    )
    with replay_case(path) as session:
        client = anthropic.Anthropic(api_key="test-key", max_retries=3)
        with pytest.raises(anthropic.RateLimitError, match="rate limited"):
            client.messages.create(**ask("hi"))
    session.raise_for_miss()
    assert session.http_played == 1  # not retried (x-should-retry: false), so no miss either


def test_secrets_and_project_patterns_never_reach_the_file_yet_the_case_still_replays(tmp_path: Path) -> None:
    kwargs = ask("I am bob@example.com, my key is sk-ant\x2dapi03-LEAKED_key-123")
    reply = text_message("Hello bob@example.com")
    redactor = Redactor([EMAIL])
    spans = [
        llm_span(kwargs, reply),
        tool_span("crm", {"email": "bob@example.com"}, {"token": "x", "owner": "bob@example.com"}),
    ]
    path = write_case_cassette(spans, tmp_path / "c.yaml", redactor=redactor)
    text = path.read_text()
    assert "bob@example.com" not in text and "sk-ant-api03" not in text and "LEAKED" not in text
    assert "[REDACTED]" in text
    # The agent sends the real values again; the session redacts the live request the same way.
    with replay_case(path, redactor=redactor) as session:
        message = _sync_create(kwargs)
    session.raise_for_miss()
    assert message.content[0].text == "Hello [REDACTED]"


def test_spans_nested_in_a_tool_are_left_out_and_calls_keep_their_order(tmp_path: Path) -> None:
    outer = tool_span("research", {"topic": "refunds"}, "summary", span_id="outer")
    inner_llm = llm_span(ask("summarise refunds"), text_message("inner"), parent_id="outer")
    inner_tool = tool_span("search", {"q": "refunds"}, ["doc"], parent_id="outer")
    first, second = llm_span(ask("one"), text_message("1")), llm_span(ask("two"), text_message("2"))
    path = write_case_cassette(
        [second, inner_tool, outer, inner_llm, first], tmp_path / "c.yaml", redactor=Redactor()
    )
    data = yaml.safe_load(path.read_text())
    bodies = [interaction["request"]["body"] for interaction in data["interactions"]]
    assert ['"one"' in body for body in bodies] == [True, False]
    assert len(bodies) == 2
    assert [item["tool"] for item in data["tool_interactions"]] == ["research"]


def test_client_options_stay_out_of_the_body_and_extra_body_goes_in(tmp_path: Path) -> None:
    kwargs = {
        **ask("hi"),
        "timeout": 30,
        "extra_headers": {"x-api-key": "sk-ant-zzz"},
        "extra_body": {"top_k": 3},
    }
    path = write_case_cassette(
        [llm_span(kwargs, text_message("ok"))], tmp_path / "c.yaml", redactor=Redactor()
    )
    with replay_case(path) as session:
        client = anthropic.Anthropic(api_key="test-key", max_retries=0)
        client.messages.create(**ask("hi"), timeout=30, extra_body={"top_k": 3})
    session.raise_for_miss()
    assert "sk-ant" not in path.read_text()


def test_a_broken_cassette_is_an_error_naming_the_file(tmp_path: Path) -> None:
    from pytest_flywheel.replay.cassette_file import CassetteFormatError

    path = tmp_path / "broken.yaml"
    path.write_text("interactions: [unclosed\n")
    with pytest.raises(
        CassetteFormatError,
        match=r"broken\.yaml:2: not valid YAML: did not find expected ',' or '\]' \(while parsing a flow sequence\); "
        r"fix it, or record the cassette again",
    ):
        with replay_case(path):
            pass
    path.write_text("version: 1\ninteractions: []\ntool_interactions:\n- tool: x\n  arguments: {}\n")
    with pytest.raises(
        CassetteFormatError, match=r"tool_interactions\[0\]: expected exactly one of 'result' or 'error'"
    ):
        with replay_case(path):
            pass


def test_a_span_tracing_had_to_cut_short_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    from pytest_flywheel.replay.errors import CassetteWriteError

    cut = {"__flywheel_truncated__": {"bytes": 90000, "limit": 65536}, "preview": '{"model":'}
    span = llm_span(ask("hi"), text_message("ok"))
    span.input = cut
    span.metadata["anthropic"]["stream"] = False
    path = tmp_path / "c.yaml"
    with pytest.raises(CassetteWriteError) as raised:
        write_case_cassette([llm_span(ask("fine"), text_message("ok")), span], path, redactor=Redactor())
    assert str(raised.value) == (
        f"Span 'anthropic.messages' ({span.id}) of trace trace1 cannot be replayed from a cassette: its request "
        "was cut short when it was traced (90000 bytes, over the 65536-byte limit); raise [tool.flywheel] "
        "max_payload_bytes (or FLYWHEEL_MAX_PAYLOAD) and trace the call again."
    )
    assert not path.exists()


def test_a_tool_result_that_was_not_json_is_refused_but_an_object_argument_is_fine(tmp_path: Path) -> None:
    from pytest_flywheel.replay.errors import CassetteWriteError

    result = {"rows": [{"__flywheel_repr__": "<Row object at 0x7f00aa>"}]}
    with pytest.raises(CassetteWriteError, match=r"its result held something JSON cannot hold, recorded as"):
        write_case_cassette([tool_span("query", {"sql": "select 1"}, result)], tmp_path / "c.yaml")
    conn = {"__flywheel_repr__": "<Connection object at 0x7f0011223344>"}
    path = write_case_cassette(
        [tool_span("query", {"conn": conn, "sql": "select 1"}, [1])], tmp_path / "c.yaml"
    )
    from pytest_flywheel.tracing.hooks import active_tool_interceptor

    with replay_case(path) as session:
        interceptor = active_tool_interceptor.get()
        assert interceptor is not None
        live = {"conn": {"__flywheel_repr__": "<Connection object at 0x7fffeeee0000>"}, "sql": "select 1"}
        assert interceptor.intercept(tool="query", arguments=live, call=lambda: None) == [1]
    session.raise_for_miss()
