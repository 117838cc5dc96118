"""``flywheel analyze`` through ``main([...])`` and once in a real subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flywheel.analysis.to_suite import AddToSuiteError, confirm_assertions
from pytest_flywheel.cli.main import main
from pytest_flywheel.store import FeedbackRecord, Store
from pytest_flywheel.testing import MessagesAPIServer
from pytest_flywheel.testing.messages_api import tool_use_message

from .builders import TraceBuilder

DOCS = [{"text": "Refunds are accepted within 30 days of purchase with the original receipt."}]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def store(project: Path) -> Store:
    return Store(os.environ["FLYWHEEL_STORE"])


def write_pair(store: Store) -> tuple[TraceBuilder, TraceBuilder]:
    """A bad run (empty search, made-up answer) and a good run of the same entrypoint."""
    good = TraceBuilder(input={"question": "How long is the refund window?"})
    good.span("search_docs", "retrieval", input={"query": "refund window"}, output=DOCS)
    good.finish(store, output="Refunds are accepted within 30 days of purchase with the receipt.")
    unhappy = TraceBuilder(input={"question": "How long is the refund window?"})
    unhappy.span("search_docs", "retrieval", input={"query": "refund window"}, output=DOCS)
    unhappy.finish(store, output="Refunds are accepted within 30 days.")
    store.add_feedback(FeedbackRecord(trace_id=unhappy.trace_id, name="thumbs_up", value=False))
    bad = TraceBuilder(input={"question": "What is the refund window?"})
    bad.span("search_docs", "retrieval", input={"query": "refund window"}, output=[])
    bad.finish(store, output="You can return anything within 90 days, no receipt needed.")
    return bad, good


def test_rules_only_report_marks_the_root_cause_and_compares(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, good = write_pair(store)
    assert main(["analyze", bad.trace_id[:-1] + bad.trace_id[-1]]) == 0
    out = capsys.readouterr().out
    search_id = bad.spans[1].id
    assert (
        f">>    search_docs [retrieval] {search_id} ok 10 ms  (empty result)" in out
    )  # ids shown as unique prefixes
    assert "1. [medium, 60% sure] tool.empty: retrieval search_docs returned nothing" in out
    # auto picks the good run: same entrypoint, ok, and the similar run with negative feedback is skipped
    assert f"Compared with good trace {good.trace_id} (picked automatically, input similarity 0.57)" in out
    assert "first divergence at answer_question > search_docs: empty_result" in out
    assert (
        "LLM analyst: not used (ANTHROPIC_BASE_URL is set (http://127.0.0.1:9) but no ANTHROPIC_API_KEY or "
        "ANTHROPIC_AUTH_TOKEN to send with it); this report comes from the rules alone."
    ) in out
    assert "Suggested assertions for a regression test (from the rules" in out


def test_json_output(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    bad, good = write_pair(store)
    assert main(["analyze", bad.trace_id, "--json", "--no-llm", "--compare", good.trace_id]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["root_cause_span_id"] == bad.spans[1].id
    assert data["nothing_wrong"] is False
    assert [f["rule"] for f in data["findings"]] == ["tool.empty", "answer.unsupported_specifics"]
    assert data["comparison"]["how_chosen"] == "explicit"
    assert data["comparison"]["first_divergence"]["kind"] == "empty_result"
    assert data["analyst"] == {"status": "skipped", "message": "--no-llm was given", "answer": None}


def test_a_trace_with_nothing_wrong_says_so(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    _, good = write_pair(store)
    assert main(["analyze", good.trace_id, "--no-llm", "--compare", "none"]) == 0
    out = capsys.readouterr().out
    assert "Nothing wrong found: no rule fired and the trace finished ok." in out
    assert "Comparison: not requested." in out


def test_unknown_id_empty_store_and_no_store_are_one_line_errors(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_STORE", str(project / "missing.db"))
    assert main(["analyze", "abc"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("flywheel: error: no trace store at ") and err.count("\n") == 1

    empty = project / "empty.db"
    Store(empty).close()
    monkeypatch.setenv("FLYWHEEL_STORE", str(empty))
    assert main(["analyze", "abc"]) == 1
    err = capsys.readouterr().err
    assert "holds no traces yet" in err and err.count("\n") == 1

    store = Store(empty)
    write_pair(store)
    assert main(["analyze", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("flywheel: error: no trace id starts with 'nope'") and err.count("\n") == 1
    assert main(["analyze", "trace", "--no-llm"]) == 1
    assert "is ambiguous" in capsys.readouterr().err


def test_analyst_broken_structure_exits_non_zero_and_still_shows_the_rules(
    store: Store,
    messages_api: MessagesAPIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad, _ = write_pair(store)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    messages_api.respond_with(lambda request: tool_use_message("report_root_cause", {"explanation": "?"}))

    assert main(["analyze", bad.trace_id, "--ask", "Why 90 days?"]) == 1
    captured = capsys.readouterr()
    assert "tool.empty: retrieval search_docs returned nothing" in captured.out
    assert "LLM analyst: failed; the findings above come from the rules alone." in captured.out
    assert "flywheel: error: the LLM analyst (claude-sonnet-5-5) gave no valid answer" in captured.err
    assert len(messages_api.message_requests) == 2
    assert (
        messages_api.message_requests[0].body["messages"][0]["content"].startswith("Question: Why 90 days?")
    )


def test_analyst_answer_in_the_report(
    store: Store,
    messages_api: MessagesAPIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad, good = write_pair(store)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    messages_api.queue(
        tool_use_message("get_comparison", {}),
        tool_use_message(
            "report_root_cause",
            {
                "root_cause_span_id": bad.spans[1].id,
                "explanation": "The search for 'refund window' came back empty and the model made up 90 days.",
                "evidence_span_ids": [bad.spans[1].id, good.spans[1].id],
                "suggested_assertions": ["The answer does not promise a 90-day refund window."],
                "suggested_fix": "Answer 'I could not find that' when search_docs is empty.",
            },
        ),
    )
    assert main(["analyze", bad.trace_id, "--model", "claude-haiku-5-5"]) == 0
    out = capsys.readouterr().out
    assert f"root cause: span {bad.spans[1].id} (search_docs)" in out
    assert "made up 90 days" in out
    assert "Suggested assertions for a regression test (from the analyst" in out
    assert "  - The answer does not promise a 90-day refund window." in out
    comparison = json.loads(messages_api.message_requests[1].body["messages"][-1]["content"][0]["content"])
    assert comparison["good_trace_id"] == good.trace_id
    assert comparison["differences"][0]["kind"] == "empty_result"
    assert messages_api.message_requests[0].body["model"] == "claude-haiku-5-5"


def test_add_to_suite_without_a_terminal_or_yes_refuses(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, _ = write_pair(store)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["analyze", bad.trace_id, "--no-llm", "--add-to-suite", "support"]) == 1
    err = capsys.readouterr().err
    assert "stdin is not a terminal; run it in a terminal, or pass --yes" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_confirm_assertions_one_by_one() -> None:
    answers = iter(["y", "n", "yes"])
    prompts = io.StringIO()
    accepted = confirm_assertions(
        ["a", {"max_latency_ms": 10}, "c"],
        yes=False,
        stdin=_Terminal(),
        prompt_to=prompts,
        ask=lambda: next(answers),
    )
    assert accepted == ["a", "c"]
    assert 'Assertion 2/3: {"max_latency_ms": 10}\n  add it? [y/N] ' in prompts.getvalue()
    assert confirm_assertions(["a"], yes=True, stdin=io.StringIO()) == ["a"]
    with pytest.raises(AddToSuiteError):
        confirm_assertions(["a"], yes=False, stdin=io.StringIO())


def test_in_a_subprocess(store: Store, project: Path) -> None:
    bad, _ = write_pair(store)
    env = {**os.environ, "FLYWHEEL_STORE": str(store.path)}
    env.pop("ANTHROPIC_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.cli", "analyze", bad.trace_id, "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["findings"][0]["rule"] == "tool.empty"
    assert data["analyst"]["status"] == "skipped"


def test_compare_explicit_unknown_id_and_a_too_different_auto_pick(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, _ = write_pair(store)
    assert main(["analyze", bad.trace_id, "--no-llm", "--compare", "zzz"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("flywheel: error: --compare zzz: no trace id starts with 'zzz'")
    assert err.rstrip().endswith("or use --compare auto.")

    other = TraceBuilder(input={"question": "Do you sell gift cards?"})
    other.span("search_docs", "retrieval", input={"query": "gift cards"}, output=[])
    other.finish(store, output="We do not sell gift cards.")
    assert main(["analyze", other.trace_id, "--no-llm", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["comparison"] is None
    assert "shares only" in data["comparison_note"] and "pass --compare TRACE_ID" in data["comparison_note"]


def test_first_divergence_skips_arguments_that_only_echo_a_different_request(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    good = TraceBuilder(input={"question": "Where is my order BL-1?"})
    good.span("lookup_order", "tool", input={"order_id": "BL-1"}, output={"status": "shipped"})
    good.finish(store, output="Shipped.")
    bad = TraceBuilder(input={"question": "Where is my order? It has not arrived."})
    bad.span("lookup_order", "tool", input={"order_id": ""}, output={"error": "No order was found."})
    bad.finish(store, output="It is on its way.")
    assert main(["analyze", bad.trace_id, "--no-llm", "--json"]) == 0
    comparison = json.loads(capsys.readouterr().out)["comparison"]
    assert comparison["same_input"] is False
    assert [d["kind"] for d in comparison["differences"]] == ["error_result", "different_arguments"]
    assert comparison["first_divergence"]["kind"] == "error_result"


def test_the_projects_redaction_applies_to_all_the_analyst_is_sent(
    store: Store,
    project: Path,
    messages_api: MessagesAPIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (project / "pyproject.toml").write_text("[tool.flywheel]\nredact = ['ACCT-\\d{6}']\n")
    b = TraceBuilder(input={"question": "Balance of ACCT-123456?"})
    search = b.span("search_docs", "retrieval", input={"query": "ACCT-123456"}, output=[])
    b.finish(store, output="ACCT-123456 has 10 EUR.")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    messages_api.queue(
        tool_use_message("get_tree", {}),
        tool_use_message("search_spans", {"text": "ACCT"}),
        tool_use_message("get_span", {"span_id": search.id, "detail": "full"}),
    )
    assert main(["analyze", b.trace_id, "--max-rounds", "4"]) == 1  # the script never reports
    capsys.readouterr()
    bodies = [json.dumps(r.body) for r in messages_api.message_requests]
    assert len(bodies) == 4
    assert not [body for body in bodies if "123456" in body]
    assert "ACCT-123456" not in bodies[-1] and bodies[-1].count("[REDACTED]") >= 4


def test_the_report_is_redacted_too(store: Store, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "pyproject.toml").write_text("[tool.flywheel]\nredact = ['ACCT-\\d{6}']\n")
    b = TraceBuilder(input={"question": "Balance of ACCT-123456?"})
    b.span("search_docs", "retrieval", input={"query": "ACCT-123456"}, output=[])
    b.finish(store, output="ACCT-123456 has 10 EUR.")
    assert main(["analyze", b.trace_id]) == 0
    text = capsys.readouterr().out
    assert "123456" not in text and '{"question":"Balance of [REDACTED]?"}' in text
    assert main(["analyze", b.trace_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "123456" not in json.dumps(data)
    assert data["findings"][0]["evidence"] == 'returned [] for arguments {"query":"[REDACTED]"}'


def test_the_analysts_model_comes_from_settings(
    store: Store,
    project: Path,
    messages_api: MessagesAPIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (project / "pyproject.toml").write_text("[tool.flywheel]\nanalyst_model = 'claude-opus-5-5'\n")
    bad, _ = write_pair(store)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", messages_api.base_url)
    messages_api.respond_with(lambda request: tool_use_message("report_root_cause", {}))
    main(["analyze", bad.trace_id])
    monkeypatch.setenv("FLYWHEEL_ANALYST_MODEL", "claude-haiku-5-5")
    main(["analyze", bad.trace_id])
    capsys.readouterr()
    models = [r.body["model"] for r in messages_api.message_requests]
    assert models == ["claude-opus-5-5"] * 2 + ["claude-haiku-5-5"] * 2


def test_a_different_tool_with_no_rule_firing(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    good = TraceBuilder(input={"question": "Can I return opened tea?"})
    good.span("search_policies", "tool", input={"q": "return opened tea"}, output=["Opened tea: no returns."])
    good.finish(store, output="Opened tea cannot be returned.")
    bad = TraceBuilder(input={"question": "Can I return opened tea?"})
    bad.span("search_blog", "tool", input={"q": "return opened tea"}, output=["Our favourite teas."])
    bad.finish(store, output="Sure, send it back.")
    assert main(["analyze", bad.trace_id, "--no-llm"]) == 0
    out = capsys.readouterr().out
    assert "No rule fired and the trace finished ok; how it differs from a good run (below)" in out
    assert "first divergence at answer_question > search_blog: different_tool" in out
    flat = " ".join(out.split())  # the detail is wrapped to the terminal's width
    assert (
        """the bad run called tool 'search_blog' {"q":"return opened tea"} where the good run called tool """
        """'search_policies' {"q":"return opened tea"}"""
    ) in flat
