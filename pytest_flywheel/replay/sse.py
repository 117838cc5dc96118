"""The Messages API's server-sent event framing of a message.

A streamed call is traced as the final message (the stream reassembled); to replay it, the cassette
needs the event stream again. :func:`message_to_sse` rebuilds it the way the API frames it:
``message_start``, for each content block ``content_block_start`` / ``content_block_delta``... /
``content_block_stop``, then ``message_delta`` and ``message_stop``. The Anthropic SDK's stream
accumulator turns those events back into the same message. The loopback Messages API
(:mod:`pytest_flywheel.testing`) serves the same framing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

#: Text deltas carry this many characters, tool input deltas this many characters of JSON.
TEXT_CHUNK = 16
JSON_CHUNK = 24


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _block_events(index: int, block: dict[str, Any]) -> Iterator[bytes]:
    kind = block.get("type")
    if kind == "text":
        yield _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {**block, "text": ""}},
        )
        text = str(block.get("text") or "")
        for start in range(0, len(text), TEXT_CHUNK) or [0]:
            yield _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": text[start : start + TEXT_CHUNK]},
                },
            )
    elif kind in ("tool_use", "server_tool_use"):
        yield _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
        )
        partial = json.dumps(block.get("input") or {})
        for start in range(0, len(partial), JSON_CHUNK):
            yield _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {
                        "type": "input_json_delta",
                        "partial_json": partial[start : start + JSON_CHUNK],
                    },
                },
            )
    else:
        # Thinking, redacted thinking, tool results of server tools...: the whole block up front is
        # something the SDK's accumulator takes as is, with nothing left to add by deltas.
        yield _event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )
    yield _event("content_block_stop", {"type": "content_block_stop", "index": index})


def message_to_sse(message: dict[str, Any]) -> Iterator[bytes]:
    """The server-sent events the API streams for ``message`` (a response JSON), one encoded event at a time."""
    usage = dict(message.get("usage") or {})
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    yield _event("message_start", {"type": "message_start", "message": start})
    for index, block in enumerate(message.get("content") or []):
        yield from _block_events(index, block)
    delta: dict[str, Any] = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
    }
    for optional in ("stop_details", "container"):
        if message.get(optional) is not None:
            delta[optional] = message[optional]
    yield _event(
        "message_delta",
        {"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage.get("output_tokens", 0)}},
    )
    yield _event("message_stop", {"type": "message_stop"})


def sse_body(message: dict[str, Any]) -> str:
    """The whole event stream for ``message`` as text, the body of a streamed response."""
    return b"".join(message_to_sse(message)).decode()
