"""``flywheel triage`` and what it is made of: which traces are failures, signatures, clusters, input
groups, trends, coverage by suite cases, and the command's text, JSON and errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.evolve.clusters import cluster_id, trend_of
from pytest_flywheel.evolve.signatures import argument_shape
from pytest_flywheel.store import Store
from tests.store.builders import write_traces

from .conftest import not_found


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def clusters_of(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, object]]:
    code, out, err = run(capsys, "triage", "--json", *argv)
    assert code == 0, err
    return {c["signature"]["text"]: c for c in json.loads(out)["clusters"]}


def test_failures_cluster_by_labels_and_first_bad_step(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "triage", "--json", "--project", "default")
    assert code == 0, err
    data = json.loads(out)
    assert data["failures"] == 8 and data["llm"]["status"] == "skipped"
    assert data["llm"]["message"] == "no ANTHROPIC_API_KEY is set"
    by_step = {c["signature"]["text"]: c for c in data["clusters"]}
    assert list(by_step) == [  # most frequent first, then the most recent
        "lookup_order: error_result (customer_id, order_id)",
        "support_agent: negative feedback thumbs (no rule finding)",
        "warehouse: ConnectionError",
        "lookup_order: error_result (customer_id, order_id=∅)",
        "lookup_order: TimeoutError (order_id)",
    ]
    loop = by_step["lookup_order: error_result (customer_id, order_id)"]
    assert loop["count"] == 4 and loop["labels"] == ["tool_error_result"]
    assert loop["trace_ids"] == ["nf-1", "nf-2", "nf-3", "nf-4"] and loop["example_trace_id"] == "nf-3"
    assert (loop["first_half"], loop["second_half"], loop["trend"]) == (1, 3, "rising")
    assert loop["id"] == cluster_id("agent:support_agent", ["tool_error_result"], loop["signature"]["text"])
    # requests by similarity: the three "Where is order BL-n?" and the parcel question
    assert [g["count"] for g in loop["input_groups"]] == [3, 1]
    timeout = by_step["lookup_order: TimeoutError (order_id)"]
    assert timeout["labels"] == ["tool_raised", "unhandled_exception"]
    assert by_step["warehouse: ConnectionError"]["labels"] == ["tool_raised"]
    assert by_step["support_agent: negative feedback thumbs (no rule finding)"]["labels"] == []
    assert not any(c["covered"] for c in data["clusters"])


def test_since_and_project_narrow_the_window(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sum(c["count"] for c in clusters_of(capsys, "--since", "1d").values()) == 7  # type: ignore[misc]
    billing = clusters_of(capsys, "--project", "billing")
    assert [(text, c["labels"], c["count"]) for text, c in billing.items()] == [
        ("billing_agent: ValueError", ["unhandled_exception"], 1)
    ]
    old = clusters_of(capsys, "--since", "60d")
    assert sum(c["count"] for c in old.values()) == 10  # type: ignore[misc]


def test_suite_cases_cover_clusters_by_trace_by_failure_and_by_input(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suites = project / "flywheel" / "suites"
    suites.mkdir(parents=True)
    (suites / "support.yaml").write_text(
        "version: 1\nname: support\ntarget: agent:support_agent\ncases:\n"
        # captured from a trace of the timeout cluster
        "  - id: timeout\n    input: {question: Is my order late?}\n    assertions: [It apologises]\n"
        "    source: {trace_id: to-1}\n"
        # captured from an older trace (outside the window) that fails like the not-found cluster
        "  - id: not-found-old\n    input: {question: Where is order BL-0?}\n    assertions: [It says so]\n"
        "    source: {trace_id: nf-0}\n"
        # written by hand, with the input of the price-match request
        "  - id: price-match\n    input: {question: Do you price match?}\n    assertions: [It does not invent]\n"
    )
    store = Store(project / ".flywheel" / "flywheel.db")
    write_traces(store, not_found("nf-0", time.time() - 40 * 86400, "BL-0", "Where is order BL-0?"))
    store.close()
    found = clusters_of(capsys)
    assert found["lookup_order: TimeoutError (order_id)"]["covered_by"] == ["support::timeout"]
    assert found["lookup_order: error_result (customer_id, order_id)"]["covered_by"] == ["support::not-found-old"]
    feedback = found["support_agent: negative feedback thumbs (no rule finding)"]
    assert feedback["covered"] and feedback["covered_by"] == ["support::price-match"]
    assert not found["lookup_order: error_result (customer_id, order_id=∅)"]["covered"]
    code, out, _ = run(capsys, "triage")
    assert code == 0 and "3 covered by a suite case" in out
    assert "covered: yes, by support::timeout" in out


def test_text_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "triage", "--top", "2")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("Triage, all projects, since ") and lines[0].endswith(
        ": 9 failures in 6 clusters, 0 covered by a suite case"
    )
    assert lines[1] == "Labels: rules only (no ANTHROPIC_API_KEY is set)."
    assert any(line.startswith("1. cl-") and "4 failures, rising (1 then 3), agent:support_agent" in line for line in lines)
    assert "   first bad step: lookup_order: error_result (customer_id, order_id)" in lines
    assert "... 4 more cluster(s): --top 6 shows all" in lines
    assert lines[-1] == "Propose a case for each uncovered cluster: flywheel candidates propose SUITE"


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["triage", "--store", "/nonexistent/flywheel.db"], "no trace store at /nonexistent/flywheel.db")],
)
def test_errors_are_one_line(project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("flywheel: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["triage", "--since", "soon"], "argument --since: expected a span of time"),
        (["triage", "--top", "0"], "argument --top: '0' is out of range: expected a whole number from 1"),
        # a byte that is not UTF-8 on the command line reaches Python as a lone surrogate
        (["triage", "--project", "\udcff\udcfe"], "argument --project: b'\\xff\\xfe' is not UTF-8 text"),
        (["stats", "--project", "\udcff"], "argument --project: b'\\xff' is not UTF-8 text"),
    ],
)
def test_values_that_cannot_be_right_are_usage_errors(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("usage: flywheel ") and message in err and "Traceback" not in err


def test_a_quiet_window(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "triage", "--since", "1m")
    assert code == 0 and "0 failures in 0 clusters" in out and "No failed, raising or negatively rated trace" in out


def test_argument_shapes_leave_values_out() -> None:
    assert argument_shape({"order_id": "BL-10299", "customer_id": "C-1"}) == "customer_id, order_id"
    assert argument_shape({"order_id": "", "customer_id": None, "items": []}) == "customer_id=∅, items=∅, order_id=∅"
    assert argument_shape({}) == ""
    assert argument_shape(None) == "" and argument_shape("") == "∅" and argument_shape([1]) == "list"


def test_trends() -> None:
    assert [trend_of(*halves) for halves in [(0, 3), (0, 0), (1, 3), (3, 1), (2, 2), (1, 2), (10, 16)]] == [
        "new", "steady", "rising", "falling", "steady", "steady", "rising",
    ]  # fmt: skip
