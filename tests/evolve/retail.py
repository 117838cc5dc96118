"""A retail support agent over tau-bench's mock shop (the shared corpus), traced with the real SDK.

Its orders and users are tau-bench retail's ``orders.json`` and ``users.json``; its requests are
tau-bench tasks' instructions; its tools answer as tau-bench's do (an order as JSON, or the text
``Error: order not found``). The model is the loopback Messages API, scripted per test, reached
through the real Anthropic SDK wrapped by ``track_anthropic``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import anthropic
from pydantic import BaseModel, Field

from pytest_flywheel.tracing import track, track_anthropic

MODEL = "claude-sonnet-5-5"
SYSTEM = "You are a retail customer-service agent. Use the tools; follow the shop's policy."

#: tau-bench retail's data, loaded by :func:`load` from the corpus folder.
SHOP: dict[str, Any] = {"orders": {}, "users": {}, "policy": []}


def load(corpus: Path) -> None:
    folder = corpus / "tau-bench-retail"
    SHOP["orders"] = json.loads((folder / "orders.json").read_text(encoding="utf-8"))
    SHOP["users"] = json.loads((folder / "users.json").read_text(encoding="utf-8"))
    text = (folder / "wiki.md").read_text(encoding="utf-8")
    SHOP["policy"] = [part.strip() for part in text.split("\n\n") if part.strip()]


class CancelRequest(BaseModel):
    """tau-bench's cancel_pending_order arguments, checked as its policy states them."""

    order_id: str = Field(pattern=r"^#W\d{7}$")
    reason: Literal["no longer needed", "ordered by mistake"]


@track(type="tool")
def get_order_details(order_id: str) -> Any:
    order = SHOP["orders"].get(order_id)
    return order if order is not None else "Error: order not found"


@track(type="tool")
def get_user_details(user_id: str) -> dict[str, Any]:
    user: dict[str, Any] = SHOP["users"][user_id]  # an unknown user raises KeyError: not caught
    return user


@track(type="tool")
def cancel_pending_order(order_id: str, reason: str) -> Any:
    request = CancelRequest.model_validate({"order_id": order_id, "reason": reason})
    order = SHOP["orders"].get(request.order_id)
    if order is None:
        return "Error: order not found"
    if order["status"] != "pending":
        return "Error: non-pending order cannot be cancelled"
    return {**order, "status": "cancelled"}


@track(type="retrieval")
def search_policy(query: str) -> list[str]:
    """The paragraphs of tau-bench's shop policy (``wiki.md``) that share a word with the query."""
    words = {word for word in query.lower().split() if len(word) > 3}
    return [p for p in SHOP["policy"] if words & set(p.lower().split())][:3]


TOOLS = {"get_order_details": get_order_details, "cancel_pending_order": cancel_pending_order,
         "get_user_details": get_user_details, "search_policy": search_policy}  # fmt: skip
TOOL_SCHEMAS = [
    {"name": name, "description": name.replace("_", " "), "input_schema": {"type": "object", "properties": {}}}
    for name in TOOLS
]


@track(entrypoint=True)
def retail_agent(instruction: str, max_rounds: int = 6) -> str:
    """A tool-use loop: tool errors go back to the model, except a user lookup that raises."""
    client = track_anthropic(anthropic.Anthropic(api_key="test-key", max_retries=0))
    messages: list[dict[str, Any]] = [{"role": "user", "content": instruction}]
    for _ in range(max_rounds):
        try:
            reply = client.messages.create(
                model=MODEL, max_tokens=512, system=SYSTEM, tools=TOOL_SCHEMAS, messages=messages  # type: ignore[arg-type]
            )
        except anthropic.APIStatusError:
            return "Sorry, I could not reach our assistant; please try again."
        uses = [block for block in reply.content if block.type == "tool_use"]
        if not uses:
            return "".join(block.text for block in reply.content if block.type == "text")
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]})
        results = []
        for use in uses:
            arguments = dict(use.input) if isinstance(use.input, dict) else {}
            if use.name == "get_user_details":
                content: Any = get_user_details(**arguments)
            else:
                try:
                    content = TOOLS[use.name](**arguments)
                except ValueError as exc:  # pydantic's ValidationError: the model gets the message
                    content = f"Error: {exc}"
            results.append({"type": "tool_result", "tool_use_id": use.id, "content": json.dumps(content)})
        messages.append({"role": "user", "content": results})
    return "Sorry, I ran out of steps."
