"""track_anthropic through the real Anthropic SDK against the loopback Messages API (JSON and SSE)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import pytest

from pytest_flywheel.store import SpanRecord
from pytest_flywheel.testing import ErrorReply, MessagesAPIServer, text_message, tool_use_message
from pytest_flywheel.tracing import reset_for_tests, track, track_anthropic
from pytest_flywheel.tracing.anthropic_client import AsyncTracedMessages, TracedMessages
from tests.tracing.conftest import ReadSpans

MODEL = "claude-sonnet-5-5"
MESSAGES = [{"role": "user", "content": "Where is order A-1?"}]
# list prices of claude-sonnet-5-5, USD per million tokens
INPUT, OUTPUT, CACHE_READ, CACHE_WRITE = 2.0, 10.0, 0.10, 2.50


def client_for(server: MessagesAPIServer, **options: Any) -> anthropic.Anthropic:
    return track_anthropic(anthropic.Anthropic(api_key="test-key", base_url=server.base_url, max_retries=0,
                                               **options))


def async_client_for(server: MessagesAPIServer) -> anthropic.AsyncAnthropic:
    return track_anthropic(anthropic.AsyncAnthropic(api_key="test-key", base_url=server.base_url, max_retries=0))


def with_cache_usage(message: dict[str, Any]) -> dict[str, Any]:
    message["usage"].update(cache_read_input_tokens=1_000, cache_creation_input_tokens=400)
    return message


def expected_cost(input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> float:
    return (input_tokens * INPUT + output_tokens * OUTPUT + cache_read * CACHE_READ
            + cache_write * CACHE_WRITE) / 1_000_000


def assert_llm_span(span: SpanRecord, *, endpoint: str, stream: bool, server: MessagesAPIServer) -> None:
    assert span.type == "llm"
    assert span.name == f"anthropic.{endpoint}"
    assert span.metadata["anthropic"]["endpoint"] == endpoint
    assert span.metadata["anthropic"]["stream"] is stream
    assert span.metadata["anthropic"]["base_url"].rstrip("/") == server.base_url


def test_create_records_request_response_tokens_and_cost(messages_api: MessagesAPIServer,
                                                         read_spans: ReadSpans) -> None:
    reply = with_cache_usage(text_message("It shipped yesterday.", input_tokens=30, output_tokens=8))
    messages_api.queue(reply)
    client = client_for(messages_api)

    @track(entrypoint=True)
    def support(question: str) -> str:
        message = client.messages.create(model=MODEL, max_tokens=200, system="Be brief.",
                                         messages=[{"role": "user", "content": question}])
        return message.content[0].text  # type: ignore[union-attr]

    assert support("Where is order A-1?") == "It shipped yesterday."
    root, llm = read_spans()
    assert llm.parent_id == root.id
    assert_llm_span(llm, endpoint="messages.create", stream=False, server=messages_api)
    assert llm.input == {"model": MODEL, "max_tokens": 200, "system": "Be brief.",
                         "messages": [{"role": "user", "content": "Where is order A-1?"}]}
    assert llm.input == messages_api.message_requests[0].body  # exactly what went on the wire
    assert llm.output["id"] == reply["id"]
    assert llm.output["content"] == [{"type": "text", "text": "It shipped yesterday.", "citations": None}]
    assert (llm.model, llm.stop_reason) == (MODEL, "end_turn")
    assert (llm.input_tokens, llm.output_tokens, llm.cache_read_tokens, llm.cache_creation_tokens) == (
        30, 8, 1_000, 400)
    assert llm.cost_usd == pytest.approx(expected_cost(30, 8, 1_000, 400))


def test_create_with_stream_yields_the_same_events_and_reassembles_the_message(
    messages_api: MessagesAPIServer, read_spans: ReadSpans
) -> None:
    reply = tool_use_message("lookup_order", {"order_id": "A-1", "fields": ["status", "eta"]},
                             text="Let me check that order for you.")
    messages_api.queue(reply, reply, reply)
    plain = anthropic.Anthropic(api_key="test-key", base_url=messages_api.base_url, max_retries=0)
    untraced_events = [event.to_dict() for event in plain.messages.create(
        model=MODEL, max_tokens=100, messages=MESSAGES, stream=True)]

    client = client_for(messages_api)
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True)
    traced_events = [event.to_dict() for event in stream]
    assert traced_events == untraced_events
    unstreamed = client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)

    streamed_span, plain_span = read_spans()
    assert_llm_span(streamed_span, endpoint="messages.create", stream=True, server=messages_api)
    assert streamed_span.input["stream"] is True
    assert streamed_span.output == plain_span.output == unstreamed.model_dump(mode="json")
    assert streamed_span.output["content"][1]["input"] == {"order_id": "A-1", "fields": ["status", "eta"]}
    assert streamed_span.stop_reason == "tool_use"
    assert streamed_span.metadata["anthropic"]["complete"] is True
    assert (streamed_span.input_tokens, streamed_span.output_tokens) == (40, 20)


def test_a_stream_closed_early_ends_the_span_with_what_arrived(messages_api: MessagesAPIServer,
                                                               read_spans: ReadSpans) -> None:
    messages_api.queue(text_message("A long answer that the caller stops reading. " * 5))
    client = client_for(messages_api)
    with client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True) as stream:
        for index, _event in enumerate(stream):
            if index == 3:
                break
    (span,) = read_spans()
    assert span.metadata["anthropic"]["complete"] is False
    assert span.output["content"][0]["text"].startswith("A long answer")
    assert span.error is None


def test_messages_stream_helper_records_the_final_message(messages_api: MessagesAPIServer,
                                                          read_spans: ReadSpans) -> None:
    messages_api.queue(with_cache_usage(text_message("Streaming hello.", input_tokens=11, output_tokens=4)))
    client = client_for(messages_api)
    with client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Streaming hello."

    (span,) = read_spans()
    assert_llm_span(span, endpoint="messages.stream", stream=True, server=messages_api)
    assert span.input == {"model": MODEL, "max_tokens": 50, "messages": MESSAGES}
    assert span.output == final.model_dump(mode="json")
    assert span.output["content"][0]["text"] == "Streaming hello."
    assert (span.input_tokens, span.output_tokens, span.cache_read_tokens, span.cache_creation_tokens) == (
        11, 4, 1_000, 400)
    assert span.cost_usd == pytest.approx(expected_cost(11, 4, 1_000, 400))


def test_async_client_create_stream_and_helper(messages_api: MessagesAPIServer, read_spans: ReadSpans) -> None:
    messages_api.queue(text_message("one"), text_message("two"), text_message("three"))
    client = async_client_for(messages_api)

    @track(entrypoint=True)
    async def run() -> list[str]:
        first = await client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
        chunks = []
        stream = await client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True)
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                chunks.append(event.delta.text)
        async with client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as helper:
            third = await helper.get_final_text()
        return [first.content[0].text, "".join(chunks), third]  # type: ignore[union-attr]

    assert asyncio.run(run()) == ["one", "two", "three"]
    root, *calls = read_spans()
    assert [call.parent_id for call in calls] == [root.id] * 3
    assert [call.metadata["anthropic"]["endpoint"] for call in calls] == [
        "messages.create", "messages.create", "messages.stream"]
    assert [call.metadata["anthropic"]["stream"] for call in calls] == [False, True, True]
    assert [call.output["content"][0]["text"] for call in calls] == ["one", "two", "three"]
    assert all(call.cost_usd == pytest.approx(expected_cost(25, 12)) for call in calls)


def test_trace_totals_add_up_the_llm_calls(messages_api: MessagesAPIServer, read_spans: ReadSpans,
                                           read_traces: Any) -> None:
    messages_api.queue(text_message("a", input_tokens=100, output_tokens=10),
                       text_message("b", input_tokens=200, output_tokens=20))
    client = client_for(messages_api)

    @track(entrypoint=True)
    def two_calls() -> None:
        for _ in range(2):
            client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)

    two_calls()
    read_spans()
    (trace,) = read_traces()
    assert (trace.span_count, trace.input_tokens, trace.output_tokens) == (3, 300, 30)
    assert trace.cost_usd == pytest.approx(expected_cost(300, 30))


def test_api_errors_are_recorded_and_raised_unchanged(messages_api: MessagesAPIServer,
                                                      read_spans: ReadSpans) -> None:
    messages_api.queue(ErrorReply(400, "invalid_request_error", "max_tokens: must be positive"))
    client = client_for(messages_api)
    with pytest.raises(anthropic.BadRequestError, match="must be positive"):
        client.messages.create(model=MODEL, max_tokens=0, messages=MESSAGES)
    (span,) = read_spans()
    assert span.error is not None
    assert span.error["type"].endswith("BadRequestError")
    assert span.output is None and span.input["max_tokens"] == 0


def test_no_key_and_no_header_value_reaches_the_store(messages_api: MessagesAPIServer, store_path: Path,
                                                      read_spans: ReadSpans) -> None:
    secrets = ["sk-ant\x2dapi03-SECRETKEY1234567890", "hdr-default-secret-456", "hdr-extra-secret-789"]
    messages_api.queue(text_message("ok"), text_message("ok"), text_message("ok"))
    client = track_anthropic(anthropic.Anthropic(
        api_key=secrets[0], base_url=messages_api.base_url, max_retries=0,
        default_headers={"x-custom-auth": secrets[1]},
    ))
    client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES,
                           extra_headers={"x-extra-auth": secrets[2]})
    for _ in client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True,
                                    extra_headers={"x-extra-auth": secrets[2]}):
        pass
    with client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES,
                                extra_headers={"x-extra-auth": secrets[2]}) as stream:
        stream.until_done()
    assert messages_api.message_requests[0].headers["x-extra-auth"] == secrets[2]  # it was really sent

    spans = read_spans()
    assert len(spans) == 3
    assert spans[0].input["extra_headers"] == {"x-extra-auth": "[redacted]"}
    reset_for_tests()  # close the writer's connection: everything is in the files now
    stored = b"".join(path.read_bytes() for path in store_path.parent.glob(store_path.name + "*"))
    for secret in secrets:
        assert secret.encode() not in stored


def test_not_given_arguments_are_left_out_and_models_dumped(messages_api: MessagesAPIServer,
                                                            read_spans: ReadSpans) -> None:
    messages_api.queue(tool_use_message("lookup", {"id": 1}), text_message("done"))
    client = client_for(messages_api)
    first = client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, tools=anthropic.NOT_GIVEN)
    history = [*MESSAGES, {"role": "assistant", "content": first.content},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": first.content[0].id,  # type: ignore[union-attr]
                                             "content": "shipped"}]}]
    client.messages.create(model=MODEL, max_tokens=10, messages=history)  # type: ignore[arg-type]
    one, two = read_spans()
    assert "tools" not in one.input
    assert two.input["messages"] == messages_api.message_requests[1].body["messages"]


def test_unknown_models_have_no_cost(messages_api: MessagesAPIServer, read_spans: ReadSpans) -> None:
    messages_api.queue(text_message("hi", model="claude-experimental-9"))
    client_for(messages_api).messages.create(model="claude-experimental-9", max_tokens=5, messages=MESSAGES)
    (span,) = read_spans()
    assert span.model == "claude-experimental-9"
    assert span.input_tokens == 25 and span.cost_usd is None


def test_prices_from_pyproject_override_the_table(messages_api: MessagesAPIServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, read_spans: ReadSpans) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flywheel.prices."claude-sonnet-5-5"]\ninput = 1000.0\noutput = 0.0\n'
    )
    monkeypatch.chdir(tmp_path)
    reset_for_tests()
    messages_api.queue(text_message("hi", model="claude-sonnet-5-5-20261001", input_tokens=1_000))
    client_for(messages_api).messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    (span,) = read_spans()
    assert span.cost_usd == pytest.approx(1.0)  # 1,000 tokens at $1,000 per million, dated id by prefix


def test_wrapping_is_per_client_and_idempotent(messages_api: MessagesAPIServer) -> None:
    client = client_for(messages_api)
    proxy = client.messages
    assert isinstance(proxy, TracedMessages)
    assert track_anthropic(client).messages is proxy
    assert not isinstance(anthropic.Anthropic(api_key="k", base_url=messages_api.base_url).messages,
                          TracedMessages)
    assert isinstance(async_client_for(messages_api).messages, AsyncTracedMessages)
    assert client.messages.with_raw_response is not None  # everything else passes through


def test_track_anthropic_rejects_what_is_not_a_client() -> None:
    from pytest_flywheel.tracing import TrackUsageError

    with pytest.raises(TrackUsageError, match=r"expects an anthropic\.Anthropic"):
        track_anthropic(object())


def test_stream_helper_api_errors_are_recorded_and_raised(messages_api: MessagesAPIServer,
                                                          read_spans: ReadSpans) -> None:
    messages_api.queue(ErrorReply(529, "overloaded_error", "Overloaded"))
    client = client_for(messages_api)
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        with client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:
            stream.until_done()
    (span,) = read_spans()
    assert span.metadata["anthropic"]["endpoint"] == "messages.stream"
    assert span.error is not None and "Overloaded" in span.error["message"]
    assert span.output is None


def test_a_stream_dropped_unread_still_ends_its_span(messages_api: MessagesAPIServer,
                                                     read_spans: ReadSpans) -> None:
    messages_api.queue(text_message("never read"))
    client = client_for(messages_api)
    stream = client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True)
    del stream  # CPython frees it here; the span ends with nothing received
    (span,) = read_spans()
    assert span.metadata["anthropic"]["complete"] is False
    assert span.output is None and span.error is None


def test_clients_made_from_a_traced_client_are_traced(messages_api: MessagesAPIServer,
                                                      read_spans: ReadSpans) -> None:
    messages_api.queue(text_message("a"), text_message("b"))
    client = track_anthropic(anthropic.Anthropic(api_key="test-key", base_url=messages_api.base_url,
                                                 max_retries=0), project_name="billing")
    client.with_options(timeout=5.0).messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    client.copy(max_retries=1).messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    spans = read_spans()
    assert [span.output["content"][0]["text"] for span in spans] == ["a", "b"]
    assert {span.project for span in spans} == {"billing"}
