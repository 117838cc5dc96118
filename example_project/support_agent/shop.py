"""Bramble & Leaf, the small online tea shop the example agent works for: its data and its refund policy.

All of it is invented for this example. The shop's clock is frozen at ``today`` in ``data/shop.json``
so that answers about delivery windows do not change with the calendar (and recorded cassettes stay
valid).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Article:
    """One help-center article."""

    id: str
    title: str
    body: str


@cache
def _shop() -> dict[str, Any]:
    text = resources.files("support_agent").joinpath("data/shop.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def help_center() -> tuple[Article, ...]:
    """The help center's articles, in file order."""
    text = resources.files("support_agent").joinpath("data/help_center.json").read_text(encoding="utf-8")
    return tuple(Article(**entry) for entry in json.loads(text))


def article(article_id: str) -> Article:
    for entry in help_center():
        if entry.id == article_id:
            return entry
    raise KeyError(article_id)


def today() -> date:
    return date.fromisoformat(_shop()["today"])


def shop_name() -> str:
    return str(_shop()["shop"])


def find_order(order_id: str) -> dict[str, Any] | None:
    for order in _shop()["orders"]:
        if order["id"] == order_id.strip().upper():
            return dict(order)
    return None


def find_customer_by_email(email: str) -> dict[str, Any] | None:
    for customer in _shop()["customers"]:
        if customer["email"] == email.strip().lower():
            return dict(customer)
    return None


# The refund policy of the "returns-and-refunds", "damaged-items" and "wrong-item" articles, as code.
CONDITIONS = ("unused", "unopened", "opened", "damaged", "wrong_item")


def refund_decision(order: dict[str, Any], condition: str) -> dict[str, Any]:
    """Whether ``order`` can be refunded when its items are in ``condition``, and why."""
    if order["status"] == "processing":
        return {
            "eligible": False,
            "reason": "The order has not shipped yet: it can be cancelled instead, free of charge.",
            "policy_article": "cancel-order",
        }
    if order["status"] != "delivered":
        return {
            "eligible": False,
            "reason": "The order is on its way and has not been delivered yet; only "
            "delivered orders can be refunded.",
            "policy_article": "returns-and-refunds",
        }
    days = (today() - date.fromisoformat(order["delivered"])).days
    items = order["items"]
    total = sum(item["price_eur"] for item in items)
    if any(item.get("clearance") for item in items):
        return {
            "eligible": False,
            "reason": "Items from the Last Leaves clearance sale are final sale.",
            "policy_article": "returns-and-refunds",
            "days_since_delivery": days,
        }
    if any(item["kind"] == "gift_card" for item in items):
        return {
            "eligible": False,
            "reason": "Gift cards cannot be refunded.",
            "policy_article": "gift-cards",
            "days_since_delivery": days,
        }
    if condition == "damaged":
        ok = days <= 7
        return {
            "eligible": ok,
            "refund_eur": round(total + order["shipping_eur"], 2) if ok else 0.0,
            "reason": "Damaged items reported within 7 days are refunded in full, shipping included."
            if ok
            else f"Damage must be reported within 7 days of delivery; it is {days} days.",
            "policy_article": "damaged-items",
            "days_since_delivery": days,
        }
    if condition == "wrong_item":
        ok = days <= 14
        return {
            "eligible": ok,
            "refund_eur": round(total, 2) if ok else 0.0,
            "reason": "A wrong item reported within 14 days is replaced or refunded at no cost."
            if ok
            else f"A wrong item must be reported within 14 days of delivery; it is {days} days.",
            "policy_article": "wrong-item",
            "days_since_delivery": days,
        }
    kinds = {item["kind"] for item in items}
    if "tea" in kinds and condition == "opened":
        return {
            "eligible": False,
            "reason": "Opened tea cannot be returned.",
            "policy_article": "returns-and-refunds",
            "days_since_delivery": days,
        }
    window = 14 if "tea" in kinds else 30
    ok = days <= window
    return {
        "eligible": ok,
        "refund_eur": round(total, 2) if ok else 0.0,
        "reason": f"Returned within {window} days of delivery, unused and in the original box: refunded "
        "to the original payment method within 5 working days of arrival; return shipping is paid by "
        "the customer."
        if ok
        else f"The return window is {window} days from delivery; it has been {days} days.",
        "policy_article": "returns-and-refunds",
        "days_since_delivery": days,
    }
