"""``flywheel stats`` through ``main([...])``: figures, suite coverage from the project, errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.store import Store
from tests.store.builders import Child, Feedback, TraceSpec, write_traces

HOUR = 3600.0


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (the working directory) whose store holds traces of the last few hours."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.flywheel]\nstore = ".flywheel/flywheel.db"\n')
    monkeypatch.delenv("FLYWHEEL_STORE")
    now = time.time()
    store = Store(tmp_path / ".flywheel" / "flywheel.db")
    timeout = Child("lookup_order", error=("TimeoutError", "the order service timed out"))
    write_traces(
        store,
        TraceSpec(
            "t-ok-1",
            now - 3 * HOUR,
            ms=100,
            feedback=[Feedback("thumbs", "up")],
            children=[Child("anthropic.messages.create", type="llm", tokens=(500, 50), cost=0.002)],
        ),
        TraceSpec("t-ok-2", now - 2 * HOUR, ms=300, feedback=[Feedback("thumbs", "down")]),
        TraceSpec(
            "t-err-1",
            now - 2 * HOUR + 10,
            ms=200,
            error=("TimeoutError", "the order service timed out"),
            children=[timeout],
        ),
        TraceSpec(
            "t-err-2",
            now - HOUR,
            ms=400,
            error=("TimeoutError", "the order service timed out"),
            children=[timeout],
        ),
        TraceSpec("t-bill", now - 600, ms=50, name="billing_agent", project="billing"),
    )
    store.close()
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_figures(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "stats", "--json", "--by", "hour", "--since", "5h")
    assert code == 0, err
    data = json.loads(out)
    totals = data["totals"]
    assert (totals["traces"], totals["errors"], totals["rated"], totals["successes"]) == (5, 2, 2, 1)
    assert totals["error_rate"] == pytest.approx(0.4) and totals["success_rate"] == pytest.approx(0.5)
    assert totals["latency_p50_ms"] == pytest.approx(200) and totals["latency_p95_ms"] == pytest.approx(400)
    assert totals["input_tokens"] == 500 and totals["cost_usd"] == pytest.approx(0.002)
    assert 5 <= len(data["periods"]) <= 6 and sum(p["traces"] for p in data["periods"]) == 5
    assert data["failing_spans"] == [{"name": "lookup_order", "type": "tool", "failures": 2, "traces": 2}]
    assert [p["label"] for p in data["uncovered"]] == [
        "TimeoutError in lookup_order (support_agent)",
        "negative thumbs (support_agent)",
    ]
    assert data["uncovered"][0]["example_trace_ids"] == ["t-err-2", "t-err-1"]


def test_project_and_since_narrow(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats", "--json", "--project", "billing")
    assert code == 0 and json.loads(out)["totals"]["traces"] == 1
    code, out, _ = run(capsys, "stats", "--json", "--since", "90m")
    assert json.loads(out)["totals"]["traces"] == 2


def test_suite_cases_cover_their_traces(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suites = project / "flywheel" / "suites"
    suites.mkdir(parents=True)
    (suites / "support.yaml").write_text(
        "version: 1\nname: support\ntarget: agent:support_agent\ncases:\n"
        "  - id: order-timeout\n    input: {question: Where is my order?}\n"
        "    assertions: [The answer apologises for the delay]\n"
        "    source: {trace_id: t-err-2, project: default, captured_at: '2026-09-21T15:00:00Z'}\n"
    )
    code, out, _ = run(capsys, "stats", "--json")
    data = json.loads(out)
    assert code == 0 and data["warnings"] == []
    assert (data["failing_traces"], data["covered_failing_traces"]) == (3, 1)
    assert data["uncovered"][0]["example_trace_ids"] == ["t-err-1"]


def test_text_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "stats", "--since", "1d")
    assert code == 0 and err == ""
    assert "Production trends, all projects, by day (UTC)" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split()[:5] == ["total", "5", "40.0%", "50.0%", "2"]
    assert "lookup_order  tool  2" in out
    assert "TimeoutError    2" in out or "TimeoutError  2" in out
    # the uncovered failures are triage's clusters: the two timeouts are one (same labels, same first bad step)
    assert "3 failed, raising or negatively rated traces in 2 clusters, 0 covered by a suite case" in out
    cluster = next(line for line in out.splitlines() if "lookup_order: TimeoutError" in line)
    assert cluster.split()[:3] == ["2", "new", "tool_raised,"] and cluster.rstrip().endswith("t-err-2")
    feedback = next(line for line in out.splitlines() if "negative feedback thumbs" in line)
    assert feedback.split()[:4] == ["1", "new", "no", "label"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "--by", "week"], "argument --by: invalid choice: 'week' (choose from 'hour', 'day')"),
        (["stats", "--since", "soon"], "argument --since: expected a span of time"),
        (["stats", "--top", "0"], "argument --top: '0' is out of range: expected a whole number from 1"),
        (["stats", "--top", "many"], "argument --top: 'many' is not a whole number"),
        (["stats", "--top", str(10**30)], "argument --top: '1000000000000000000000000000000' is out of range"),
    ],
)
def test_values_that_cannot_be_right_are_usage_errors(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("usage: flywheel stats ") and message in err and "Traceback" not in err


def test_a_missing_store_is_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "stats", "--store", "/nonexistent/flywheel.db")
    assert code == 1 and out == ""
    assert err == (
        "flywheel: error: no trace store at /nonexistent/flywheel.db: run an agent decorated with @track "
        "first, or point --store (or FLYWHEEL_STORE) at an existing store\n"
    )


def test_empty_store_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Store(tmp_path / "empty.db").close()
    code, _, err = run(capsys, "stats", "--store", str(tmp_path / "empty.db"))
    assert code == 1 and "holds no traces yet" in err


def test_quiet_window_reports_zeroes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats", "--json", "--since", "1m")
    data = json.loads(out)
    assert code == 0 and data["totals"]["traces"] == 0 and data["totals"]["error_rate"] is None
    assert data["uncovered"] == []


def test_stats_over_traces_from_the_real_sdk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytest_flywheel.tracing as tracing
    from pytest_flywheel import current_trace_id, flush, log_feedback, track

    db = tmp_path / "sdk.db"
    monkeypatch.setenv("FLYWHEEL_STORE", str(db))
    tracing.reset_for_tests()

    @track(type="tool")
    def charge_card(amount: int) -> str:
        if amount > 100:
            raise ValueError("amount over the limit")
        return "charged"

    @track(type="tool")
    def billing_step(amount: int) -> str:
        return charge_card(amount)  # re-raises: the failure starts in charge_card

    @track(entrypoint=True)
    def billing_agent(amount: int) -> str:
        trace_id = current_trace_id()
        assert trace_id is not None
        log_feedback(trace_id, "task_failed", amount == 50)
        return billing_step(amount)

    for amount in (10, 50, 500, 700):
        try:
            billing_agent(amount)
        except ValueError:
            pass
    assert flush(10.0)

    code, out, err = run(capsys, "stats", "--json", "--store", str(db), "--since", "1h")
    assert code == 0, err
    data = json.loads(out)
    totals = data["totals"]
    # amount 10: success; 50: task_failed=True is negative; 500 and 700 raised (task_failed=False: positive)
    assert (totals["traces"], totals["errors"], totals["rated"], totals["successes"]) == (4, 2, 4, 3)
    assert data["failing_spans"] == [{"name": "charge_card", "type": "tool", "failures": 2, "traces": 2}]
    assert [(p["label"], p["count"]) for p in data["uncovered"]] == [
        ("ValueError in charge_card (billing_agent)", 2),
        ("negative task_failed (billing_agent)", 1),
    ]


def test_stats_and_traces_list_agree_on_traces_with_a_raising_span(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tool that raised inside an agent that caught it: the trace is ok, yet stats shows the span as
    where a failure starts, and `traces list --has-error` finds that same trace."""
    now = time.time()
    path = tmp_path / "flywheel.db"
    write_traces(
        Store(path),
        TraceSpec("caught", now - 3 * HOUR, children=[Child("lookup_order", error=("KeyError", "'A-9'"))]),
        TraceSpec(
            "nested",
            now - 2 * HOUR,
            children=[
                Child("plan", key="plan"),
                Child("search", parent="plan", error=("TimeoutError", "slow")),
            ],
        ),
        TraceSpec("raised", now - HOUR, error=("ValueError", "bad"), children=[Child("parse", error=("ValueError", "bad"))]),
        TraceSpec("clean", now - 600, children=[Child("lookup_order")]),
        TraceSpec("old", now - 30 * 86400, children=[Child("lookup_order", error=("KeyError", "'A-1'"))]),
    )
    code, out, _ = run(capsys, "stats", "--store", str(path), "--since", "1d", "--json")
    assert code == 0
    stats = json.loads(out)
    assert stats["traces_with_raising_spans"] == 3
    assert {span["name"] for span in stats["failing_spans"]} == {"lookup_order", "search", "parse"}

    code, out, _ = run(capsys, "traces", "list", "--store", str(path), "--since", "1d", "--has-error", "--json")
    assert code == 0
    listed = [json.loads(line) for line in out.splitlines()]
    assert [trace["id"] for trace in listed] == ["raised", "nested", "caught"]
    assert len(listed) == stats["traces_with_raising_spans"]
    assert [trace["status"] for trace in listed] == ["error", "ok", "ok"]
    # --status error alone finds only the trace whose entrypoint raised
    code, out, _ = run(capsys, "traces", "list", "--store", str(path), "--since", "1d", "--status", "error", "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["raised"]

    code, out, _ = run(capsys, "stats", "--store", str(path), "--since", "1d")
    assert "3 traces had a span that raised, caught or not (`flywheel traces list --has-error` lists them)" in out
