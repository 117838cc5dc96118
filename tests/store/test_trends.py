"""``flywheel stats`` figures on a small hand-built store, checked against values worked out by hand,
and against the naive Python aggregation of ``benchmarks/stats.py`` on a generated store."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pytest_flywheel.config import load_settings
from pytest_flywheel.runs.trends import compute_stats, covered_trace_ids
from pytest_flywheel.store import Store
from pytest_flywheel.store.queries import QueryError
from tests.store.builders import DAY, T0, Child, Feedback, TraceSpec

from .builders import write_traces

SINCE = T0 - 2 * DAY  # 2026-09-19 14:13:20 UTC; T0 is 2026-09-21 14:13:20 UTC

LOOKUP_FAILS = Child("lookup_order", error=("ValueError", "order id is not valid"))


def hand_built(store: Store) -> None:
    write_traces(
        store,
        # before the window: never counted
        TraceSpec("old0", T0 - 3 * DAY, ms=10, error=("ValueError", "x"), children=[LOOKUP_FAILS]),
        # 2026-09-19
        TraceSpec(
            "d1a",
            SINCE + 100,
            ms=100,
            feedback=[Feedback("thumbs", True)],
            children=[Child("anthropic.messages.create", type="llm", tokens=(100, 10), cost=0.01)],
        ),
        TraceSpec(
            "d1b",
            SINCE + 200,
            ms=300,
            error=("ValueError", "order id is not valid"),
            children=[LOOKUP_FAILS],
            feedback=[Feedback("thumbs", False)],
        ),
        TraceSpec("d1c", SINCE + 300, ms=200),
        # 2026-09-20
        TraceSpec("d2a", T0 - DAY - 500, ms=400, feedback=[Feedback("rating", "down")]),
        TraceSpec(
            "d2b", T0 - DAY + 100, ms=1000, feedback=[Feedback("task_failed", True), Feedback("thumbs", True)]
        ),
        TraceSpec(
            "d2c",
            T0 - DAY + 200,
            ms=600,
            error=("ValueError", "order id is not valid"),
            children=[LOOKUP_FAILS],
        ),
        # 2026-09-21
        TraceSpec(
            "d3a", T0 - 3000, ms=50, error=("ValueError", "order id is not valid"), children=[LOOKUP_FAILS]
        ),
        TraceSpec(
            "d3b",
            T0 - 2000,
            ms=80,
            error=("TimeoutError", "timed out"),
            children=[
                Child("search_kb", key="kb", error=("TimeoutError", "timed out")),
                Child("http_get", parent="kb", offset_ms=2, ms=5, error=("TimeoutError", "timed out")),
            ],
        ),
        TraceSpec(
            "d3c",
            T0 - 1000,
            ms=20,
            children=[Child("send_email", error=("KeyError", "'to'"))],
            feedback=[Feedback("score", 0.9)],
        ),
        TraceSpec(
            "b1",
            T0 - 500,
            ms=5000,
            name="billing_agent",
            project="billing",
            children=[Child("anthropic.messages.create", type="llm", tokens=(1000, 100), cost=0.25)],
        ),
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "flywheel.db")
    hand_built(store)
    return store


def test_periods_by_day(store: Store) -> None:
    stats = compute_stats(store, since=SINCE, until=T0, by="day", covered_trace_ids={"d3a"})
    rows = [
        (
            p.label,
            p.traces,
            p.errors,
            p.rated,
            p.successes,
            p.latency_p50_ms,
            p.latency_p95_ms,
            p.input_tokens,
            p.output_tokens,
        )
        for p in stats.periods
    ]
    assert rows == [
        ("2026-09-19", 3, 1, 2, 1, pytest.approx(200), pytest.approx(300), 100, 10),
        ("2026-09-20", 3, 1, 2, 0, pytest.approx(600), pytest.approx(1000), 0, 0),
        ("2026-09-21", 4, 2, 1, 1, pytest.approx(50), pytest.approx(5000), 1000, 100),
    ]
    assert [p.cost_usd for p in stats.periods] == [pytest.approx(0.01), 0, pytest.approx(0.25)]
    assert stats.periods[0].error_rate == pytest.approx(1 / 3)
    assert stats.periods[1].success_rate == 0.0
    t = stats.totals
    assert (t.traces, t.errors, t.rated, t.successes) == (10, 4, 5, 2)
    assert (t.error_rate, t.success_rate) == (pytest.approx(0.4), pytest.approx(0.4))
    assert (t.latency_p50_ms, t.latency_p95_ms) == (pytest.approx(200), pytest.approx(5000))
    assert (t.input_tokens, t.output_tokens, t.cost_usd) == (1100, 110, pytest.approx(0.26))


def test_where_failures_start(store: Store) -> None:
    stats = compute_stats(store, since=SINCE, until=T0)
    # search_kb and the roots re-raised http_get's TimeoutError: only where it started counts.
    assert [(s.name, s.type, s.failures, s.traces) for s in stats.failing_spans] == [
        ("lookup_order", "tool", 3, 3),
        ("http_get", "tool", 1, 1),
        ("send_email", "tool", 1, 1),
    ]
    assert [(e.type, e.failures, e.example_message) for e in stats.error_types] == [
        ("ValueError", 3, "order id is not valid"),
        ("KeyError", 1, "'to'"),
        ("TimeoutError", 1, "timed out"),
    ]


def test_uncovered_failures_most_frequent_first(store: Store) -> None:
    stats = compute_stats(store, since=SINCE, until=T0, covered_trace_ids={"d3a", "not-in-store"})
    assert (stats.failing_traces, stats.covered_failing_traces) == (6, 1)
    shown = [(p.label, p.count, p.example_trace_ids) for p in stats.uncovered]
    assert shown == [
        ("ValueError in lookup_order (support_agent)", 2, ["d2c", "d1b"]),
        ("TimeoutError in http_get (support_agent)", 1, ["d3b"]),
        ("negative task_failed (support_agent)", 1, ["d2b"]),  # a tie of +1 / -1 is not a success
        ("negative rating (support_agent)", 1, ["d2a"]),
    ]
    assert stats.uncovered[0].kind == "error" and stats.uncovered[2].feedback == "task_failed"
    capped = compute_stats(store, since=SINCE, until=T0, covered_trace_ids={"d3a"}, top=1, examples=1)
    assert [(p.count, p.example_trace_ids) for p in capped.uncovered] == [(2, ["d2c"])]


def test_once_captured_the_pattern_leaves_the_list(store: Store) -> None:
    stats = compute_stats(store, since=SINCE, until=T0, covered_trace_ids={"d3a", "d2c", "d1b"})
    assert "ValueError in lookup_order (support_agent)" not in [p.label for p in stats.uncovered]
    assert stats.covered_failing_traces == 3


def test_by_hour_fills_quiet_hours_and_project_narrows(store: Store) -> None:
    stats = compute_stats(store, since=T0 - 3 * 3600, until=T0, by="hour")
    assert [(p.label, p.traces) for p in stats.periods] == [
        ("2026-09-21T11:00Z", 0),
        ("2026-09-21T12:00Z", 0),
        ("2026-09-21T13:00Z", 3),
        ("2026-09-21T14:00Z", 1),
    ]
    assert stats.periods[0].error_rate is None and stats.periods[0].latency_p50_ms is None
    billing = compute_stats(store, since=SINCE, until=T0, project="billing")
    assert billing.totals.traces == 1 and billing.totals.errors == 0
    assert billing.uncovered == [] and billing.failing_spans == []


def test_json_form(store: Store) -> None:
    data = compute_stats(store, since=SINCE, until=T0, covered_trace_ids={"d3a"}).to_json()
    assert set(data) >= {"totals", "periods", "failing_spans", "error_types", "uncovered", "failing_traces"}
    assert data["totals"]["error_rate"] == pytest.approx(0.4)
    assert data["periods"][0]["start"] == "2026-09-19T00:00:00.000+00:00"
    assert data["uncovered"][0]["example_trace_ids"] == ["d2c", "d1b"]
    assert data["uncovered"][0]["label"] == "ValueError in lookup_order (support_agent)"


def test_bad_period_is_a_query_error(store: Store) -> None:
    with pytest.raises(QueryError, match="--by 'week': expected hour or day"):
        compute_stats(store, since=SINCE, by="week")


SUITE = """\
version: 1
name: {name}
description: cases captured from production
target: agent:support_agent
cases:
  - id: bad-order-id
    input: {{question: "Where is order x?"}}
    assertions: ["The answer asks for a valid order id"]
    source: {{trace_id: {trace}, project: default, captured_at: "2026-09-21T15:00:00Z"}}
  - id: hand-written
    input: {{question: "hi"}}
    assertions: ["The answer greets the user"]
"""


def test_covered_trace_ids_from_suite_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.flywheel]\n")
    suites = tmp_path / "flywheel" / "suites"
    suites.mkdir(parents=True)
    (suites / "support.yaml").write_text(SUITE.format(name="support", trace="d3a"))
    (suites / "billing.yaml").write_text(SUITE.format(name="billing", trace="d2c"))
    (suites / "broken.yaml").write_text("cases: [unclosed\n")
    # valid YAML, not a valid suite (an unknown field): its cases still count, with a warning
    (suites / "invalid.yaml").write_text(SUITE.format(name="invalid", trace="d9z") + "colour: blue\n")
    found, warnings = covered_trace_ids(load_settings(tmp_path, environ={}))
    assert found == {"d3a", "d2c", "d9z"}
    assert any("broken.yaml:2: yaml: not valid YAML" in warning for warning in warnings)
    assert any("invalid.yaml" in warning and "colour: unknown field" in warning for warning in warnings)


def test_no_suites_folder_covers_nothing(tmp_path: Path) -> None:
    assert covered_trace_ids(load_settings(tmp_path, environ={})) == (set(), [])


def _benchmark_module() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "stats.py"
    spec = importlib.util.spec_from_file_location("flywheel_stats_benchmark", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("by", "project"), [("day", None), ("hour", "billing")])
def test_sql_matches_the_python_aggregation_on_a_generated_store(
    tmp_path: Path, by: str, project: str | None
) -> None:
    bench = _benchmark_module()
    path = tmp_path / "generated.db"
    bench.build_store(path, traces=3000)
    store = Store(path, readonly=True)
    since, until = bench.NOW - 5 * DAY, bench.NOW - DAY
    covered = {
        row[0]
        for row in store.conn.execute(
            "SELECT id FROM traces WHERE status = 'error' AND start_time >= ? LIMIT 20", (since,)
        )
    }
    sql = compute_stats(store, since=since, until=until, by=by, project=project, covered_trace_ids=covered)
    python = bench.python_stats(store, since=since, until=until, by=by, project=project, covered=covered)
    assert sql.totals.traces > 200 and sql.uncovered and sql.failing_spans
    assert bench.comparable(sql) == bench.comparable(python)
