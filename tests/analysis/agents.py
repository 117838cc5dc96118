"""A small support agent traced with the real SDK (``@track``, ``track_anthropic``), for analysis tests.

Each failure mode the rules name comes from running it against a scripted loopback Messages API
or with a knowledge base that makes a tool misbehave; the same agent with good data gives the
successful trace to compare with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anthropic

from pytest_flywheel.tracing import track, track_anthropic

SYSTEM = "You are the Bramble support agent. Answer only from the documents given."
MODEL = "claude-sonnet-5-5"


class OrderLookupError(ValueError):
    """The order service could not answer."""


#: The help center the agent searches; tests swap its content with :func:`help_center`.
HELP_CENTER: list[str] = []


@contextmanager
def help_center(docs: list[str]) -> Iterator[None]:
    saved = HELP_CENTER[:]
    HELP_CENTER[:] = docs
    try:
        yield
    finally:
        HELP_CENTER[:] = saved


def client_for() -> anthropic.Anthropic:
    """A traced client; the endpoint comes from ANTHROPIC_BASE_URL (tests point it at a loopback server)."""
    return track_anthropic(anthropic.Anthropic(api_key="test-key", max_retries=0))


@track(type="retrieval")
def search_docs(query: str) -> list[dict[str, str]]:
    def stems(text: str) -> set[str]:
        return {word[:5] for word in re.findall(r"[a-z]{4,}", text.lower())} - {"what", "which"}

    wanted = stems(query)
    return [{"text": doc} for doc in HELP_CENTER if wanted & stems(doc)]


@track(entrypoint=True)
def answer_question(question: str, max_tokens: int = 400) -> str:
    """Retrieve, then ask the model to answer from what was retrieved."""
    docs = search_docs(question)
    context = "\n".join(d["text"] for d in docs) or "(no documents found)"
    reply = client_for().messages.create(
        model=MODEL,
        max_tokens=max_tokens,
        system=SYSTEM,
        messages=[{"role": "user", "content": f"Documents:\n{context}\n\nQuestion: {question}"}],
    )
    return "".join(block.text for block in reply.content if block.type == "text")


ORDERS: dict[str, dict[str, Any]] = {"A-1": {"status": "shipped", "items": [{"name": "teapot"}]}}


@track(type="tool")
def fetch_order(order_id: str) -> dict[str, Any]:
    try:
        order = ORDERS[order_id]
        return {"status": order["status"], "sku": order["items"][0]["sku"]}
    except KeyError as exc:
        raise OrderLookupError(f"order {order_id} could not be read") from exc


@track(entrypoint=True)
def order_status(order_id: str) -> str:
    """Raises when the order record lacks a field (the first error and its chain)."""
    order = fetch_order(order_id)
    return f"Order {order_id} is {order['status']}."


@track(type="tool")
def shipping_eta(order_id: str) -> dict[str, Any]:
    if order_id not in ORDERS:
        return {"error": f"order {order_id} not found"}
    return {"eta_days": 3}


@track(entrypoint=True)
def when_will_it_arrive(order_id: str) -> str:
    """Swallows the tool's error payload and answers anyway."""
    eta = shipping_eta(order_id)
    return f"Your order arrives in {eta.get('eta_days', 2)} days."


@track(type="tool")
def check_stock(sku: str) -> dict[str, Any]:
    return {"sku": sku, "in_stock": False}


@track(entrypoint=True)
def stock_agent(question: str, max_rounds: int = 5) -> str:
    """A tool-use loop: the model asks for tools until it answers (or the rounds run out)."""
    client = client_for()
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    tools = [
        {
            "name": "check_stock",
            "description": "Stock of a SKU",
            "input_schema": {"type": "object", "properties": {"sku": {"type": "string"}}},
        }
    ]
    for _ in range(max_rounds):
        reply = client.messages.create(
            model=MODEL,
            max_tokens=300,
            system=SYSTEM,
            tools=tools,  # type: ignore[arg-type]
            messages=messages,
        )  # type: ignore[arg-type]
        uses = [b for b in reply.content if b.type == "tool_use"]
        if not uses:
            return "".join(b.text for b in reply.content if b.type == "text")
        messages.append(
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]}
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": u.id, "content": str(check_stock(**u.input))}
                    for u in uses
                ],
            }
        )
    return "Sorry, I could not find out."


@track(type="tool")
def warehouse_stock(sku: str) -> int:
    raise ConnectionError(f"warehouse API unreachable for {sku}")


@track(entrypoint=True)
def stock_report(skus: list[str]) -> str:
    """Swallows every tool failure and reports what it could (nothing)."""
    lines = []
    for sku in skus:
        try:
            lines.append(f"{sku}: {warehouse_stock(sku)}")
        except ConnectionError:
            lines.append(f"{sku}: unknown")
    return "\n".join(lines)
