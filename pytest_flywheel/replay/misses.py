"""The words of a cassette miss: what was asked for, what the cassette holds, and the fix."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pytest_flywheel.replay.errors import CassetteMissError, MissKind, RecordingError
from pytest_flywheel.replay.matching import parse_json_body

_EXCERPT = 80


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, else as it is."""
    try:
        return (
            os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd().resolve()) else str(path)
        )
    except (OSError, ValueError):
        return str(path)


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_of_content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [
        str(block.get("text", ""))
        for block in content
        if isinstance(block, dict) and block.get("type") == "text"
    ]
    if any(texts):
        return " ".join(texts)
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            return f"tool_result for {block.get('tool_use_id')}: {_text_of_content(block.get('content'))}"
    return ""


def describe_request_body(body: Any) -> str:
    """``model M, streamed, last user message: "..."`` for a Messages API body (empty when not one)."""
    data = parse_json_body(body)
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    if data.get("model"):
        parts.append(f"model {data['model']}")
    if data.get("stream") is True:
        parts.append("streamed")
    messages = data.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                parts.append(
                    f"last user message: {json.dumps(excerpt(_text_of_content(message.get('content'))), ensure_ascii=False)}"
                )
                break
    return ", ".join(parts)


def describe_request(method: str, uri: str, body: Any) -> str:
    """``POST https://.../v1/messages (model ..., last user message: "...")``."""
    summary = describe_request_body(body)
    return f"{method} {uri}" + (f" ({summary})" if summary else "")


def describe_tool_call(tool: str, arguments: dict[str, Any]) -> str:
    shown = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=repr)
    return f"tool {tool!r} with arguments {excerpt(shown, 200)}"


def _refusal(record_mode: str, things: str) -> str:
    if record_mode == "once":
        return f"Record mode 'once' does not record new {things} into a cassette that already exists"
    return f"Record mode {record_mode!r} does not record new {things}"


def missing_cassette_error(*, cassette: Path, record_mode: str, what: str) -> CassetteMissError:
    message = (
        f"The cassette {shown_path(cassette)} does not exist, so there is nothing to replay for {what}.\n"
        f"Record mode {record_mode!r} does not record; run once with --flywheel-record=once to record the "
        "cassette, or check the case's cassette path."
    )
    return CassetteMissError(
        message, kind="missing_cassette", cassette=cassette, record_mode=record_mode, what=what, fix="once"
    )


def request_miss_error(
    *, cassette: Path, record_mode: str, what: str, already_played: bool, difference: str | None
) -> CassetteMissError:
    kind: MissKind = "request"
    if already_played:
        message = (
            f"The cassette {shown_path(cassette)} has already played back every recorded response to "
            f"{what}: the agent made this request more often than when the case was recorded.\n"
            f"{_refusal(record_mode, 'requests')}; run once with --flywheel-record=new_episodes to record "
            "the extra request."
        )
    else:
        closest = f"\nThe closest recorded request differs at {difference}." if difference else ""
        message = (
            f"The cassette {shown_path(cassette)} holds no response to {what}.{closest}\n"
            f"{_refusal(record_mode, 'requests')}; if the request changed on purpose, run once with "
            "--flywheel-record=new_episodes to record it."
        )
    return CassetteMissError(
        message, kind=kind, cassette=cassette, record_mode=record_mode, what=what, fix="new_episodes"
    )


def tool_miss_error(
    *,
    cassette: Path,
    record_mode: str,
    tool: str,
    arguments: dict[str, Any],
    already_played: bool,
    recorded_arguments: list[dict[str, Any]],
) -> CassetteMissError:
    what = describe_tool_call(tool, arguments)
    if already_played:
        message = (
            f"The cassette {shown_path(cassette)} has already played back every recorded call of {what}: "
            "the agent called it more often than when the case was recorded.\n"
            f"{_refusal(record_mode, 'tool calls')}; run once with --flywheel-record=new_episodes to record "
            "the extra call."
        )
    else:
        recorded = ""
        if recorded_arguments:
            shown = "; ".join(
                excerpt(json.dumps(item, ensure_ascii=False, sort_keys=True, default=repr), 120)
                for item in recorded_arguments[:3]
            )
            recorded = f"\nRecorded calls of {tool!r} have arguments: {shown}."
        message = (
            f"The cassette {shown_path(cassette)} holds no recorded call of {what}.{recorded}\n"
            f"{_refusal(record_mode, 'tool calls')}; if the call changed on purpose, run once with "
            "--flywheel-record=new_episodes to record it."
        )
    return CassetteMissError(
        message, kind="tool", cassette=cassette, record_mode=record_mode, what=what, fix="new_episodes"
    )


#: What to do when recording needs a key that is not there.
NO_KEY_FIX = (
    "set ANTHROPIC_API_KEY to record it, or run with --flywheel-record=none to replay only what the "
    "cassette holds"
)


def recording_needs_key_error(*, cassette: Path, record_mode: str, what: str) -> RecordingError:
    message = (
        f"Recording {what} into {shown_path(cassette)} (record mode {record_mode!r}) needs an Anthropic "
        f"API key, and none is set: the request is not in the cassette, so it must go to the API. To fix: "
        f"{NO_KEY_FIX}."
    )
    return RecordingError(message, kind="no_key", cassette=cassette, fix=NO_KEY_FIX)


def unreachable_error(*, cassette: Path, record_mode: str, problem: str) -> RecordingError:
    fix = "check the network and ANTHROPIC_BASE_URL, or run with --flywheel-record=none to replay only"
    message = (
        f"Recording into {shown_path(cassette)} (record mode {record_mode!r}) failed: the API could not be "
        f"reached ({problem}). To fix: {fix}."
    )
    return RecordingError(message, kind="unreachable", cassette=cassette, fix=fix)
