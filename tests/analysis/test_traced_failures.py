"""Each failure mode the rules name, in traces written by the real tracing SDK (``@track``,
``track_anthropic`` against the loopback Messages API), with a good trace to compare with."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flywheel.analysis import Analysis, AnalyzeOptions, analyze
from pytest_flywheel.cli.main import main
from pytest_flywheel.config import load_settings
from pytest_flywheel.store import Store
from pytest_flywheel.suites import load_suite
from pytest_flywheel.testing import MessagesAPIServer
from pytest_flywheel.testing.messages_api import text_message, tool_use_message
from pytest_flywheel.tracing import flush

from . import agents

CORPUS = [
    "Refunds are accepted within 30 days of purchase with the original receipt.",
    "Shipping to Norway takes 5 working days.",
]
GROUNDED = "Refunds are accepted within 30 days of purchase if you keep the original receipt."


@pytest.fixture(autouse=True)
def agent_setup(messages_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test agent talks to the loopback server and searches a two-document help center."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    with agents.help_center(CORPUS):
        yield


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(Path(os.environ["FLYWHEEL_STORE"])) as store:
        yield store


def trace_ids(store: Store, name: str) -> list[str]:
    """The ids of the traces of entrypoint ``name``, oldest first (after flushing the writer)."""
    assert flush(10.0)
    rows = store.conn.execute("SELECT id FROM traces WHERE name = ? ORDER BY start_time", (name,)).fetchall()
    return [row["id"] for row in rows]


def rules_of(store: Store, trace_id: str, compare: str | None = None) -> Analysis:
    return analyze(store, trace_id, AnalyzeOptions(use_llm=False, compare=compare))


def test_empty_retrieval_is_found_and_the_good_run_shows_the_divergence(
    store: Store, messages_api: MessagesAPIServer
) -> None:
    messages_api.queue(
        text_message(GROUNDED), text_message("You can return anything within 90 days, no receipt.")
    )
    question = "How long do refunds take?"
    agents.answer_question(question)
    with agents.help_center([]):
        agents.answer_question(question)
    good_id, bad_id = trace_ids(store, "answer_question")

    analysis = rules_of(store, bad_id, compare="auto")
    assert [(f.rule, f.span_name) for f in analysis.findings] == [
        ("tool.empty", "search_docs"),
        ("answer.unsupported_specifics", "answer_question"),
    ]
    finding = analysis.findings[0]
    assert analysis.findings[1].evidence.startswith("90 in the answer appear in no tool or retrieval result")
    assert 'returned [] for arguments {"query":"How long do refunds take?"}' in finding.evidence
    assert analysis.comparison is not None
    assert analysis.comparison.good_trace_id == good_id
    assert analysis.comparison.similarity == 1.0
    first = analysis.comparison.first
    assert first is not None
    assert (first.kind, first.path) == ("empty_result", "answer_question > search_docs")
    assert "Refunds are accepted within 30 days" in first.detail
    # Same question, different documents in the prompt: the LLM step differs next.
    assert [d.kind for d in analysis.comparison.differences[1:]] == ["different_prompt"]
    # The good run itself has nothing wrong.
    assert rules_of(store, good_id).nothing_wrong


def test_an_answer_that_ignores_the_retrieved_context(store: Store, messages_api: MessagesAPIServer) -> None:
    messages_api.queue(text_message("Our premium membership includes free express shipping on every order."))
    agents.answer_question("How long do refunds take?")
    (trace_id,) = trace_ids(store, "answer_question")
    (finding,) = rules_of(store, trace_id).findings
    assert (finding.rule, finding.span_name, finding.severity) == (
        "answer.ungrounded",
        "answer_question",
        "high",
    )
    assert (
        "of the answer's 8 content words" in finding.evidence and "search_docs returned" in finding.evidence
    )


def test_an_answer_with_figures_no_source_gives(store: Store, messages_api: MessagesAPIServer) -> None:
    messages_api.queue(
        text_message(
            "Refunds are accepted within 60 days of purchase with the original receipt and code RF-2231."
        )
    )
    agents.answer_question("How long do refunds take?")
    (trace_id,) = trace_ids(store, "answer_question")
    (finding,) = rules_of(store, trace_id).findings
    assert (finding.rule, finding.span_name, finding.severity) == (
        "answer.unsupported_specifics",
        "answer_question",
        "medium",
    )
    assert finding.evidence.startswith("60, rf-2231 in the answer appear in no tool or retrieval result")


@pytest.mark.parametrize(
    ("stop_reason", "rule"), [("max_tokens", "llm.max_tokens"), ("refusal", "llm.refusal")]
)
def test_llm_cut_off_or_refusing(
    store: Store, messages_api: MessagesAPIServer, stop_reason: str, rule: str
) -> None:
    messages_api.queue(text_message("Refunds are accepted within", stop_reason=stop_reason, output_tokens=16))
    agents.answer_question("How long do refunds take?", max_tokens=16)
    (trace_id,) = trace_ids(store, "answer_question")
    findings = [f for f in rules_of(store, trace_id).findings if f.rule.startswith("llm.")]
    assert [f.rule for f in findings] == [rule]
    spans = {s.id: s for s in store.get_spans(trace_id)}
    assert spans[findings[0].span_id].type == "llm"
    if rule == "llm.max_tokens":
        assert "stop_reason=max_tokens after 16 output tokens (max_tokens=16)" in findings[0].evidence


def test_first_error_and_its_exception_chain(store: Store) -> None:
    with pytest.raises(agents.OrderLookupError):
        agents.order_status("A-1")
    (trace_id,) = trace_ids(store, "order_status")
    analysis = rules_of(store, trace_id)
    first = analysis.findings[0]
    assert (first.rule, first.span_name, first.severity) == ("error.first", "fetch_order", "critical")
    assert first.evidence.startswith(
        "tests.analysis.agents.OrderLookupError: order A-1 could not be read (agents.py:"
    )
    assert "<- caused by KeyError: 'sku' (agents.py:" in first.evidence
    assert first.evidence.endswith("propagated through order_status")
    assert analysis.root_cause_span_id == first.span_id
    assert (
        first.suggested_assertion
        == "The agent completes without an unhandled OrderLookupError from fetch_order."
    )


def test_tool_error_payload_swallowed_by_the_agent(store: Store) -> None:
    agents.when_will_it_arrive("Z-9")
    (trace_id,) = trace_ids(store, "when_will_it_arrive")
    finding, invented = rules_of(store, trace_id).findings
    assert (finding.rule, finding.span_name) == ("tool.error_payload", "shipping_eta")
    assert finding.evidence == 'error="order Z-9 not found"; arguments {"order_id":"Z-9"}'
    # The agent's fallback of 2 days is a figure no tool gave it.
    assert (invented.rule, invented.evidence[:20]) == ("answer.unsupported_specifics", "2 in the answer appe")


def test_the_same_tool_called_again_and_again(store: Store, messages_api: MessagesAPIServer) -> None:
    messages_api.queue(
        *[tool_use_message("check_stock", {"sku": "TP-1"}) for _ in range(3)],
        text_message("The teapot is out of stock."),
    )
    agents.stock_agent("Is the teapot in stock?")
    (trace_id,) = trace_ids(store, "stock_agent")
    findings = [f for f in rules_of(store, trace_id).findings if f.rule == "tool.repeated"]
    assert [(f.span_name, f.evidence.split(":")[0]) for f in findings] == [
        ("check_stock", '3 calls with {"sku"')
    ]


def test_cost_far_above_the_entrypoints_usual(store: Store, messages_api: MessagesAPIServer) -> None:
    usual = [text_message(GROUNDED, input_tokens=900, output_tokens=40) for _ in range(8)]
    messages_api.queue(*usual, text_message(GROUNDED, input_tokens=400_000, output_tokens=40))
    for _ in range(9):
        agents.answer_question("How long do refunds take?")
    *history, expensive = trace_ids(store, "answer_question")
    costly = [f for f in rules_of(store, expensive).findings if f.rule == "cost.outlier"]
    assert len(costly) == 1 and "(n=8)" in costly[0].evidence
    assert not [f for f in rules_of(store, history[-1]).findings if f.rule == "cost.outlier"]


def test_add_to_suite_with_yes_writes_a_case_and_its_cassette(
    store: Store,
    messages_api: MessagesAPIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    monkeypatch.chdir(tmp_path)
    messages_api.queue(text_message("You can return anything within 90 days, no receipt."))
    with agents.help_center([]):
        agents.answer_question("How long do refunds take?")
    (trace_id,) = trace_ids(store, "answer_question")

    assert main(["analyze", trace_id[:10], "--no-llm", "--add-to-suite", "support", "--yes"]) == 0
    err = capsys.readouterr().err
    assert "flywheel: added case" in err and "with 2 assertion(s) to " in err

    loaded = load_suite(tmp_path / "flywheel" / "suites" / "support.yaml")
    assert loaded.suite.target == "tests.analysis.agents:answer_question"
    (case,) = loaded.suite.cases
    assert case.input == {"question": "How long do refunds take?", "max_tokens": 400}
    assert case.source is not None and case.source.trace_id == trace_id
    assert [str(a) for a in case.assertions] == [
        "When search_docs finds nothing, the answer says no information was found instead of inventing details.",
        "Every number, price, duration and code in the answer comes from the retrieved documents or tool results.",
    ]
    assert "flywheel-analyze" in case.tags
    cassette = case.cassette_path(load_settings(tmp_path), "support")
    assert cassette.is_file() and "How long do refunds take?" in cassette.read_text()


class _Terminal(io.StringIO):
    """Typed answers on a stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_add_to_suite_asks_for_each_of_the_analysts_assertions(
    store: Store,
    messages_api: MessagesAPIServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    monkeypatch.chdir(tmp_path)
    messages_api.queue(text_message("You can return anything within 90 days, no receipt."))
    with agents.help_center([]):
        agents.answer_question("How long do refunds take?")
    (trace_id,) = trace_ids(store, "answer_question")
    search_id = next(s.id for s in store.get_spans(trace_id) if s.name == "search_docs")

    # The analyst runs against the same loopback server, through the environment like a user's key.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    messages_api.queue(
        tool_use_message(
            "report_root_cause",
            {
                "root_cause_span_id": search_id,
                "explanation": "Nothing was found and the model invented a 90-day window.",
                "evidence_span_ids": [search_id],
                "suggested_assertions": [
                    "The answer says no refund information was found.",
                    "The answer mentions 90 days.",
                ],
                "suggested_fix": "Say so when search_docs is empty.",
            },
        )
    )
    monkeypatch.setattr(sys, "stdin", _Terminal("y\nn\n"))
    assert main(["analyze", trace_id, "--add-to-suite", "support"]) == 0
    err = capsys.readouterr().err
    assert "Assertion 1/2: The answer says no refund information was found.\n  add it? [y/N] " in err
    assert "Assertion 2/2: The answer mentions 90 days." in err
    assert "with 1 assertion(s) to " in err
    (case,) = load_suite(tmp_path / "flywheel" / "suites" / "support.yaml").suite.cases
    assert [str(a) for a in case.assertions] == ["The answer says no refund information was found."]


def test_swallowed_tool_failures(store: Store) -> None:
    agents.stock_report(["TP-1", "TP-2"])
    (trace_id,) = trace_ids(store, "stock_report")
    first, second = rules_of(store, trace_id).findings
    spans = [s for s in store.get_spans(trace_id) if s.name == "warehouse_stock"]
    # The trace ended ok, so the first error is "high", not "critical"; the later one is a raising tool.
    assert (first.rule, first.severity, first.span_id) == ("error.first", "high", spans[0].id)
    assert first.evidence.startswith("ConnectionError: warehouse API unreachable for TP-1 (agents.py:")
    assert (second.rule, second.span_id) == ("tool.raised", spans[1].id)
    assert second.evidence.startswith("ConnectionError: warehouse API unreachable for TP-2")
    assert second.evidence.endswith('arguments {"sku":"TP-2"}')
    # The agent caught the error and answered: a case asserting "completes without an unhandled error"
    # passed at once on the very trace it came from. What to check is what the answer does after it.
    assert first.suggested_assertion == (
        "When warehouse_stock fails with ConnectionError, the answer says it could not be done "
        "and does not present a result as if it had been."
    )

