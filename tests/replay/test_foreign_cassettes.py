"""Cassettes recorded by other projects work as a case's cassette.

The shared corpus holds real Anthropic traffic recorded by llm-anthropic (gzip + base64 event
streams, every header kept), openinference (plain JSON and event streams) and pydantic-ai (its own
``parsed_body`` variant). Each recorded request is made again through the real SDK, sync, async and
with the streaming helper, and must get the recorded message back.
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
from pathlib import Path
from typing import Any

import anthropic
import pytest

from pytest_flywheel.replay import replay_case
from pytest_flywheel.replay.cassette_file import load_cassette_data

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # recorded with older models

CASSETTES = [
    "llm-anthropic-test_stream_events_tool_calls.yaml",
    "llm-anthropic-test_tools.yaml",
    "openinference-multiple_tool_calling.yaml",
    "openinference-multiple_tool_calling_streaming.yaml",
    "pydantic-ai-test_mixed_tools_no_output.yaml",
]


def _response_text(response: dict[str, Any]) -> str:
    body = response["body"]["string"]
    if isinstance(body, str):
        body = body.encode()
    encoding = {k.lower(): v for k, v in response["headers"].items()}.get("content-encoding", [""])
    return (gzip.decompress(body) if "gzip" in encoding else body).decode()


def _blocks_of_sse(text: str) -> tuple[str, list[dict[str, Any]]]:
    """(message id, content blocks) of an event stream, reassembled independently of the SDK."""
    message_id = ""
    blocks: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    for line in text.splitlines():
        if not line.startswith("data:"):
            continue
        event = json.loads(line[5:])
        if event["type"] == "message_start":
            message_id = event["message"]["id"]
        elif event["type"] == "content_block_start":
            blocks.append(dict(event["content_block"]))
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
            blocks[event["index"]]["text"] += event["delta"]["text"]
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "input_json_delta":
            partial[event["index"]] = partial.get(event["index"], "") + event["delta"]["partial_json"]
    for index, text_json in partial.items():
        blocks[index]["input"] = json.loads(text_json) if text_json else {}
    return message_id, blocks


def _expected(response: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    text = _response_text(response)
    if text.lstrip().startswith("{"):
        message = json.loads(text)
        return message["id"], message["content"]
    return _blocks_of_sse(text)


def _essentials(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("type", "text", "name", "input", "id")
    return [{key: block[key] for key in keep if key in block} for block in blocks]


def _sdk_kwargs(body: dict[str, Any], *, beta: bool) -> dict[str, Any]:
    """The keyword arguments that make the SDK send ``body``: what it no longer takes as a parameter
    (``temperature`` in SDK 2.x) goes through ``extra_body``."""
    resource = anthropic.resources.beta.messages.Messages if beta else anthropic.resources.messages.Messages
    known = set(inspect.signature(resource.create).parameters)
    kwargs = {key: value for key, value in body.items() if key in known}
    extra = {key: value for key, value in body.items() if key not in known}
    return {**kwargs, "extra_body": extra} if extra else kwargs


def _call(way: str, body: dict[str, Any], *, beta: bool) -> Any:
    kwargs = _sdk_kwargs(body, beta=beta)
    streamed = bool(kwargs.pop("stream", False))
    base = "https://api.anthropic.com"
    if way == "async":

        async def run() -> Any:
            async with anthropic.AsyncAnthropic(api_key="test-key", base_url=base, max_retries=0) as client:
                messages: Any = client.beta.messages if beta else client.messages
                if streamed:
                    async with messages.stream(**kwargs) as stream:
                        return await stream.get_final_message()
                return await messages.create(**kwargs, **({"stream": False} if beta else {}))

        return asyncio.run(run())
    client = anthropic.Anthropic(api_key="test-key", base_url=base, max_retries=0)
    messages: Any = client.beta.messages if beta else client.messages
    if way == "stream":
        with messages.stream(**kwargs) as stream:
            return stream.get_final_message()
    if streamed:
        events = list(messages.create(**kwargs, stream=True))
        snapshot: dict[str, Any] = {"id": events[0].message.id, "content": []}
        for event in events:
            if event.type == "content_block_start":
                snapshot["content"].append(event.content_block.model_dump(exclude_none=True))
            elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                snapshot["content"][event.index]["text"] += event.delta.text
            elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                block = snapshot["content"][event.index]
                block["_json"] = block.get("_json", "") + event.delta.partial_json
        for block in snapshot["content"]:
            if "_json" in block:
                block["input"] = json.loads(block.pop("_json") or "{}")
        return snapshot
    return messages.create(**kwargs, **({"stream": False} if beta else {}))


@pytest.mark.parametrize("way", ["sync", "async", "stream"])
@pytest.mark.parametrize("name", CASSETTES)
def test_a_foreign_cassette_replays_through_the_real_sdk(corpus: Path, name: str, way: str) -> None:
    path = corpus / "cassettes" / name
    data = load_cassette_data(path.read_text(), source=path)
    interactions = data["interactions"]
    requests = [json.loads(item["request"]["body"]) for item in interactions]
    if way == "stream" and not any(request.get("stream") for request in requests):
        pytest.skip("the helper always streams; this cassette holds no streamed request")
    before = path.read_bytes()
    with replay_case(path) as session:
        for interaction, request in zip(interactions, requests, strict=True):
            if way == "stream" and not request.get("stream"):
                continue
            message = _call(way, request, beta="beta=true" in interaction["request"]["uri"])
            got = message if isinstance(message, dict) else message.model_dump(exclude_none=True)
            expected_id, expected_blocks = _expected(interaction["response"])
            assert got["id"] == expected_id
            assert _essentials(got["content"]) == _essentials(expected_blocks)
    session.raise_for_miss()
    assert session.http_played == sum(1 for r in requests if way != "stream" or r.get("stream"))
    assert path.read_bytes() == before  # none mode never writes


def test_a_foreign_cassette_gains_a_recorded_interaction_and_loses_its_secrets(
    corpus: Path, tmp_path: Path
) -> None:
    from pytest_flywheel.testing import MessagesAPIServer, text_message

    original = corpus / "cassettes" / "llm-anthropic-test_stream_events_tool_calls.yaml"
    path = tmp_path / "case.yaml"
    path.write_bytes(original.read_bytes())
    with MessagesAPIServer() as server, replay_case(path, record_mode="new_episodes") as session:
        server.queue(text_message("new"))
        client = anthropic.Anthropic(api_key="test-key", base_url=server.base_url, max_retries=0)
        client.messages.create(
            model="claude-haiku-5-5", max_tokens=10, messages=[{"role": "user", "content": "a new question"}]
        )
    session.raise_for_miss()
    text = path.read_text()
    assert "_cfuvid=" not in text and "b320df16-c763-4455-b901-3f7d54e9a012" not in text  # cookie, org id
    data = load_cassette_data(text, source=path)
    assert len(data["interactions"]) == 2
    # The old streamed interaction was decoded (no gzip any more) and still replays.
    with replay_case(path) as replay:
        request = json.loads(data["interactions"][0]["request"]["body"])
        message = _call("stream", request, beta=False)
    replay.raise_for_miss()
    assert message.content[0].type == "tool_use" and message.content[0].name == "pelican_name_generator"
