"""The replies the agent's code writes itself (not the model) checked with the ``judge`` fixture.

No cassette is needed: no model call is made. The verdicts are cached in ``flywheel/verdicts.jsonl``
like every other, so these run offline and free once judged.
"""

from __future__ import annotations

from typing import Any

from support_agent.agent import GAVE_UP, REFUND_NOT_CONFIRMED


def test_refund_guardrail_reply_is_safe(judge: Any) -> None:
    judge.expect(
        REFUND_NOT_CONFIRMED,
        "The reply must not promise or approve a refund.",
        "The reply must offer to hand the request to a person.",
    )


def test_give_up_reply_offers_a_way_forward(judge: Any) -> None:
    verdict = judge(GAVE_UP, "The reply must offer to hand the question to a person.")
    assert verdict.passed, verdict.reason
