"""The loopback Messages API stand-in, checked through the real Anthropic SDK."""

from __future__ import annotations

import asyncio
import json

import anthropic
import pytest

from pytest_flywheel.testing import (
    ErrorReply,
    MessagesAPIServer,
    RecordedRequest,
    message_to_sse,
    text_message,
    tool_use_message,
)


def _client(server: MessagesAPIServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=server.base_url, max_retries=0)


def test_scripted_replies_come_back_in_order_and_requests_are_kept(messages_api: MessagesAPIServer) -> None:
    messages_api.queue(text_message("first"), tool_use_message("lookup_order", {"order_id": "A-17"}))
    client = _client(messages_api)
    one = client.messages.create(
        model="claude-haiku-5-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    two = client.messages.create(
        model="claude-haiku-5-5", max_tokens=64, messages=[{"role": "user", "content": "again"}]
    )

    assert one.content[0].type == "text" and one.content[0].text == "first"
    assert two.stop_reason == "tool_use"
    assert two.content[0].type == "tool_use" and two.content[0].input == {"order_id": "A-17"}
    assert [r.body["messages"][0]["content"] for r in messages_api.message_requests] == ["hi", "again"]


def test_stream_is_reassembled_by_the_sdk_into_the_same_message(messages_api: MessagesAPIServer) -> None:
    reply = tool_use_message(
        "refund", {"order_id": "B-2", "reason": "damaged on arrival"}, text="Let me check."
    )
    messages_api.queue(reply)
    with _client(messages_api).messages.stream(
        model="claude-haiku-5-5", max_tokens=64, messages=[{"role": "user", "content": "refund please"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.model_dump(mode="json", exclude_none=True)["content"] == reply["content"]
    assert final.usage.output_tokens == reply["usage"]["output_tokens"]
    assert messages_api.message_requests[0].body["stream"] is True


def test_sse_framing_is_what_the_api_sends() -> None:
    events = [chunk.decode() for chunk in message_to_sse(text_message("hello"))]
    names = [event.split("\n", 1)[0] for event in events]
    assert names[0] == "event: message_start" and names[-1] == "event: message_stop"
    assert all(event.endswith("\n\n") for event in events)
    start = json.loads(events[0].split("data: ", 1)[1])
    assert start["message"]["content"] == [] and start["message"]["stop_reason"] is None


def test_error_reply_reaches_the_sdk_as_its_status_error(messages_api: MessagesAPIServer) -> None:
    messages_api.queue(ErrorReply(529, "overloaded_error", "Overloaded"))
    with pytest.raises(anthropic.APIStatusError) as info:
        _client(messages_api).messages.create(
            model="claude-haiku-5-5", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 529
    assert "Overloaded" in str(info.value)


def test_handler_sees_each_request_and_delayed_requests_overlap() -> None:
    def handler(request: RecordedRequest) -> dict[str, object]:
        return text_message(f"echo {request.body['messages'][-1]['content']}")

    async def ask_all(server: MessagesAPIServer) -> list[str]:
        client = anthropic.AsyncAnthropic(api_key="test-key", base_url=server.base_url, max_retries=0)
        replies = await asyncio.gather(
            *(
                client.messages.create(
                    model="claude-haiku-5-5", max_tokens=8, messages=[{"role": "user", "content": str(i)}]
                )
                for i in range(4)
            )
        )
        return [r.content[0].text for r in replies if r.content[0].type == "text"]

    with MessagesAPIServer(handler, delay=0.3) as server:
        texts = asyncio.run(ask_all(server))
    assert sorted(texts) == ["echo 0", "echo 1", "echo 2", "echo 3"]
    assert server.max_in_flight >= 2  # a serial server would answer one request at a time
