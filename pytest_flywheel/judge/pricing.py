"""What a judge call costs, in US dollars: the tracing piece's price table
(:mod:`pytest_flywheel.tracing.pricing`, with ``[tool.flywheel.prices]`` as overrides), so a judge
call and a traced agent call of the same model always cost the same.

A model no table knows costs 0 here (its tokens are still counted and reported).
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_flywheel.config import ModelPrice


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
    from pytest_flywheel.tracing import pricing  # imported on the first judge call, not with the judge

    cost = pricing.cost_usd(
        model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_creation_tokens=cache_creation_tokens,
        overrides=dict(prices) if prices else None,
    )
    return cost or 0.0
