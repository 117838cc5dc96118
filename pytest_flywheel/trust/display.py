"""Showing a verdict to a person: the case input, the output, a trajectory summary, safely printable.

Everything shown passes through the project's redactor (no key or token reaches the terminal) and
loses its control characters (a recorded reply cannot move the cursor or recolour the terminal).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Longest output shown in full; the rest is cut with a note saying how much.
MAX_OUTPUT_CHARS = 3000
#: Longest tool argument or result shown in a trajectory line.
MAX_VALUE_CHARS = 160
#: Most trajectory lines shown.
MAX_STEPS = 25

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (escape sequences included) shown as ``\\xNN``; tabs and
    newlines kept."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group(0)):02x}", text)


def compact(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A one-line JSON rendering of ``value`` (text as is), cut to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def block(value: Any, limit: int = MAX_OUTPUT_CHARS) -> list[str]:
    """``value`` as indented lines: text as it is, anything else as indented JSON; cut at ``limit``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2, default=str)
    more = len(text) - limit
    if more > 0:
        text = text[:limit] + f"\n… ({more} more characters)"
    return ["  " + line for line in text.splitlines()] or ["  (empty)"]


def trajectory_lines(trajectory: list[dict[str, Any]]) -> list[str]:
    """One line per step of a recorded trajectory (the judge's view: tool calls and LLM calls)."""
    lines: list[str] = []
    for number, step in enumerate(trajectory, start=1):
        if not isinstance(step, dict):
            continue
        if step.get("type") == "tool":
            arguments = compact(step.get("arguments"), 80)
            if "error" in step:
                error = step.get("error") or {}
                outcome = f"raised {error.get('type')}: {compact(error.get('message'), 80)}"
            else:
                outcome = "→ " + compact(step.get("result"))
            lines.append(f"  {number}. tool {step.get('name')}({arguments}) {outcome}")
        elif step.get("type") == "llm":
            uses = [str(use.get("name")) for use in step.get("tool_uses") or [] if isinstance(use, dict)]
            asks = f", asks for {', '.join(uses)}" if uses else ""
            lines.append(
                f"  {number}. llm {step.get('model')}: {step.get('stop_reason')}, "
                f"{step.get('input_tokens')} in / {step.get('output_tokens')} out tokens{asks}"
            )
    if len(lines) > MAX_STEPS:
        lines = [*lines[:MAX_STEPS], f"  … ({len(lines) - MAX_STEPS} more steps)"]
    return lines or ["  (no tool or LLM call)"]


def cassette_lines(path: Path) -> list[str]:
    """A summary of what a case's cassette recorded: its tool calls and how many model calls."""
    from pytest_flywheel.replay.cassette_file import CassetteFormatError, load_cassette_data

    try:
        data = load_cassette_data(path.read_text(encoding="utf-8"), source=path)
    except FileNotFoundError:
        return [f"  (no cassette at {path})"]
    except (OSError, UnicodeDecodeError, CassetteFormatError) as exc:
        return [f"  (the cassette {path} could not be read: {exc})"]
    steps = [
        {"type": "tool", "name": tool.get("tool"), "arguments": tool.get("arguments"), **(
            {"error": tool["error"]} if "error" in tool else {"result": tool.get("result")}
        )}
        for tool in data.get("tool_interactions") or []
        if isinstance(tool, dict)
    ]
    model_calls = len(data.get("interactions") or [])
    lines = trajectory_lines(steps) if steps else []
    return [*lines, f"  ({model_calls} model call{'s' if model_calls != 1 else ''} recorded)"]


def shown(lines: list[str], redact: Callable[[str], str]) -> str:
    """Lines joined, redacted and made printable."""
    return printable(redact("\n".join(lines)))
