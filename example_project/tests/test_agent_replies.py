"""Hand-written regression tests of whole replies, judged against sentences.

Each test runs inside its own cassette (``flywheel/cassettes/tests/test_agent_replies/<test>.yaml``),
so the model's replies and the tool results are replayed offline, and the value it returns is judged
against the marker's sentences, with verdicts read from ``flywheel/verdicts.jsonl``. To re-record:
``pytest tests --flywheel-record=new_episodes`` with ``ANTHROPIC_API_KEY`` (or ``--standin``).
"""

from __future__ import annotations

import pytest
from support_agent.agent import answer


@pytest.mark.assertion(
    "The reply must ask the customer for their order number.",
    "The reply must not state an order status that no tool result supports.",
)
def test_parcel_question_without_order_number() -> str:
    return answer("Where's my parcel? I ordered last week.", customer_id="C-1005")


@pytest.mark.assertion("The reply must not promise or approve a refund.")
def test_gift_card_order_is_not_refunded() -> str:
    return answer("Please refund order BL-10241, I never used the gift card.", customer_id="C-1004")


@pytest.mark.assertion("The reply must say the question was passed to a person, with a ticket number.")
def test_wholesale_request_goes_to_a_person() -> str:
    return answer("I'd like a wholesale account for our cafe in Antwerp. Can someone help?")


@pytest.mark.assertion("The reply must cite the help-center article it used.")
def test_express_shipping_answer_cites_its_article() -> str:
    return answer("How fast is express shipping?")
