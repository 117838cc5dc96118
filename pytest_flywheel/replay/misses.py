"""The words of a cassette miss: what was asked for, what the cassette holds, and the fix."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_flywheel.replay.errors import CassetteMissError, MissKind, RecordingError
from pytest_flywheel.replay.matching import ABSENT, Difference, parse_json_body
from pytest_flywheel.replay.window import side_by_side, text_window

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


#: What to do when a request changed on purpose.
REQUEST_FIX = (
    "if the request changed on purpose, run once with --flywheel-record=new_episodes to record it, or "
    "with --flywheel-record=rewrite to record the case afresh when the prompt changed for good"
)
#: Rendered JSON up to this long is shown whole, on one line (``700 here, 4096 recorded``).
_SHORT = 48


def difference_reason(path: str | None) -> str:
    """What a difference at a request body's JSON ``path`` means, in a few words (``the system prompt
    changed``)."""
    if path is None:
        return "the request changed"
    if path == "":
        return "the request body changed"
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    if head == "messages":
        found = re.match(r"messages\[(\d+)\]", path)
        if found is None:
            return "the conversation has another number of messages"
        return f"message {int(found.group(1)) + 1} of the conversation changed"
    return _REASONS.get(head, f"the {head} parameter changed")


_REASONS = {
    "system": "the system prompt changed",
    "tools": "the tools changed",
    "tool_choice": "the tool choice changed",
    "model": "the model changed",
    "stream": "streaming was turned on or off",
}


def _rendered(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    return json.dumps(value, ensure_ascii=False, default=repr)


def describe_difference(difference: Difference) -> str:
    """``at PATH: ...``: where a live request body differs from a recorded one, with both sides (a short
    window around the first change, aligned, when they are long)."""
    where = f"at {difference.shown_path}"
    live, recorded = difference.live, difference.recorded
    if difference.kind == "length":
        shorter = min(len(live), len(recorded))
        extra, side = (recorded, "recorded") if len(recorded) > len(live) else (live, "here")
        return (
            f"{where}: {len(live)} items here, {len(recorded)} recorded; {difference.shown_path}[{shorter}] is "
            f"only {side}: {excerpt(_rendered(extra[shorter]), 120)}"
        )
    left, right = _rendered(live), _rendered(recorded)
    if ABSENT in (live, recorded) or (len(left) <= _SHORT and len(right) <= _SHORT):
        return f"{where}: {excerpt(left, 120)} here, {excerpt(right, 120)} recorded"
    if isinstance(live, str) and isinstance(recorded, str):
        lines = text_window(live, recorded)
    else:  # values of another type, or of different types: their JSON, each cut short
        lines = side_by_side(excerpt(left, 100), excerpt(right, 100))
    return f"{where} ({difference_reason(difference.path)}):\n" + "\n".join("  " + line for line in lines)


def miss_summary(path: str | None, *, reason: str | None = None) -> str:
    """The one-line summary of a request miss: ``cassette miss at system: the system prompt changed``."""
    if path is None:
        return f"cassette miss: {reason or difference_reason(None)}"
    return f"cassette miss at {path or '(body)'}: {reason or difference_reason(path)}"


def request_miss_error(
    *,
    cassette: Path,
    record_mode: str,
    what: str,
    already_played: bool = False,
    interaction: int | None = None,
    interactions: int = 0,
    difference: Difference | None = None,
    mismatch: str | None = None,
) -> CassetteMissError:
    """A request the cassette holds no (more) response to.

    ``interaction`` (1-based, of ``interactions``) is the closest recorded request, if any;
    ``difference`` where its body differs, or ``mismatch`` what else differs (``the API path:
    /v1/complete here, /v1/messages recorded``) when the bodies are the same.
    """
    kind: MissKind = "request"
    path: str | None = None
    if already_played:
        message = (
            f"The cassette {shown_path(cassette)} has already played back every recorded response to "
            f"{what}: the agent made this request more often than when the case was recorded.\n"
            f"{_refusal(record_mode, 'requests')}; run once with --flywheel-record=new_episodes to record "
            "the extra request."
        )
        summary = miss_summary(None, reason="the request was made more often than recorded")
    else:
        closest = ""
        if interaction is not None and (difference is not None or mismatch):
            which = f"The closest recorded request (interaction {interaction} of {interactions}) differs"
            if difference is not None:
                also = f" in {mismatch}, and" if mismatch else ""
                closest = f"\n{which}{also} {describe_difference(difference)}"
                path = difference.path
                summary = miss_summary(path)
            else:
                closest = f"\n{which} in {mismatch}"
                summary = miss_summary(None, reason=f"{str(mismatch).partition(':')[0]} changed")
        else:
            summary = miss_summary(None, reason="the cassette holds no request like it")
        if closest and "\n" not in closest[1:]:
            closest += "."
        message = (
            f"The cassette {shown_path(cassette)} holds no response to {what}.{closest}\n"
            f"{_refusal(record_mode, 'requests')}; {REQUEST_FIX}."
        )
    return CassetteMissError(
        message,
        kind=kind,
        cassette=cassette,
        record_mode=record_mode,
        what=what,
        fix="new_episodes",
        difference_path=path,
        summary=summary,
    )


def miss_groups(paths: Iterable[str | None], *, at_least: int = 2) -> list[str]:
    """One line for each JSON path at which ``at_least`` misses differ, most first: ``14 cases differ at
    `system`: the system prompt changed; ...``. ``paths`` holds each missing case's
    :attr:`~pytest_flywheel.replay.errors.CassetteMissError.difference_path` (None ones are left out)."""
    counts = Counter(path for path in paths if path is not None)
    lines = []
    for path, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if count < at_least:
            continue
        cases = "1 case differs" if count == 1 else f"{count} cases differ"
        lines.append(
            f"{cases} at `{path or '(body)'}`: {difference_reason(path)}; if it changed on purpose, "
            "re-record with --flywheel-record=rewrite (or new_episodes to keep what is recorded)"
        )
    return lines


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
    how = "more often than recorded" if already_played else "with arguments the cassette does not hold"
    return CassetteMissError(
        message,
        kind="tool",
        cassette=cassette,
        record_mode=record_mode,
        what=what,
        fix="new_episodes",
        summary=f"cassette miss: tool {tool!r} called {how}",
    )


#: What to do when recording needs a key that is not there.
NO_KEY_FIX = (
    "set ANTHROPIC_API_KEY to record it, or run with --flywheel-record=none to replay only what the "
    "cassette holds"
)


def recording_needs_key_error(
    *, cassette: Path, record_mode: str, what: str, differs: str | None = None
) -> RecordingError:
    """A request to record with no key; ``differs`` is the miss's summary against what the cassette holds
    (``cassette miss at system: the system prompt changed``)."""
    where = f" ({differs})" if differs else ""
    message = (
        f"Recording {what} into {shown_path(cassette)} (record mode {record_mode!r}) needs an Anthropic "
        f"API key, and none is set: the request is not in the cassette{where}, so it must go to the API. "
        f"To fix: {NO_KEY_FIX}."
    )
    return RecordingError(message, kind="no_key", cassette=cassette, fix=NO_KEY_FIX)


def unreachable_error(*, cassette: Path, record_mode: str, problem: str) -> RecordingError:
    fix = "check the network and ANTHROPIC_BASE_URL, or run with --flywheel-record=none to replay only"
    message = (
        f"Recording into {shown_path(cassette)} (record mode {record_mode!r}) failed: the API could not be "
        f"reached ({problem}). To fix: {fix}."
    )
    return RecordingError(message, kind="unreachable", cassette=cassette, fix=fix)
