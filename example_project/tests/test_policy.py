"""Plain unit tests of the agent's deterministic parts: the refund policy, retrieval, tool checks."""

from __future__ import annotations

import pytest
from support_agent.agent import REFUND_NOT_CONFIRMED, refund_guardrail
from support_agent.retrieval import search_help_center
from support_agent.shop import find_order, refund_decision
from support_agent.tools import validation_error


@pytest.mark.parametrize(
    ("order_id", "condition", "eligible"),
    [
        ("BL-10231", "unused", True),  # teaware, 14 days after delivery
        ("BL-10198", "unused", False),  # teaware, 55 days: past the 30-day window
        ("BL-10217", "unused", False),  # Last Leaves clearance: final sale
        ("BL-10239", "opened", False),  # opened tea
        ("BL-10226", "damaged", True),  # damaged, reported within 7 days
        ("BL-10241", "unused", False),  # gift card
        ("BL-10244", "unused", False),  # still processing: cancel instead
        ("BL-10207", "unopened", False),  # unopened tea, 17 days: past the 14-day window
    ],
)
def test_refund_policy(order_id: str, condition: str, eligible: bool) -> None:
    order = find_order(order_id)
    assert order is not None
    assert refund_decision(order, condition)["eligible"] is eligible


def test_damaged_refund_includes_shipping() -> None:
    order = find_order("BL-10226")
    assert order is not None
    assert refund_decision(order, "damaged")["refund_eur"] == 31.90


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("How much is shipping?", "shipping-costs"),
        ("Do you ship to Canada?", "international-shipping"),
        ("Can I return tea I've opened?", "returns-and-refunds"),
        ("How much caffeine is in green tea?", "caffeine"),
        ("I forgot my password", "password-reset"),
    ],
)
def test_retrieval_ranks_the_right_article_first(question: str, article: str) -> None:
    assert search_help_center(question, top_k=1)[0]["id"] == article


def test_tool_validation_asks_for_a_missing_order_number() -> None:
    problem = validation_error("lookup_order", {})
    assert problem is not None and "Ask the customer for their order number" in problem
    assert validation_error("lookup_order", {"order_id": "BL-10231"}) is None
    assert "not an order number" in (validation_error("lookup_order", {"order_id": "BL-1234"}) or "")


def test_guardrail_stops_an_unchecked_refund_promise() -> None:
    promise = "As promised, I've approved your refund for order BL-10217."
    assert refund_guardrail(promise, eligible_orders=[]) == REFUND_NOT_CONFIRMED
    assert refund_guardrail(promise, eligible_orders=["BL-10217"]) == promise
