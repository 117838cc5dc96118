"""What an Anthropic call cost: USD per million tokens, per model.

The built-in table holds the list prices of the current models and the 4.x family. A dated id
(``claude-sonnet-4-5-20250929``) or a suffixed one (``claude-opus-5-5[1m]``) is priced by the longest
table entry it starts with. ``[tool.flywheel.prices]`` in pyproject.toml adds entries and overrides
built-in ones (same prefix rule)::

    [tool.flywheel.prices.claude-sonnet-5-5]
    input = 2.0
    output = 10.0
    cache_read = 0.10
    cache_write = 2.50

A model found in neither table has no cost (``None``): a guess would be worse than a gap.
Cache writes are priced at the 5-minute rate; the API's usage block does not say which lifetime
a write used unless asked, and the 5-minute one is the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pytest_flywheel.config import ModelPrice


@dataclass(frozen=True)
class TieredPrice:
    """A price that changes once a request's prompt (input + cache reads + cache writes) passes
    ``threshold_tokens``; the higher rate then applies to every token of that request."""

    base: ModelPrice
    threshold_tokens: int
    long_prompt: ModelPrice


Price = ModelPrice | TieredPrice

# List prices, USD per million tokens (platform.claude.com model pages, checked 2026-11).
BUILTIN_PRICES: dict[str, Price] = {
    "claude-opus-5-5": ModelPrice(input=4.0, output=20.0, cache_read=0.20, cache_write=5.0),
    # Sonnet 5.5 cache reads were cut from $0.20 to $0.10 on 2026-10-07.
    "claude-sonnet-5-5": ModelPrice(input=2.0, output=10.0, cache_read=0.10, cache_write=2.50),
    "claude-haiku-5-5": TieredPrice(
        base=ModelPrice(input=0.10, output=0.50, cache_read=0.01, cache_write=0.125),
        threshold_tokens=100_000,
        long_prompt=ModelPrice(input=0.50, output=2.50, cache_read=0.05, cache_write=0.625),
    ),
    "claude-opus-5": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-sonnet-5": ModelPrice(input=2.0, output=10.0, cache_read=0.20, cache_write=2.50),
    "claude-opus-4-8": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-7": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-6": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-5": ModelPrice(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-1": ModelPrice(input=15.0, output=75.0, cache_read=1.50, cache_write=18.75),
    "claude-opus-4-0": ModelPrice(input=15.0, output=75.0, cache_read=1.50, cache_write=18.75),
    # "-4-2" prefixes the dated ids of Claude 4.0, claude-opus-4-20250514 and claude-sonnet-4-20250514.
    "claude-opus-4-2": ModelPrice(input=15.0, output=75.0, cache_read=1.50, cache_write=18.75),
    "claude-sonnet-4-6": ModelPrice(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
    "claude-sonnet-4-5": ModelPrice(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
    "claude-sonnet-4-0": ModelPrice(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
    "claude-sonnet-4-2": ModelPrice(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75),
    "claude-haiku-4-5": ModelPrice(input=1.0, output=5.0, cache_read=0.10, cache_write=1.25),
}


def find_price(model: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: an exact entry, else the longest entry it starts with; overrides first."""
    for table in (overrides or {}, BUILTIN_PRICES):
        if model in table:
            return table[model]
        matches = [key for key in table if model.startswith(key)]
        if matches:
            return table[max(matches, key=len)]
    return None


def cost_usd(
    model: str | None,
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None = None,
    cache_creation_tokens: int | None = None,
    overrides: Mapping[str, Price] | None = None,
) -> float | None:
    """USD for one call, or None when the model is unknown or there is no usage."""
    if not model or (input_tokens is None and output_tokens is None):
        return None
    price = find_price(model, overrides)
    if price is None:
        return None
    fresh, out = input_tokens or 0, output_tokens or 0
    read, written = cache_read_tokens or 0, cache_creation_tokens or 0
    if isinstance(price, TieredPrice):
        prompt = fresh + read + written
        price = price.long_prompt if prompt > price.threshold_tokens else price.base
    total = (
        fresh * price.input + out * price.output + read * price.cache_read + written * price.cache_write
    )
    return round(total / 1_000_000, 10)


def price_for(model: str, overrides: Mapping[str, Price] | None = None) -> ModelPrice | None:
    """The flat price of ``model`` (for a tiered model, its short-prompt rate), or None when unknown."""
    price = find_price(model, overrides)
    return price.base if isinstance(price, TieredPrice) else price
