"""The support agent: help-center retrieval, a bounded tool-use loop over Claude, a refund guardrail.

``answer(question, customer_id)`` is the production entrypoint; every call is one trace.

``SUPPORT_AGENT_VERSION=v1`` reproduces the agent as it ran when the production failures were
captured; the default, ``v2``, carries the fixes (see :data:`BEHAVIOURS` and ``prompts.py``).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import anthropic

from pytest_flywheel import current_trace_id, track, track_anthropic
from support_agent.prompts import system_prompt
from support_agent.retrieval import search_help_center
from support_agent.tools import TOOL_FUNCTIONS, TOOL_SCHEMAS, validation_error

if TYPE_CHECKING:
    from anthropic.types import MessageParam, ToolParam

DEFAULT_MODEL = "claude-haiku-5-5"
# With no ANTHROPIC_API_KEY the SDK refuses to build a request at all, so a replayed regression case
# (whose answers come from a cassette) could never run. This placeholder lets the request be built;
# sent to the real API it is rejected (401), so nothing works by accident.
NO_KEY_PLACEHOLDER = "no-key-set"

GAVE_UP = (
    "I'm sorry, I could not finish looking into this. Please try again, or ask me to hand your "
    "question to a person."
)
REFUND_NOT_CONFIRMED = (
    "I'm sorry, I can't confirm a refund for this order: our returns policy does not "
    "allow it here. I can hand your request to our customer care team if you like."
)


@dataclass(frozen=True)
class Behaviour:
    """The knobs that changed between the production agent (v1) and the fixed one (v2)."""

    version: str
    top_k: int  # help-center articles put in the prompt
    min_score: float  # v2 drops articles that barely match instead of padding the prompt
    max_tokens: int
    max_rounds: int  # model calls per question
    validate_tools: bool  # check a tool call's arguments before running it
    loop_guard: bool  # refuse to run the same tool call twice
    refund_guardrail: bool  # a refund promise needs an eligible check_refund_eligibility result


BEHAVIOURS: dict[str, Behaviour] = {
    "v1": Behaviour(
        "v1",
        top_k=6,
        min_score=0.0,
        max_tokens=4096,
        max_rounds=8,
        validate_tools=False,
        loop_guard=False,
        refund_guardrail=False,
    ),
    "v2": Behaviour(
        "v2",
        top_k=3,
        min_score=1.0,
        max_tokens=700,
        max_rounds=5,
        validate_tools=True,
        loop_guard=True,
        refund_guardrail=True,
    ),
}


class UnknownVersionError(ValueError):
    """``SUPPORT_AGENT_VERSION`` names no behaviour."""


def behaviour() -> Behaviour:
    """The behaviour ``SUPPORT_AGENT_VERSION`` selects (``v2`` when unset)."""
    version = os.environ.get("SUPPORT_AGENT_VERSION", "v2").strip() or "v2"
    if version not in BEHAVIOURS:
        raise UnknownVersionError(
            f"SUPPORT_AGENT_VERSION={version!r} is not a version of the support agent; use one of "
            f"{', '.join(BEHAVIOURS)} (or leave it unset for v2)."
        )
    return BEHAVIOURS[version]


def model() -> str:
    return os.environ.get("SUPPORT_AGENT_MODEL") or DEFAULT_MODEL


@cache
def _client(api_key: str, base_url: str | None) -> anthropic.Anthropic:
    return track_anthropic(
        anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=1, timeout=60.0)
    )


def client() -> anthropic.Anthropic:
    """The traced Anthropic client for the current ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``."""
    return _client(
        os.environ.get("ANTHROPIC_API_KEY") or NO_KEY_PLACEHOLDER,
        os.environ.get("ANTHROPIC_BASE_URL") or None,
    )


_local = threading.local()


def last_trace_id() -> str | None:
    """The trace id of this thread's last :func:`answer` call: what a chat widget would send feedback on."""
    value = getattr(_local, "trace_id", None)
    return value if isinstance(value, str) else None


def user_message(question: str, customer_id: str | None, articles: list[dict[str, Any]]) -> str:
    context = "\n".join(
        f'<article id="{entry["id"]}" title="{entry["title"]}">\n{entry["body"]}\n</article>'
        for entry in articles
    )
    return (
        f"Help-center articles:\n{context or '(none matched)'}\n\n"
        f"Customer: {customer_id or 'not signed in'}\n"
        f"Customer question: {question}"
    )


def _block(block: Any) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input)}
    dumped: dict[str, Any] = block.model_dump(exclude_none=True)
    return dumped


def _run_tool(
    name: str, arguments: dict[str, Any], customer_id: str | None, rules: Behaviour, seen: dict[str, str]
) -> tuple[str, bool, dict[str, Any] | None]:
    """``(content for the model, is_error, result)`` of one tool call."""
    call_key = f"{name} {json.dumps(arguments, sort_keys=True)}"
    if rules.loop_guard and call_key in seen:
        repeat = f"You already called {name} with these arguments and got: {seen[call_key]} "
        return repeat + "Do not call it again; answer the customer with what you have.", True, None
    if rules.validate_tools:
        problem = validation_error(name, arguments)
        if problem:
            return problem, True, None
    function = TOOL_FUNCTIONS.get(name)
    if function is None:
        return f"Unknown tool {name!r}.", True, None
    schema = next(tool["input_schema"] for tool in TOOL_SCHEMAS if tool["name"] == name)
    kwargs = {key: arguments.get(key, "") for key in schema["properties"]}
    if name != "send_password_reset":
        kwargs["customer_id"] = customer_id
    try:
        result = function(**kwargs)
    except Exception as exc:  # a broken tool is the model's to explain, not a crash of the whole answer
        return f"{type(exc).__name__}: {exc}", True, None
    content = json.dumps(result, sort_keys=True)
    seen[call_key] = content
    return content, "error" in result, result


_PROMISE = re.compile(
    r"(I(?:'ve| have) (?:approved|issued|processed|started)[^.]*\brefund)"
    r"|(\brefund\b[^.]*\b(?:approved|issued|is on its way|has been processed|will be (?:credited|issued)))",
    re.IGNORECASE,
)


@track(type="guardrail")
def refund_guardrail(reply: str, eligible_orders: list[str]) -> str:
    """The reply, unless it promises a refund that no eligibility check allowed: then a safe reply."""
    if _PROMISE.search(reply) and not eligible_orders:
        return REFUND_NOT_CONFIRMED
    return reply


@track(entrypoint=True, project_name="support-agent")
def answer(question: str, customer_id: str | None = None) -> str:
    """Bramble & Leaf's support assistant: the reply to a customer's ``question``."""
    _local.trace_id = current_trace_id()
    rules = behaviour()
    articles = search_help_center(question, top_k=rules.top_k, min_score=rules.min_score)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": user_message(question, customer_id, articles)}
    ]
    seen: dict[str, str] = {}
    eligible: list[str] = []
    llm = client()
    reply = GAVE_UP
    for _ in range(rules.max_rounds):
        response = llm.messages.create(
            model=model(),
            max_tokens=rules.max_tokens,
            system=system_prompt(rules.version),
            tools=cast("list[ToolParam]", TOOL_SCHEMAS),
            messages=cast("list[MessageParam]", list(messages)),
        )
        content = [_block(block) for block in response.content]
        tool_uses = [block for block in content if block["type"] == "tool_use"]
        if response.stop_reason != "tool_use" or not tool_uses:
            reply = "".join(block["text"] for block in content if block["type"] == "text").strip()
            break
        # The API refuses empty text blocks in a request, and a tool-use turn may carry one.
        sent_back = [block for block in content if block["type"] != "text" or block["text"].strip()]
        messages.append({"role": "assistant", "content": sent_back})
        results: list[dict[str, Any]] = []
        for use in tool_uses:
            text, is_error, result = _run_tool(use["name"], use["input"], customer_id, rules, seen)
            if use["name"] == "check_refund_eligibility" and result and result.get("eligible"):
                eligible.append(str(result["order_id"]))
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": use["id"],
                    "content": text,
                    **({"is_error": True} if is_error else {}),
                }
            )
        messages.append({"role": "user", "content": results})
    if rules.refund_guardrail:
        reply = refund_guardrail(reply, eligible)
    return reply
