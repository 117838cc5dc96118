"""The spans the real tracing SDK records (``track`` + ``track_anthropic``) make a cassette that replays:
an async agent using ``create(stream=True)``, ``messages.stream`` and ``create``, with async tools."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic
import pytest

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import CassetteMissError, replay_case, write_case_cassette
from pytest_flywheel.testing import MessagesAPIServer, text_message, tool_use_message
from pytest_flywheel.tracing import track, track_anthropic
from pytest_flywheel.tracing.hooks import collect_spans

MODEL = "claude-sonnet-5-5"
TOOLS: list[Any] = [
    {"name": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
]


class Agent:
    def __init__(self, base_url: str) -> None:
        self.client = track_anthropic(
            anthropic.AsyncAnthropic(api_key="sk-ant-api03-TRACED", base_url=base_url)
        )
        self.ran: list[str] = []

        @track(type="tool")
        async def weather(city: str) -> dict[str, Any]:
            self.ran.append(city)
            return {"city": city, "sky": "clear", "celsius": 21.5}

        self.weather = weather

    @track(entrypoint=True)
    async def answer(self, question: str) -> str:
        messages: list[Any] = [{"role": "user", "content": question}]
        # Turn 1: a raw event stream.
        blocks: list[dict[str, Any]] = []
        partial = ""
        stream = await self.client.messages.create(
            model=MODEL, max_tokens=200, tools=TOOLS, messages=messages, stream=True
        )
        async for event in stream:
            if event.type == "content_block_start":
                blocks.append(event.content_block.model_dump(exclude_none=True))
            elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                partial += event.delta.partial_json
        tool_use = next(block for block in blocks if block["type"] == "tool_use")
        tool_use["input"] = json.loads(partial)
        result = await self.weather(**tool_use["input"])
        messages += [
            {"role": "assistant", "content": blocks},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_use["id"], "content": json.dumps(result)}
                ],
            },
        ]
        # Turn 2: the streaming helper; turn 3: a plain call.
        async with self.client.messages.stream(
            model=MODEL, max_tokens=200, tools=TOOLS, messages=messages
        ) as helper:
            draft = await helper.get_final_message()
        messages += [
            {"role": "assistant", "content": draft.content},
            {"role": "user", "content": "Shorter, please."},
        ]
        final = await self.client.messages.create(model=MODEL, max_tokens=200, messages=messages)
        return "".join(block.text for block in final.content if block.type == "text")


def test_an_async_traced_agent_replays_from_the_cassette_its_spans_make(
    tmp_path: Path, messages_api: MessagesAPIServer
) -> None:
    messages_api.queue(
        tool_use_message("weather", {"city": "Lisbon"}),
        text_message("It is clear and 21.5 °C in Lisbon today, a fine day for a walk."),
        text_message("Clear, 21.5 °C."),
    )
    agent = Agent(messages_api.base_url)
    with collect_spans(persist=False) as collected:
        production = asyncio.run(agent.answer("Weather in Lisbon?"))
    assert production == "Clear, 21.5 °C."
    path = write_case_cassette(collected.spans, tmp_path / "case.yaml", redactor=Redactor())
    assert "sk-ant-api03-TRACED" not in path.read_text()

    messages_api.stop()
    agent.ran.clear()
    with replay_case(path) as session:
        replayed = asyncio.run(agent.answer("Weather in Lisbon?"))
    session.raise_for_miss()
    assert replayed == production
    assert agent.ran == []
    assert session.http_played == 3
    assert session.tool_calls == [{"tool": "weather", "arguments": {"city": "Lisbon"}, "source": "replayed"}]

    # A changed question is a miss named as such, not a connection error after retries.
    with replay_case(path) as session:
        with pytest.raises(CassetteMissError):
            asyncio.run(agent.answer("Weather in Porto?"))
    assert 'last user message: "Weather in Porto?"' in str(session.misses[0])
