"""An offline stand-in for the model behind ``flywheel fix``: a scripted fixer on a loopback port.

It is **not** Claude and never claims to be: its replies report the model ``flywheel-standin-fixer``,
and ``flywheel fix`` announces it in one line (``[tool.flywheel.fix] standin`` in ``pyproject.toml``
names it; it is used only when no ``ANTHROPIC_API_KEY`` is set). It knows one kind of fix, the one
this example needs: it reads the failing assertions it is given, looks for the production system
prompt (``SYSTEM_V1``) through the fixer's tools, and proposes adding the rules those assertions ask
for (answer from the help center, cite the article, check refund eligibility, ask for the order
number, keep it short). Every step goes through the same tools, confinement and validation a real
model's would, so the example shows the whole fix step with no key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.testing import MessagesAPIServer, RecordedRequest

STANDIN_FIXER_MODEL = "flywheel-standin-fixer"
PROMPT_NAME = "SYSTEM_V1"

#: The rules the stand-in knows, and the words in a failing assertion that call for each.
RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        (
            "not support",
            "invent",
            "made up",
            "make up",
            "does not know",
            "help center",
            "price match",
            "policy",
        ),
        "Answer only from the help-center articles given with the question and from tool results. If they "
        "do not answer the question, say you do not know and offer to hand over to a person. Never make "
        "up a policy, a price, a time limit or an order status.",
    ),
    (("cite", "source:", "article"), 'End a policy answer with the line "Source: <article title>".'),
    (
        ("refund",),
        "Never promise or approve a refund unless check_refund_eligibility returned eligible: true for that "
        "order. If it is not eligible, explain why, quoting its reason.",
    ),
    (("order number",), "If you need an order number and the customer did not give one, ask for it."),
    (("words", "brief", "short", "max_cost", "max_latency"), "Keep replies under 120 words."),
)
_NUMBERED = re.compile(r"^\s*(\d+)\| (.*)$")


@dataclass
class Step:
    name: str
    input: dict[str, Any]
    result: str = ""
    is_error: bool = False


@dataclass
class Session:
    opening: str
    steps: list[Step] = field(default_factory=list)

    def last(self, name: str) -> Step | None:
        return next((step for step in reversed(self.steps) if step.name == name), None)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(block.get("text", "")) for block in content if isinstance(block, dict))


def read_session(body: dict[str, Any]) -> Session:
    messages = body.get("messages") or []
    session = Session(_text(messages[0]["content"]) if messages else "")
    pending: dict[str, Step] = {}
    for message in messages[1:]:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if block.get("type") == "tool_use":
                step = Step(block["name"], dict(block.get("input") or {}))
                pending[block["id"]] = step
                session.steps.append(step)
            elif block.get("type") == "tool_result" and block.get("tool_use_id") in pending:
                step = pending[block["tool_use_id"]]
                step.result = _text(block.get("content") or "")
                step.is_error = bool(block.get("is_error"))
    return session


def failing_assertions(opening: str) -> list[str]:
    return [
        line.split("FAIL", 1)[1].strip() for line in opening.splitlines() if line.strip().startswith("FAIL ")
    ]


def rules_for(assertions: list[str], prompt: str) -> list[str]:
    """The rules the failing assertions call for, minus those the prompt already has."""
    text = " ".join(assertions).lower()
    return [rule for words, rule in RULES if any(word in text for word in words) and rule not in prompt]


def _file_lines(read_result: str) -> list[str]:
    return [match.group(2) for line in read_result.splitlines() if (match := _NUMBERED.match(line))]


def _prompt_edit(session: Session) -> tuple[dict[str, Any] | None, str]:
    """The edit_file input for the production prompt, or None and why not."""
    read = session.last("read_file")
    if read is None or read.is_error:
        return None, "could not read the prompt file"
    lines = _file_lines(read.result)
    start = next((i for i, line in enumerate(lines) if line.startswith(f'{PROMPT_NAME} = """')), None)
    if start is None:
        return None, f"found no {PROMPT_NAME} in {read.input.get('path')}"
    end = next((i for i in range(start, len(lines)) if lines[i].rstrip().endswith('"""')), None)
    if end is None or end == start:
        return None, f"could not find where {PROMPT_NAME} ends"
    prompt = "\n".join(lines[start : end + 1])
    rules = rules_for(failing_assertions(session.opening), prompt)
    if not rules:
        return None, "the failing assertions ask for nothing this stand-in knows how to put in a prompt"
    closing = lines[end]
    body = closing.rstrip()[: -len('"""')]
    numbered = "\n".join(f"{index}. {rule}" for index, rule in enumerate(rules, start=1))
    return {
        "path": read.input["path"],
        "old_text": closing,
        "new_text": f"{body}\n\nRules:\n{numbered}" + '"""',
        "reason": (
            f"{PROMPT_NAME}, the production prompt, only suggests using the help-center articles 'when "
            "useful' and says nothing about refunds, citations or length; the failing assertions ask for "
            f"exactly that. Adds {len(rules)} rule(s)."
        ),
    }, ""


def decide(session: Session) -> tuple[str, dict[str, Any]]:
    """The stand-in's next tool call."""
    search = session.last("search_code")
    if search is None:
        return "search_code", {"regex": f"^{PROMPT_NAME} = ", "path_pattern": "*.py"}
    if session.last("read_file") is None:
        found = [
            line.split(":", 1)[0]
            for line in search.result.splitlines()
            if re.match(rf"^[^:]+:\d+: {PROMPT_NAME} = ", line)
        ]
        if not found:
            return "finish", {"summary": f"Stand-in fixer: found no {PROMPT_NAME} prompt to change; no edit."}
        return "read_file", {"path": found[0]}
    edit = session.last("edit_file")
    if edit is None:
        proposed, why = _prompt_edit(session)
        if proposed is None:
            return "finish", {"summary": f"Stand-in fixer: {why}; no edit."}
        return "edit_file", proposed
    if edit.is_error:
        return "finish", {"summary": f"Stand-in fixer: the edit was not accepted ({edit.result}); no edit."}
    return "finish", {
        "summary": (
            "Stand-in fixer (scripted, not Claude). The failing cases invent policies, promise refunds the "
            f"policy does not allow, cite nothing and ramble: the production prompt ({PROMPT_NAME}) asks the "
            "model to be generous and to use the help center only when useful. The edit adds the rules the "
            "failing assertions ask for. A prompt cannot fix everything: a case that fails because of what "
            "the code does with tool calls needs a change in the code."
        )
    }


def _digest(body: dict[str, Any], salt: str) -> str:
    return hashlib.sha256((salt + json.dumps(body, sort_keys=True)).encode()).hexdigest()[:24]


def respond(request: RecordedRequest) -> dict[str, Any]:
    """One Messages API reply: the stand-in's next tool call (same request, same reply)."""
    body = request.body
    name, tool_input = decide(read_session(body))
    content = [
        {
            "type": "tool_use",
            "id": f"toolu_standin_fix_{_digest(body, 'tool')}",
            "name": name,
            "input": tool_input,
        }
    ]
    return {
        "id": f"msg_standin_fix_{_digest(body, 'message')}",
        "type": "message",
        "role": "assistant",
        "model": STANDIN_FIXER_MODEL,
        "content": content,
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": max(1, len(json.dumps(body)) // 4),
            "output_tokens": max(1, len(json.dumps(content)) // 4),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def start_server() -> MessagesAPIServer:
    """A started loopback Messages API answering as the stand-in fixer."""
    return MessagesAPIServer(respond).start()
