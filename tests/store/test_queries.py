"""The store's query layer against real SQLite files: each filter, prefixes, the span tree, signals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_flywheel.store import FeedbackRecord, Store, StoreError
from pytest_flywheel.store.queries import (
    FEEDBACK_SIGNAL_SQL,
    FeedbackFilter,
    QueryError,
    TraceFilter,
    TraceNotFoundError,
    feedback_signal,
    feedback_signal_params,
    list_traces,
    load_trace,
    open_store_for_reading,
    parse_since,
    require_traces,
    resolve_trace,
    unique_prefix_length,
)
from pytest_flywheel.store.tree import SpanTree
from tests.store.builders import DAY, T0, Child, Feedback, TraceSpec, write_traces


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "flywheel.db")
    write_traces(
        store,
        TraceSpec("aaa1", T0 - 3 * DAY, ms=50, tags=["prod", "eu"], feedback=[Feedback("thumbs", True)]),
        TraceSpec(
            "aaa2",
            T0 - 2 * DAY,
            ms=900,
            name="billing_agent",
            project="billing",
            error=("TimeoutError", "slow"),
            tags=["prod"],
            children=[Child("refund", cost=0.02, tokens=(100, 10), type="llm")],
            feedback=[Feedback("thumbs", False), Feedback("rating", "bad", reason="wrong refund")],
        ),
        TraceSpec(
            "abb3",
            T0 - 3600,
            ms=2500,
            tags=["eu"],
            children=[Child("llm", type="llm", cost=0.5, tokens=(1000, 200))],
            feedback=[Feedback("score", 0.3)],
        ),
        TraceSpec("bcc4", T0 - 60, ms=10, name="support_agent_v2", feedback=[Feedback("score", 0.9)]),
    )
    return store


def ids(store: Store, **filters: object) -> list[str]:
    return [s.trace.id for s in list_traces(store, TraceFilter(**filters))]  # type: ignore[arg-type]


def test_no_filter_lists_newest_first_and_limit_cuts(store: Store) -> None:
    assert ids(store) == ["bcc4", "abb3", "aaa2", "aaa1"]
    assert [s.trace.id for s in list_traces(store, TraceFilter(), limit=2)] == ["bcc4", "abb3"]


def test_each_filter(store: Store) -> None:
    assert ids(store, project="billing") == ["aaa2"]
    assert ids(store, name="support_agent") == ["abb3", "aaa1"]
    assert ids(store, name="support_*") == ["bcc4", "abb3", "aaa1"]
    assert ids(store, status="error") == ["aaa2"]
    assert ids(store, status="ok") == ["bcc4", "abb3", "aaa1"]
    assert ids(store, since=T0 - 2 * DAY) == ["bcc4", "abb3", "aaa2"]
    assert ids(store, min_latency_ms=900) == ["abb3", "aaa2"]
    assert ids(store, min_cost=0.1) == ["abb3"]
    assert ids(store, tags=["eu"]) == ["abb3", "aaa1"]
    assert ids(store, tags=["eu", "prod"]) == ["aaa1"]
    assert ids(store, project="default", since=T0 - DAY, min_latency_ms=100) == ["abb3"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thumbs<1", ["aaa2"]),
        ("thumbs=true", ["aaa1"]),
        ("thumbs!=1", ["aaa2"]),
        ("score>0.5", ["bcc4"]),
        ("score>=0.3", ["bcc4", "abb3"]),
        ("score<=0.3", ["abb3"]),
        ("rating=bad", ["aaa2"]),
        ("rating='bad'", ["aaa2"]),
        ("rating!=bad", []),
        ("nobody<1", []),
    ],
)
def test_feedback_filter(store: Store, text: str, expected: list[str]) -> None:
    assert ids(store, feedback=[FeedbackFilter.parse(text)]) == expected


def test_listing_carries_feedback_and_the_json_shape(store: Store) -> None:
    (summary,) = list_traces(store, TraceFilter(project="billing"))
    data = summary.to_json()
    assert set(data) == {
        "id",
        "name",
        "project",
        "status",
        "started_at",
        "ended_at",
        "duration_ms",
        "input",
        "output",
        "tokens",
        "cost_usd",
        "tags",
        "feedback",
        "error",
    }
    assert data["feedback"] == [
        {"name": "thumbs", "value": False, "reason": None},
        {"name": "rating", "value": "bad", "reason": "wrong refund"},
    ]
    assert data["tokens"] == {"input": 100, "output": 10}
    assert data["error"]["type"] == "TimeoutError"
    assert datetime.fromisoformat(data["started_at"]).timestamp() == pytest.approx(T0 - 2 * DAY)
    assert data["duration_ms"] == pytest.approx(900)


def test_filters_use_the_indexes(store: Store) -> None:
    def plan(filters: TraceFilter) -> str:
        where, params = filters.where()
        rows = store.conn.execute(
            f"EXPLAIN QUERY PLAN SELECT t.* FROM traces t WHERE {where} ORDER BY t.start_time DESC LIMIT 50",
            params,
        ).fetchall()
        return " | ".join(row["detail"] for row in rows)

    assert "USING INDEX traces_project_start" in plan(TraceFilter(project="billing", since=T0))
    assert "USING INDEX traces_status_start" in plan(TraceFilter(status="error"))
    by_feedback = plan(TraceFilter(feedback=[FeedbackFilter.parse("thumbs<1")]))
    assert "SEARCH feedback USING INDEX feedback_name (name=? AND value_num<?)" in by_feedback
    assert "SEARCH t USING INDEX sqlite_autoindex_traces_1 (id=?)" in by_feedback
    assert "SEARCH t USING INDEX traces_start (start_time>?)" in plan(TraceFilter(since=T0))


@pytest.mark.parametrize("text", ["thumbs", "<1", "thumbs<", "score>good", "a<=b"])
def test_bad_feedback_filter_says_what_is_expected(text: str) -> None:
    with pytest.raises(QueryError, match=r"--feedback"):
        FeedbackFilter.parse(text)


def test_parse_since() -> None:
    now = 1_000_000.0
    assert parse_since("2h", now=now) == now - 7200
    assert parse_since("3d", now=now) == now - 3 * DAY
    assert parse_since("30m", now=now) == now - 1800
    assert parse_since("1w", now=now) == now - 7 * DAY
    assert parse_since("2026-09-21T14:13:20+00:00") == T0
    assert parse_since("2026-09-21T14:13:20Z") == T0
    naive = datetime(2026, 9, 21, 14, 13, 20)
    assert parse_since("2026-09-21T14:13:20") == naive.timestamp()  # local time, as the listing shows it
    with pytest.raises(QueryError, match="--since 'yesterday': expected"):
        parse_since("yesterday")


def test_resolve_full_unique_ambiguous_unknown(store: Store) -> None:
    assert resolve_trace(store, "aaa2") == "aaa2"
    assert resolve_trace(store, "ab") == "abb3"
    with pytest.raises(TraceNotFoundError, match=r"'aa' is ambiguous: it matches aaa1, aaa2"):
        resolve_trace(store, "aa")
    with pytest.raises(TraceNotFoundError, match=r"no trace id starts with 'zz'"):
        resolve_trace(store, "zz")


def test_ids_with_a_prefix_come_in_order_up_to_the_limit_and_only_from_id_columns(store: Store) -> None:
    assert store.ids_with_prefix("traces", "id", "a") == ["aaa1", "aaa2", "abb3"]
    assert store.ids_with_prefix("traces", "id", "a", limit=2) == ["aaa1", "aaa2"]
    assert store.ids_with_prefix("spans", "trace_id", "aaa2") == ["aaa2"]  # once, however many spans
    assert store.ids_with_prefix("traces", "id", "zz") == []
    with pytest.raises(ValueError, match="not an id column"):
        store.ids_with_prefix("traces", "name; DROP TABLE traces", "a")


def test_a_whole_id_wins_over_longer_ids_it_begins(store: Store) -> None:
    write_traces(store, TraceSpec("aaa10", T0))
    assert resolve_trace(store, "aaa1") == "aaa1"
    assert resolve_trace(store, "aaa10") == "aaa10"


def test_unique_prefix_length(store: Store) -> None:
    assert unique_prefix_length(store, "aaa1", minimum=1) == 4
    assert unique_prefix_length(store, "abb3", minimum=1) == 2
    assert unique_prefix_length(store, "bcc4", minimum=1) == 1
    assert unique_prefix_length(store, "bcc4", minimum=8) == 4  # never longer than the id


def test_unfinished_trace_is_found_through_its_spans(tmp_path: Path) -> None:
    from pytest_flywheel.store import SpanRecord

    store = Store(tmp_path / "s.db")
    store.write_spans(
        [
            SpanRecord(
                id="s1",
                trace_id="dead1",
                parent_id="root-never-written",
                name="tool",
                type="tool",
                start_time=T0,
                end_time=T0 + 1,
            )
        ]
    )
    detail = load_trace(store, "dea")
    assert detail.trace is None
    (root,) = detail.roots
    assert root.orphan and root.span.id == "s1"


def test_span_tree_nests_children_in_start_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    write_traces(
        store,
        TraceSpec(
            "t1",
            T0,
            children=[
                Child("second", offset_ms=20, key="b"),
                Child("first", offset_ms=5, key="a"),
                Child("inner", offset_ms=6, parent="a", key="a1"),
            ],
        ),
    )
    (root,) = SpanTree.build(store.get_spans("t1")).roots
    assert root.span.name == "support_agent"
    assert [c.span.name for c in root.children] == ["first", "second"]
    assert [c.span.name for c in root.children[0].children] == ["inner"]
    assert not root.orphan


def test_missing_and_foreign_and_empty_stores_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(
        QueryError, match=r"no trace store at .*nothing\.db: run an agent decorated with @track"
    ):
        open_store_for_reading(tmp_path / "nothing.db")
    foreign = tmp_path / "notes.db"
    foreign.write_text("just some text, not SQLite at all" * 100)
    with pytest.raises(
        StoreError, match=r"notes\.db is not a pytest-flywheel trace store \(file is not a database\)"
    ):
        open_store_for_reading(foreign)  # (refused when it is opened, by the store itself)
    Store(tmp_path / "empty.db").close()
    with (
        open_store_for_reading(tmp_path / "empty.db") as empty,
        pytest.raises(QueryError, match="holds no traces"),
    ):
        require_traces(empty)


VALUES = [
    True,
    False,
    1,
    0,
    -1,
    0.9,
    0.2,
    0.5,
    "up",
    "Down",
    "thumbs_up",
    "success",
    "failure",
    "👍",
    "👎",
    "meh",
    "1",
    "0",
    "  yes ",
    float("nan"),
    {"nested": 1},
    [1],
]


@pytest.mark.parametrize("name", ["thumbs", "task_failed", "user-thumbs-down", "markdown_ok"])
def test_sql_and_python_feedback_signals_agree(tmp_path: Path, name: str) -> None:
    store = Store(tmp_path / "s.db")
    for value in VALUES:
        store.add_feedback(FeedbackRecord(trace_id="t", name=name, value=value))
    rows = store.conn.execute(
        f"SELECT value, {FEEDBACK_SIGNAL_SQL} AS signal FROM feedback f ORDER BY id",
        feedback_signal_params(store),
    ).fetchall()
    assert [row["signal"] for row in rows] == [
        feedback_signal(name, json.loads(row["value"])) for row in rows
    ]


def test_feedback_signal_vocabulary() -> None:
    assert feedback_signal("thumbs", True) == 1
    assert feedback_signal("thumbs", "thumbs_down") == -1
    assert feedback_signal("task_failed", True) == -1
    assert feedback_signal("task_failed", False) == 1
    assert feedback_signal("markdown_ok", True) == 1  # "down" inside a word does not flip it
    assert feedback_signal("score", 0.49) == -1
    assert feedback_signal("comment", "the answer was long") == 0


def test_iso_times_are_utc() -> None:
    from pytest_flywheel.store.queries import iso_time

    assert iso_time(T0) == datetime.fromtimestamp(T0, UTC).isoformat(timespec="milliseconds")
    assert iso_time(T0).endswith("+00:00")
