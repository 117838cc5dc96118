"""Each rule on hand-built traces in a real store: what fires, on which span, with what evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_flywheel.analysis.compare import compare_trees
from pytest_flywheel.analysis.rules import (
    EntrypointHistory,
    error_payload,
    exception_chain,
    is_empty,
    run_rules,
    specifics,
)
from pytest_flywheel.store import Store
from pytest_flywheel.store.tree import SpanTree

from .builders import TraceBuilder, traceback_text


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "flywheel.db")


def tree_of(store: Store, trace_id: str) -> SpanTree:
    return SpanTree.build(store.get_spans(trace_id), store.get_trace(trace_id))


def test_first_error_is_the_innermost_span_and_reads_the_exception_chain(store: Store) -> None:
    b = TraceBuilder(input={"question": "where is order 42?"})
    tool_error = {
        "type": "ValueError",
        "message": "order lookup failed",
        "traceback": traceback_text(
            ("KeyError", "'sku'", "lookup"), ("ValueError", "order lookup failed", "get_order")
        ),
    }
    lookup = b.span("get_order", "tool", input={"order_id": 42}, error=tool_error)
    b.finish(store, error={"type": "ValueError", "message": "order lookup failed", "traceback": ""})

    findings = run_rules(tree_of(store, b.trace_id))
    first = findings[0]
    assert (first.rule, first.span_id, first.severity) == ("error.first", lookup.id, "critical")
    assert first.evidence.startswith(
        "ValueError: order lookup failed (tools.py:11 in get_order) <- caused by "
        "KeyError: 'sku' (tools.py:10 in lookup)"
    )
    assert "propagated through answer_question" in first.evidence
    # The same span is not reported again as a raising tool.
    assert [f.rule for f in findings].count("error.first") == 1
    assert "tool.raised" not in [f.rule for f in findings]


def test_exception_chain_falls_back_to_type_and_message() -> None:
    assert exception_chain({"type": "TimeoutError", "message": "read timed out"}) == [
        "TimeoutError: read timed out"
    ]


def test_tool_results_empty_error_payload_and_a_second_raise(store: Store) -> None:
    b = TraceBuilder(input={"question": "q"})
    empty = b.span("search_docs", "retrieval", input={"query": "refund"}, output=[])
    payload = b.span("get_weather", "tool", input={"city": "Oslo"}, output={"error": "city not found"})
    flag = b.span("send_email", "tool", input={"to": "a@b"}, output={"ok": False, "reason": "quota"})
    text = b.span("lookup_user", "tool", input={"id": 7}, output="User not found")
    first = b.span("flaky", "tool", input={}, error={"type": "OSError", "message": "boom"})
    second = b.span("flaky2", "tool", input={"n": 1}, error={"type": "OSError", "message": "again"})
    fine = b.span("calc", "tool", input={"x": 1}, output={"value": 0})
    b.finish(store, output="done")

    by_span = {f.span_id: f for f in run_rules(tree_of(store, b.trace_id))}
    assert by_span[empty.id].rule == "tool.empty"
    assert 'returned [] for arguments {"query":"refund"}' in by_span[empty.id].evidence
    assert by_span[payload.id].rule == "tool.error_payload"
    assert 'error="city not found"' in by_span[payload.id].evidence
    assert by_span[flag.id].rule == "tool.error_payload" and "ok=false" in by_span[flag.id].evidence
    assert by_span[text.id].rule == "tool.error_payload"
    assert by_span[first.id].rule == "error.first" and by_span[first.id].severity == "high"
    assert by_span[second.id].rule == "tool.raised"
    assert fine.id not in by_span
    assert by_span[empty.id].suggested_assertion is not None


@pytest.mark.parametrize(
    ("value", "empty", "payload"),
    [
        (None, True, False),
        ("  ", True, False),
        ({}, True, False),
        ([], True, False),
        (0, False, False),
        ({"status": 404}, False, True),
        ({"status": "ok"}, False, False),
        ({"error": None, "data": 1}, False, False),
        ("A long document. " * 30 + "error", False, False),
    ],
)
def test_empty_and_error_payload_shapes(value: object, empty: bool, payload: bool) -> None:
    assert is_empty(value) is empty
    assert (error_payload(value) is not None) is payload


def test_llm_max_tokens_and_refusal(store: Store) -> None:
    b = TraceBuilder(input={"question": "q"})
    cut = b.span(
        "messages.create",
        "llm",
        input={"model": "m", "max_tokens": 50, "messages": []},
        output={
            "content": [{"type": "text", "text": "The refund policy says that you can"}],
            "stop_reason": "max_tokens",
        },
        stop_reason="max_tokens",
        output_tokens=50,
    )
    refused = b.span(
        "messages.create",
        "llm",
        input={"model": "m"},
        output={"content": [{"type": "text", "text": "I can't help with that."}]},
        stop_reason="refusal",
    )
    b.finish(store, output="x")
    findings = {f.span_id: f for f in run_rules(tree_of(store, b.trace_id))}
    assert findings[cut.id].rule == "llm.max_tokens"
    assert "after 50 output tokens (max_tokens=50)" in findings[cut.id].evidence
    assert findings[refused.id].rule == "llm.refusal"


def test_ungrounded_answer_fires_below_threshold_and_not_when_grounded(store: Store) -> None:
    docs = [{"text": "Refunds are accepted within 30 days of purchase with the original receipt."}]
    bad = TraceBuilder(input={"question": "refund window?"})
    bad.span("search_docs", "retrieval", input={"query": "refund"}, output=docs)
    bad.finish(store, output="Our premium membership includes free shipping on every order worldwide.")
    good = TraceBuilder(input={"question": "refund window?"})
    good.span("search_docs", "retrieval", input={"query": "refund"}, output=docs)
    good.finish(store, output="Refunds are accepted within 30 days of purchase if you keep the receipt.")

    bad_findings = [f for f in run_rules(tree_of(store, bad.trace_id)) if f.rule == "answer.ungrounded"]
    assert len(bad_findings) == 1
    assert bad_findings[0].span_id == bad.root.id
    assert (
        "0 of the answer's 8 content words (0%) appear in what search_docs returned"
        in bad_findings[0].evidence
    )
    assert bad_findings[0].confidence == pytest.approx(0.9)
    assert not [f for f in run_rules(tree_of(store, good.trace_id)) if f.rule == "answer.ungrounded"]


def test_an_answer_that_declines_is_not_held_to_the_context(store: Store) -> None:
    docs = [{"text": "Refunds are accepted within 30 days of purchase with the original receipt."}]
    declined = TraceBuilder(input={"question": "refund window?"})
    declined.span("search_docs", "retrieval", input={"query": "refund"}, output=docs)
    declined.finish(store, output="I'm sorry, I could not finish looking into this. Please try again later, or ask a person.")
    claimed = TraceBuilder(input={"question": "refund window?"})
    claimed.span("search_docs", "retrieval", input={"query": "refund"}, output=docs)
    claimed.finish(store, output="Sorry for the wait! Premium members get free express shipping within 2 days worldwide.")

    assert not [f for f in run_rules(tree_of(store, declined.trace_id)) if f.rule == "answer.ungrounded"]
    # an apology that still states figures is held to the context
    assert [f.rule for f in run_rules(tree_of(store, claimed.trace_id)) if f.rule == "answer.ungrounded"] == [
        "answer.ungrounded"
    ]


def test_specifics_are_numbers_and_codes() -> None:
    assert specifics("Use STUDENT10 for 10% off 1,500.00 EUR orders (BL-10226) within a 60-day window") == {
        "student10",
        "10",
        "1500",
        "bl-10226",
        "60",
    }


def test_unsupported_specifics_checks_every_source_the_model_saw(store: Store) -> None:
    b = TraceBuilder(input={"question": "order BL-10226 status?"})
    b.span("lookup", "tool", input={"id": "BL-10226"}, output={"eta_days": 3, "price_eur": 27.0})
    b.span(
        "messages.create",
        "llm",
        input={
            "system": "Refunds take 14 days.",
            "messages": [
                {"role": "user", "content": "order BL-10226 status?"},
                {"role": "assistant", "content": "It costs 99 EUR."},  # the model's own words are no source
            ],
        },
        output={},
    )
    b.finish(
        store,
        output="Order BL-10226 arrives in 3 days; it cost 27.00 EUR, refunds take 14 days, "
        "and it costs 99 EUR with code SAVE5.",
    )
    (finding,) = [
        f for f in run_rules(tree_of(store, b.trace_id)) if f.rule == "answer.unsupported_specifics"
    ]
    assert finding.evidence.startswith("99, save5 in the answer")


def test_repeated_identical_tool_calls(store: Store) -> None:
    b = TraceBuilder(input={"question": "q"})
    calls = [b.span("search", "tool", input={"q": "same"}, output=["x"]) for _ in range(3)]
    b.span("search", "tool", input={"q": "other"}, output=["y"])
    b.span("fetch", "tool", input={"q": "same"}, output=["y"])
    b.span("fetch", "tool", input={"q": "same"}, output=["y"])
    b.finish(store, output="x")
    repeated = [f for f in run_rules(tree_of(store, b.trace_id)) if f.rule == "tool.repeated"]
    assert [(f.span_id, f.span_name) for f in repeated] == [(calls[0].id, "search")]
    assert repeated[0].evidence.startswith('3 calls with {"q":"same"}')


def test_latency_and_cost_outliers_need_history(store: Store) -> None:
    history = EntrypointHistory(
        durations_ms=[100, 110, 95, 105, 120, 90, 100, 115],
        costs_usd=[0.01, 0.011, 0.009, 0.01, 0.012, 0.01, 0.01, 0.011],
    )
    slow = TraceBuilder(input={"question": "q"})
    slow.finish(store, output="ok", duration_ms=2500, cost_usd=0.2)
    findings = {f.rule: f for f in run_rules(tree_of(store, slow.trace_id), history)}
    assert "2,500 ms vs a median of 102 ms" in findings["latency.outlier"].evidence
    assert findings["latency.outlier"].suggested_assertion == {
        "max_latency_ms": 205
    }  # twice the median beats median + 5 robust sigmas (158)
    assert findings["cost.outlier"].rule == "cost.outlier"
    # Too few samples: silent.
    few = EntrypointHistory(durations_ms=[100, 110], costs_usd=[0.01, 0.01])
    assert not [f for f in run_rules(tree_of(store, slow.trace_id), few) if f.rule.endswith("outlier")]
    # Usual latency: silent.
    usual = TraceBuilder(input={"question": "q"})
    usual.finish(store, output="ok", duration_ms=118, cost_usd=0.011)
    assert not [f for f in run_rules(tree_of(store, usual.trace_id), history) if f.rule.endswith("outlier")]


def test_a_few_milliseconds_over_a_tiny_usual_is_not_a_latency_outlier(store: Store) -> None:
    # an in-process agent answers in a fraction of a millisecond: 6x that is noise, not a slow request
    history = EntrypointHistory(durations_ms=[0.05, 0.06, 0.05, 0.07, 0.05, 0.06, 0.05, 0.06], costs_usd=[0.0] * 8)
    blip = TraceBuilder(input={"question": "q"})
    blip.finish(store, output="ok", duration_ms=0.4)
    assert not [f for f in run_rules(tree_of(store, blip.trace_id), history) if f.rule == "latency.outlier"]
    stuck = TraceBuilder(input={"question": "q"})
    stuck.finish(store, output="ok", duration_ms=350)
    assert [f.rule for f in run_rules(tree_of(store, stuck.trace_id), history)] == ["latency.outlier"]


def test_a_clean_trace_has_no_findings(store: Store) -> None:
    b = TraceBuilder(input={"question": "q"})
    b.span("search", "tool", input={"q": "a"}, output=["doc"])
    b.finish(store, output="answer")
    assert run_rules(tree_of(store, b.trace_id)) == []


def test_alignment_reports_the_first_divergence_in_step_order(store: Store) -> None:
    bad = TraceBuilder(input={"question": "reset my password"})
    b_plan = bad.span("plan", "general", input={"q": "reset my password"})
    b_search = bad.span("search", "retrieval", parent=b_plan, input={"query": "password reset"}, output=[])
    bad.span("answer", "llm", input={"system": "Be brief.", "model": "m"}, output={"content": []})
    bad.span("escalate", "tool", input={"ticket": True}, output={"id": 1})
    bad.finish(store, output="x")
    good = TraceBuilder(input={"question": "reset my password please"})
    g_plan = good.span("plan", "general", input={"q": "reset my password"})
    g_search = good.span(
        "search",
        "retrieval",
        parent=g_plan,
        input={"query": "reset password"},
        output=[{"text": "Use the reset link."}],
    )
    good.span("answer", "llm", input={"system": "Be brief and cite.", "model": "m"}, output={"content": []})
    good.finish(store, output="y")

    diffs = compare_trees(tree_of(store, bad.trace_id), tree_of(store, good.trace_id))
    kinds = [(d.kind, d.path) for d in diffs]
    assert kinds[0] == ("empty_result", "answer_question > plan > search")
    assert diffs[0].bad_span_id == b_search.id and diffs[0].good_span_id == g_search.id
    assert kinds[1:] == [
        ("different_arguments", "answer_question > plan > search"),
        ("different_prompt", "answer_question > answer"),
        ("extra_step", "answer_question > escalate"),
    ]


def test_a_big_trace_is_analysed_and_reported_in_bounded_form(store: Store) -> None:
    from pytest_flywheel.analysis import AnalyzeOptions, analyze
    from pytest_flywheel.analysis.report import render_text

    good = TraceBuilder(input={"question": "q"})
    good.span("search", "tool", input={"q": 0}, output=["x"])
    good.finish(store, output="a")
    big = TraceBuilder(input={"question": "q"})
    for n in range(1500):
        big.span("search", "tool", input={"q": n % 40}, output=["x"])
    big.finish(store, output="a")
    analysis = analyze(store, big.trace_id, AnalyzeOptions(use_llm=False))
    assert len([f for f in analysis.findings if f.rule == "tool.repeated"]) == 40
    assert analysis.comparison is not None
    # Paths number same-named siblings.
    assert analysis.comparison.differences[0].path == "answer_question > search[2]"
    text = render_text(analysis)
    assert "  ... 28 more findings (tool.repeated); --json lists them all" in text
    assert "... 1441 more spans" in text


def test_a_loop_of_identical_error_replies_is_one_finding_that_counts_them(store: Store) -> None:
    b = TraceBuilder(input={"question": "where is order 77?"})
    loop = [
        b.span("lookup_order", "tool", input={"order_id": "77"}, output={"error": "No order 77 was found."})
        for _ in range(8)
    ]
    b.span("lookup_order", "tool", input={"order_id": "78"}, output={"error": "No order 78 was found."})
    b.finish(store, output="Your order is on its way.")
    findings = run_rules(tree_of(store, b.trace_id))
    payloads = [f for f in findings if f.rule == "tool.error_payload"]
    assert [(f.span_id, f.title) for f in payloads] == [
        (loop[0].id, "tool lookup_order returned an error (8 identical calls)"),
        (payloads[1].span_id, "tool lookup_order returned an error"),
    ]
    assert "8 identical calls: spans " + ", ".join(s.id for s in loop[:4]) + ", ..." in payloads[0].evidence
    assert [f.rule for f in findings].count("tool.repeated") == 1


def _specifics_reference(text: str) -> set[str]:
    """The code test of :func:`specifics` without its all-letters/all-digits short cut."""
    import re

    found: set[str] = set()

    def code(match: re.Match[str]) -> str:
        token = match.group(0)
        has_digit = any(c.isdigit() for c in token)
        has_letter = any(c.isalpha() for c in token)
        if has_digit and has_letter and (any(c.isupper() for c in token) or re.search(r"[A-Za-z]\d|\d[A-Za-z]", token)):
            found.add(token.lower())
            return " "
        return token

    rest = re.sub(r"[A-Za-z0-9][\w-]*[A-Za-z0-9]", code, text)
    for number in re.findall(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,])|(?<![\w.,])\d+(?:\.\d+)?", rest):
        found.add(f"{float(number.replace(',', '')):g}")
    return found


def test_specifics_short_cut_agrees_with_the_full_test() -> None:
    import random

    rng = random.Random(5)
    alphabet = "abcXYZ0123456789-_.,é² %$#"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30)))
        assert specifics(text) == _specifics_reference(text), text
