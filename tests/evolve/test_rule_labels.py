"""Each rule label of the taxonomy, on real traces: the example's simulated production (its agent,
the real SDK, the stand-in model) and an agent over tau-bench's retail shop from the shared corpus
(the real SDK against the loopback Messages API)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flywheel.evolve.taxonomy import RULE_LABELS, is_validation_error
from pytest_flywheel.store import Store
from pytest_flywheel.testing import MessagesAPIServer
from pytest_flywheel.testing.messages_api import ErrorReply, text_message, tool_use_message
from pytest_flywheel.tracing import flush

from . import retail
from .helpers import ground_truth, label, simulated_example


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_example(tmp_path_factory.mktemp("example"))


def test_rule_labels_on_the_example_match_what_the_simulator_injected(example: Path) -> None:
    truth = ground_truth(example)
    with Store(example / ".flywheel" / "flywheel.db", readonly=True) as store:
        labelled = {trace_id: label(store, trace_id) for trace_id in truth}
    names = {trace_id: set(failing.label_names) for trace_id, failing in labelled.items()}

    def having(kind: str) -> set[str]:
        return {t for t, entry in truth.items() if kind in entry["injected"]}

    def labelled_with(name: str) -> set[str]:
        return {t for t, found in names.items() if name in found}

    loop, no_argument = having("repeated_tool_call"), having("missing_tool_argument")
    assert loop and no_argument and having("rambling_reply")
    # a tool returned an error exactly where the order did not exist or had no number
    assert labelled_with("tool_error_result") == having("unknown_order") | no_argument
    assert labelled_with("tool_repeated") == loop
    assert {labelled[t].signature.text for t in no_argument} == {"lookup_order: error_result (customer_id, order_id=∅)"}
    assert {labelled[t].signature.text for t in loop} == {"lookup_order: error_result (customer_id, order_id)"}
    # figures in the answer that nothing gave it: only where the stand-in made figures up
    assert labelled_with("unsupported_figures") and labelled_with("unsupported_figures") <= having("invented_figures")
    canada = {t for t, entry in truth.items() if "Canada" in entry["question"]}
    assert canada and canada <= labelled_with("unsupported_figures")
    # the rambling overview costs ten times the entrypoint's usual; nothing else does
    assert having("rambling_reply") <= labelled_with("cost_outlier") <= having("rambling_reply") | loop
    # a hand-off question finds no help-center article: an empty retrieval
    handoff = {t for t, entry in truth.items() if "human" in entry["question"] or "person" in entry["question"]}
    assert handoff and handoff <= labelled_with("tool_empty_result")


@pytest.fixture
def shop(corpus: Path, messages_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    retail.load(corpus)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    with Store(Path(os.environ["FLYWHEEL_STORE"])) as store:
        yield store


def _last_trace(store: Store) -> str:
    assert flush(10.0)
    row = store.conn.execute("SELECT id FROM traces ORDER BY start_time DESC LIMIT 1").fetchone()
    return str(row["id"])


def _instruction(corpus: Path, index: int) -> str:
    tasks = json.loads((corpus / "tau-bench-retail" / "tasks_test.json").read_text(encoding="utf-8"))
    return str(tasks[index]["instruction"])


def test_rule_labels_on_tau_bench_retail_traces(shop: Store, messages_api: MessagesAPIServer, corpus: Path) -> None:
    orders = retail.SHOP["orders"]
    pending = next(order_id for order_id, order in orders.items() if order["status"] == "pending")
    prices = {item["price"] for item in orders[pending]["items"]}
    found: dict[str, set[str]] = {}

    def run(name: str, *replies: dict[str, object] | ErrorReply, instruction: int = 0, add: str = "") -> None:
        messages_api.queue(*replies)
        try:
            retail.retail_agent(_instruction(corpus, instruction) + add)
        except KeyError:
            pass  # the uncaught tool failure: the trace records it
        found[name] = set(label(shop, _last_trace(shop)).label_names)

    missing = "#W0000000"
    run("loop", *[tool_use_message("get_order_details", {"order_id": missing})] * 3,
        text_message("I could not find that order."))  # fmt: skip
    run("invalid", tool_use_message("cancel_pending_order", {"order_id": pending, "reason": "too expensive"}),
        text_message(f"Order {pending} is cancelled."), instruction=1, add=f" Cancel order {pending}.")  # fmt: skip
    assert 999.99 not in prices
    run("figures", tool_use_message("get_order_details", {"order_id": pending}),
        text_message(f"Your refund of 999.99 USD for order {pending} is on its way."), instruction=2)  # fmt: skip
    run("cut", text_message("Let me check your order and then", stop_reason="max_tokens"), instruction=3)
    run("refused", text_message("I can't help with that.", stop_reason="refusal"), instruction=4)
    run("api_error", ErrorReply(529, "overloaded_error", "Overloaded"), instruction=5)
    run("crash", tool_use_message("get_user_details", {"user_id": "no_such_user_0000"}), instruction=6)
    run("ungrounded", tool_use_message("search_policy", {"query": "cancel pending order refund"}),
        text_message("Our astrology club meets under the full moon: bring crystals, incense and tarot decks."),
        instruction=7)  # fmt: skip
    run("quick", text_message("Happy to help."), instruction=8)  # the eighth trace: history enough to compare
    messages_api.delay = 1.0  # the model now takes a second: far above this entrypoint's usual
    run("slow", text_message("Happy to help."), instruction=9)

    assert found["loop"] == {"tool_error_result", "tool_repeated"}
    assert found["invalid"] == {"tool_raised", "validation_error"}
    assert found["figures"] == {"unsupported_figures"}
    assert found["cut"] == {"max_tokens"}
    assert found["refused"] == {"refusal"}
    assert found["api_error"] == {"step_raised"}
    assert found["crash"] == {"tool_raised", "unhandled_exception"}
    assert found["ungrounded"] == {"ungrounded_answer"}
    assert found["quick"] == set()
    assert found["slow"] == {"latency_outlier"}
    # every rule label but two is seen here; the example's traces show those (the test above)
    assert {d.name for d in RULE_LABELS} - set().union(*found.values()) == {"tool_empty_result", "cost_outlier"}


def test_validation_error_types() -> None:
    for name in ("pydantic_core._pydantic_core.ValidationError", "jsonschema.exceptions.ValidationError",
                 "json.decoder.JSONDecodeError", "SchemaError", "yaml.parser.ParseError"):  # fmt: skip
        assert is_validation_error(name), name
    for name in ("ValueError", "KeyError", "TimeoutError", "InvalidStateError"):
        assert not is_validation_error(name), name
