"""What a judge call costs, in US dollars.

Prices come, in order, from ``[tool.flywheel.prices]`` (passed in as ``prices``), the tracing piece's
table (``pytest_flywheel.tracing.pricing``) when it is installed, and a small table of current models
here. An unknown model costs 0 and is counted as such (tokens are still reported).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from pytest_flywheel.config import ModelPrice

#: USD per million tokens (input, output); cache reads at 10% of input, writes at 125%.
_FALLBACK: dict[str, ModelPrice] = {
    "claude-opus-5-5": ModelPrice(input=5.0, output=25.0, cache_read=0.5, cache_write=6.25),
    "claude-sonnet-5-5": ModelPrice(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75),
    "claude-haiku-5-5": ModelPrice(input=1.0, output=5.0, cache_read=0.1, cache_write=1.25),
}


def _family(model: str) -> str:
    """``claude-sonnet-5-5-20260101`` → ``claude-sonnet-5-5`` (dated snapshots share their family's price)."""
    parts = model.split("-")
    if len(parts) > 1 and parts[-1].isdigit() and len(parts[-1]) == 8:
        return "-".join(parts[:-1])
    return model


def _from_tracing(model: str) -> ModelPrice | None:
    try:
        module: Any = importlib.import_module("pytest_flywheel.tracing.pricing")
    except ImportError:
        return None
    for name in ("price_for", "get_price", "lookup_price"):
        lookup = getattr(module, name, None)
        if callable(lookup):
            try:
                price = lookup(model)
            except Exception:  # a table we do not understand must not break judging
                return None
            return price if isinstance(price, ModelPrice) else None
    table = getattr(module, "PRICES", None)
    if isinstance(table, Mapping):
        price = table.get(model) or table.get(_family(model))
        return price if isinstance(price, ModelPrice) else None
    return None


def price_for(model: str, prices: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The price of ``model``, or None when no table knows it."""
    for candidate in (model, _family(model)):
        if prices and candidate in prices:
            return prices[candidate]
    found = _from_tracing(model)
    if found is not None:
        return found
    return _FALLBACK.get(model) or _FALLBACK.get(_family(model))


def cost_usd(
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
    prices: Mapping[str, ModelPrice] | None = None,
) -> float:
    """The USD cost of one call's usage (0.0 for a model no table knows)."""
    price = price_for(model, prices)
    if price is None:
        return 0.0
    return (
        input_tokens * price.input
        + output_tokens * price.output
        + cache_read_tokens * price.cache_read
        + cache_creation_tokens * price.cache_write
    ) / 1_000_000
