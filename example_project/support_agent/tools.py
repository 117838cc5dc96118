"""The agent's tools: what the model may call, their JSON schemas, and the dispatcher that runs them.

Each tool is a ``@track(type="tool")`` function, so production traces show every call with its
arguments and result, and a regression case replays the recorded result instead of touching the
shop's systems.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from pytest_flywheel import track
from support_agent.shop import CONDITIONS, find_customer_by_email, find_order, refund_decision

ORDER_ID = re.compile(r"^BL-\d{5}$")


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:6].upper()


def _order_for(order_id: str, customer_id: str | None) -> dict[str, Any]:
    order = find_order(order_id)
    if order is None:
        return {"error": f"No order {order_id} was found."}
    if customer_id and order["customer_id"] != customer_id:
        return {"error": f"Order {order_id} belongs to another account."}
    return order


@track(type="tool")
def lookup_order(order_id: str, customer_id: str | None = None) -> dict[str, Any]:
    """The order's status, items, dates and tracking, or ``{"error": ...}``."""
    return _order_for(order_id, customer_id)


@track(type="tool")
def check_refund_eligibility(order_id: str, condition: str, customer_id: str | None = None) -> dict[str, Any]:
    """Whether the shop's refund policy allows a refund for ``order_id`` with items in ``condition``."""
    # Not through lookup_order: a tool calling a tool would nest two recorded calls, and a replay
    # that answers the outer one from the cassette would never make the inner one.
    order = _order_for(order_id, customer_id)
    if "error" in order:
        return order
    return {"order_id": order["id"], **refund_decision(order, condition)}


@track(type="tool")
def send_password_reset(email: str) -> dict[str, Any]:
    """Email a reset link (valid 30 minutes). The link never appears in the chat."""
    # Same answer whether or not the account exists, so the chat cannot be used to probe for accounts.
    find_customer_by_email(email)
    return {"sent": True, "to": email.strip().lower(), "expires_in_minutes": 30}


@track(type="tool")
def handoff_to_human(summary: str, customer_id: str | None = None) -> dict[str, Any]:
    """Open a ticket for the customer care team."""
    return {
        "ticket_id": f"HO-{_short_hash(summary, customer_id or '')}",
        "team": "customer care",
        "expected_reply": "within 4 working hours (Monday to Friday, 9:00 to 17:00 CET)",
    }


TOOL_FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "lookup_order": lookup_order,
    "check_refund_eligibility": check_refund_eligibility,
    "send_password_reset": send_password_reset,
    "handoff_to_human": handoff_to_human,
}

_ORDER_ID_SCHEMA = {"type": "string", "description": "The order number: BL- followed by five digits."}

TOOL_SCHEMAS: list[dict[str, Any]] = [
    {
        "name": "lookup_order",
        "description": "Look up one of the customer's orders: status, items, dates, carrier and tracking.",
        "input_schema": {
            "type": "object",
            "properties": {"order_id": _ORDER_ID_SCHEMA},
            "required": ["order_id"],
        },
    },
    {
        "name": "check_refund_eligibility",
        "description": "Check the refund policy for an order. Call it before saying anything about a refund.",
        "input_schema": {
            "type": "object",
            "properties": {
                "order_id": _ORDER_ID_SCHEMA,
                "condition": {
                    "type": "string",
                    "enum": list(CONDITIONS),
                    "description": "The state of the items the customer wants to return.",
                },
            },
            "required": ["order_id", "condition"],
        },
    },
    {
        "name": "send_password_reset",
        "description": "Email a password reset link to the address on the customer's account.",
        "input_schema": {
            "type": "object",
            "properties": {"email": {"type": "string"}},
            "required": ["email"],
        },
    },
    {
        "name": "handoff_to_human",
        "description": "Hand the conversation to the customer care team, with a short summary for them.",
        "input_schema": {
            "type": "object",
            "properties": {"summary": {"type": "string"}},
            "required": ["summary"],
        },
    },
]


def validation_error(name: str, arguments: dict[str, Any]) -> str | None:
    """Why the model's call cannot run, phrased for the model, or None when it can.

    The fix for the production traces where the model called ``lookup_order`` with no order number:
    instead of running the tool (and the model then inventing a status), tell the model what to do.
    """
    schema = next((tool["input_schema"] for tool in TOOL_SCHEMAS if tool["name"] == name), None)
    if schema is None:
        return f"There is no tool named {name!r}. Use one of: {', '.join(TOOL_FUNCTIONS)}."
    missing = [key for key in schema["required"] if not str(arguments.get(key) or "").strip()]
    if missing:
        hint = (
            " Ask the customer for their order number (BL- and five digits); do not guess it."
            if "order_id" in missing
            else " Ask the customer for it."
        )
        return f"{name} needs {', '.join(missing)}, which the call did not give.{hint}"
    order_id = arguments.get("order_id")
    if order_id is not None and not ORDER_ID.match(str(order_id).strip().upper()):
        return (
            f"{order_id!r} is not an order number (they look like BL-10234). Ask the customer to check "
            "the number on their confirmation email."
        )
    condition = arguments.get("condition")
    if condition is not None and condition not in CONDITIONS:
        return f"condition must be one of {', '.join(CONDITIONS)}; got {condition!r}."
    return None
