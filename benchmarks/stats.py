"""Benchmark: ``flywheel stats`` over 100,000 traces (~1,000,000 spans), against loading rows into Python.

    python benchmarks/stats.py [--traces 100000] [--repeat 5] [--rebuild]

The store is generated once (deterministic, seeded) with bulk ``executemany`` inserts in the store's
own column order, and cached under the temp dir between runs; opening it through ``Store`` applies any
newer migrations (indexes) to the cached file. Both sides aggregate the same 7-day window by day,
and their results are checked to be equal before any time is reported.

The Python side is what one writes without SQL aggregation: select the window's traces, their
feedback and their spans (only the columns needed, no payloads), then group, rank and count in Python.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_flywheel.runs.trends import (  # noqa: E402
    PERIOD_SECONDS,
    ErrorType,
    FailingSpan,
    FailurePattern,
    PeriodStats,
    ProductionStats,
    compute_stats,
    period_label,
)
from pytest_flywheel.store import Store  # noqa: E402
from pytest_flywheel.store.queries import feedback_signal  # noqa: E402
from pytest_flywheel.store.store import numeric_value  # noqa: E402

NOW = 1_790_000_000.0  # a fixed "now", so the cached store and the window agree between runs
DAYS = 14
ENTRYPOINTS = (("support", "support_agent"), ("support", "triage_agent"), ("billing", "billing_agent"))
TOOLS = ("lookup_order", "search_kb", "refund", "send_email")
ERRORS = (
    ("TimeoutError", "the tool timed out after 30 s"),
    ("ValueError", "order id is not valid"),
    ("KeyError", "'customer'"),
    ("RateLimitError", "429 from the API"),
)
FEEDBACK = (
    ("thumbs", True),
    ("thumbs", False),
    ("task_failed", True),
    ("rating", "up"),
    ("rating", "down"),
    ("score", 0.9),
    ("score", 0.2),
)


def build_store(path: Path, *, traces: int, seed: int = 7) -> None:
    """Write ``traces`` traces of 10 spans each (root, retrieval, 3 llm, 4 tools, guardrail)."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    store = Store(tmp)
    conn = store.conn
    conn.execute("PRAGMA synchronous = OFF")
    span_sql = "INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    trace_sql = "INSERT INTO traces VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    feedback_sql = (
        "INSERT INTO feedback (trace_id, name, value, value_num, reason, created_at) VALUES (?,?,?,?,?,?)"
    )
    llm_input = json.dumps(
        {
            "model": "claude-haiku-5-5",
            "max_tokens": 512,
            "messages": [{"role": "user", "content": "Where is my order? " * 8}],
        }
    )
    llm_output = json.dumps(
        {"role": "assistant", "content": [{"type": "text", "text": "It ships today. " * 6}]}
    )
    span_rows: list[tuple[Any, ...]] = []
    trace_rows: list[tuple[Any, ...]] = []
    feedback_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        with store.transaction():
            conn.executemany(span_sql, span_rows)
            conn.executemany(trace_sql, trace_rows)
            conn.executemany(feedback_sql, feedback_rows)
        span_rows.clear()
        trace_rows.clear()
        feedback_rows.clear()

    step = DAYS * 86400 / traces
    for i in range(traces):
        project, entry = ENTRYPOINTS[rng.randrange(3)]
        start = NOW - DAYS * 86400 + i * step
        trace_id = f"{int(start * 1000):013x}-{i:08x}"
        failing_tool = rng.randrange(4) if rng.random() < 0.05 else None
        caught_tool = rng.randrange(4) if rng.random() < 0.03 else None
        error_kind = ERRORS[rng.randrange(len(ERRORS))]
        clock = start
        tokens_in = tokens_out = 0
        cost = 0.0
        children: list[tuple[Any, ...]] = []
        plan = [
            "retrieval",
            "llm",
            *(f"tool{k}" for k in range(2)),
            "llm",
            *(f"tool{k}" for k in range(2, 4)),
            "llm",
            "guardrail",
        ]
        root_error = None
        for j, kind in enumerate(plan):
            duration = rng.lognormvariate(-3.5, 0.8) if kind != "llm" else rng.lognormvariate(-0.7, 0.5)
            span_start, clock = clock, clock + duration
            name, span_type, error, model, t_in, t_out, span_cost = kind, kind, None, None, None, None, None
            payload_in, payload_out = json.dumps({"query": f"q{i}"}), json.dumps({"ok": True})
            if kind == "llm":
                name, model = "anthropic.messages.create", "claude-haiku-5-5"
                t_in, t_out = rng.randrange(200, 2000), rng.randrange(50, 600)
                span_cost = (t_in * 1.0 + t_out * 5.0) / 1e6
                tokens_in, tokens_out, cost = tokens_in + t_in, tokens_out + t_out, cost + span_cost
                payload_in, payload_out = llm_input, llm_output
            elif kind.startswith("tool"):
                index = int(kind[4:])
                name, span_type = TOOLS[index], "tool"
                if index == failing_tool or index == caught_tool:
                    etype, message = error_kind
                    error = json.dumps({"type": etype, "message": message, "traceback": "Traceback ..."})
                    payload_out = None
                    if index == failing_tool:
                        root_error = error
            children.append(
                (
                    f"{trace_id}-{j:02x}",
                    trace_id,
                    f"{trace_id}-root",
                    project,
                    name,
                    span_type,
                    "error" if error else "ok",
                    span_start,
                    clock,
                    duration * 1000,
                    payload_in,
                    payload_out,
                    error,
                    "[]",
                    "{}",
                    "agent.tools",
                    name,
                    "agent/tools.py",
                    10 + j,
                    model,
                    t_in,
                    t_out,
                    0 if t_in else None,
                    0 if t_in else None,
                    span_cost,
                    "end_turn" if model else None,
                )
            )
            if root_error:
                break  # the failure propagates: the rest of the plan never runs
        end = clock + 0.001
        status = "error" if root_error else "ok"
        root_input = json.dumps({"question": f"Where is order {i}?"})
        root_output = None if root_error else json.dumps("Your order ships today.")
        tags = json.dumps(["prod", "eu" if i % 3 else "us"])
        span_rows.append(
            (
                f"{trace_id}-root",
                trace_id,
                None,
                project,
                entry,
                "general",
                status,
                start,
                end,
                (end - start) * 1000,
                root_input,
                root_output,
                root_error,
                tags,
                "{}",
                "agent.main",
                entry,
                "agent/main.py",
                1,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            )
        )
        span_rows.extend(children)
        trace_rows.append(
            (
                trace_id,
                project,
                entry,
                status,
                start,
                end,
                (end - start) * 1000,
                root_input,
                root_output,
                root_error,
                tags,
                "{}",
                f"agent.main:{entry}",
                len(children) + 1,
                tokens_in,
                tokens_out,
                cost,
            )
        )
        if rng.random() < 0.2:
            name, value = FEEDBACK[rng.randrange(len(FEEDBACK))]
            if root_error and rng.random() < 0.5:
                name, value = "thumbs", False
            feedback_rows.append((trace_id, name, json.dumps(value), numeric_value(value), None, end + 60))
        if len(trace_rows) >= 10_000:
            flush()
    flush()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    tmp.replace(path)


def cached_store(traces: int, *, rebuild: bool) -> Path:
    path = Path(tempfile.gettempdir()) / "pytest-flywheel-bench" / f"stats-{traces}-v1.db"
    if rebuild or not path.exists():
        started = time.perf_counter()
        build_store(path, traces=traces)
        print(f"built {path} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    Store(path).close()  # applies migrations added since the file was cached
    return path


# -- the alternative: load the rows, aggregate in Python ---------------------------------------------


def _rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[(p * len(ordered) + 99) // 100 - 1]


def python_stats(
    store: Store,
    *,
    since: float,
    until: float,
    by: str,
    project: str | None = None,
    covered: set[str] | frozenset[str] = frozenset(),
    top: int = 10,
    examples: int = 3,
) -> ProductionStats:
    """The same figures as :func:`compute_stats`, from rows loaded into Python."""
    width = PERIOD_SECONDS[by]
    conn = store.conn
    project_sql = " AND project = :project" if project is not None else ""
    window = {"since": since, "until": until, "project": project}
    traces = {
        row["id"]: row
        for row in conn.execute(
            "SELECT id, name, status, start_time, duration_ms, input_tokens, output_tokens, cost_usd, error"
            f" FROM traces WHERE start_time >= :since AND start_time < :until{project_sql}",
            window,
        )
    }
    feedback = [row for row in conn.execute("SELECT trace_id, name, value FROM feedback") if row[0] in traces]
    spans = [
        row
        for row in conn.execute(
            "SELECT trace_id, id, parent_id, name, type, status, end_time, error FROM spans"
            f" WHERE start_time >= :since{project_sql}",
            window,
        )
        if row["trace_id"] in traces
    ]

    def figures(rows: list[Any], start: float, label: str) -> PeriodStats:
        durations = [r["duration_ms"] for r in rows]
        return PeriodStats(
            start=start,
            label=label,
            traces=len(rows),
            errors=sum(r["status"] == "error" for r in rows),
            latency_p50_ms=_rank(durations, 50) if rows else None,
            latency_p95_ms=_rank(durations, 95) if rows else None,
            input_tokens=sum(r["input_tokens"] for r in rows),
            output_tokens=sum(r["output_tokens"] for r in rows),
            cost_usd=sum(r["cost_usd"] for r in rows),
        )

    by_bucket: dict[int, list[Any]] = defaultdict(list)
    for row in traces.values():
        by_bucket[int(row["start_time"] // width)].append(row)
    signals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    negative_names: dict[str, str] = {}
    for trace_id, name, value in feedback:
        signal = feedback_signal(name, json.loads(value))
        if signal > 0:
            signals[trace_id][0] += 1
        elif signal < 0:
            signals[trace_id][1] += 1
            negative_names[trace_id] = min(negative_names.get(trace_id, name), name)
    rated = {tid: pn for tid, pn in signals.items() if pn[0] + pn[1] > 0}

    def add_rated(period: PeriodStats, ids: set[str]) -> PeriodStats:
        period.rated = sum(1 for tid in rated if tid in ids)
        period.successes = sum(1 for tid, (pos, neg) in rated.items() if tid in ids and pos > neg)
        return period

    periods = []
    for bucket in range(int(since // width), int(-(-until // width))):
        rows = by_bucket.get(bucket, [])
        periods.append(
            add_rated(
                figures(rows, bucket * width, period_label(bucket * width, by)), {r["id"] for r in rows}
            )
        )
    totals = add_rated(figures(list(traces.values()), since, "total"), set(traces))

    errored_parents = {s["parent_id"] for s in spans if s["status"] == "error"}
    origins = [s for s in spans if s["status"] == "error" and s["id"] not in errored_parents]
    span_groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    type_groups: dict[str, list[Any]] = defaultdict(list)
    first_origin: dict[str, Any] = {}
    for s in origins:
        error = json.loads(s["error"])
        span_groups[(s["name"], s["type"])].append(s)
        type_groups[error.get("type") or "Error"].append((s, error.get("message")))
        current = first_origin.get(s["trace_id"])
        if current is None or (s["end_time"], s["id"]) < (current["end_time"], current["id"]):
            first_origin[s["trace_id"]] = s
    failing_spans = sorted(
        (
            FailingSpan(name=n, type=t, failures=len(g), traces=len({s["trace_id"] for s in g}))
            for (n, t), g in span_groups.items()
        ),
        key=lambda f: (-f.failures, -f.traces, f.name, f.type),
    )[:top]
    error_types = sorted(
        (
            ErrorType(
                type=t,
                failures=len(g),
                traces=len({s["trace_id"] for s, _ in g}),
                example_message=max((m for _, m in g if m is not None), default=None),
            )
            for t, g in type_groups.items()
        ),
        key=lambda e: (-e.failures, -e.traces, e.type),
    )[:top]

    failing: list[tuple[tuple[Any, ...], float, str]] = []
    for tid, row in traces.items():
        if row["status"] == "error":
            origin = first_origin.get(tid)
            etype = json.loads(origin["error"]).get("type") if origin else None
            if etype is None and row["error"]:
                etype = json.loads(row["error"]).get("type")
            key: tuple[Any, ...] = (
                "error",
                row["name"],
                etype or "Error",
                origin["name"] if origin else None,
                None,
            )
        elif tid in rated and rated[tid][1] > 0 and rated[tid][1] >= rated[tid][0]:
            key = ("feedback", row["name"], None, None, negative_names[tid])
        else:
            continue
        failing.append((key, row["start_time"], tid))
    groups: dict[tuple[Any, ...], list[tuple[float, str]]] = defaultdict(list)
    for key, start, tid in failing:
        if tid not in covered:
            groups[key].append((start, tid))
    uncovered = sorted(
        (
            FailurePattern(
                kind=k[0],
                entrypoint=k[1],
                error_type=k[2],
                span=k[3],
                feedback=k[4],
                count=len(g),
                last_seen=max(s for s, _ in g),
                example_trace_ids=[tid for _, tid in sorted(g, reverse=True)[:examples]],
            )
            for k, g in groups.items()
        ),
        key=lambda p: (-p.count, -p.last_seen, p.entrypoint),
    )[:top]
    return ProductionStats(
        by=by,
        since=since,
        until=until,
        project=project,
        periods=periods,
        totals=totals,
        failing_spans=failing_spans,
        error_types=error_types,
        uncovered=uncovered,
        failing_traces=len(failing),
        covered_failing_traces=sum(1 for _, _, tid in failing if tid in covered),
        traces_with_raising_spans=len({s["trace_id"] for s in spans if s["status"] == "error"}),
    )


def comparable(stats: ProductionStats) -> Any:
    """``to_json()`` with float sums rounded: SQLite and Python add in different orders."""

    def fix(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return fix(stats.to_json())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    path = cached_store(args.traces, rebuild=args.rebuild)
    store = Store(path, readonly=True)
    spans = store.conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    since, until = NOW - 7 * 86400, NOW
    covered = {
        row[0]
        for row in store.conn.execute(
            "SELECT id FROM traces WHERE status = 'error' AND start_time >= ? ORDER BY id LIMIT 200", (since,)
        )
    }

    def sql_side() -> ProductionStats:
        return compute_stats(store, since=since, until=until, by="day", covered_trace_ids=covered)

    def python_side() -> ProductionStats:
        return python_stats(store, since=since, until=until, by="day", covered=covered)

    if comparable(sql_side()) != comparable(python_side()):
        print("MISMATCH: the SQL and Python aggregations disagree", file=sys.stderr)
        return 1
    timings: dict[str, list[float]] = {"sql": [], "python": []}
    for _ in range(args.repeat):
        for name, run in (("sql", sql_side), ("python", python_side)):
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    sql_median, py_median = statistics.median(timings["sql"]), statistics.median(timings["python"])
    print(
        f"store: {args.traces:,} traces, {spans:,} spans, {path.stat().st_size / 1e6:.0f} MB; window 7 days by day"
    )
    print(
        f"flywheel stats (SQL):      median {sql_median:.3f} s  runs {[round(t, 3) for t in timings['sql']]}"
    )
    print(
        f"rows loaded into Python:   median {py_median:.3f} s  runs {[round(t, 3) for t in timings['python']]}"
    )
    print(
        f"ratio Python / SQL: {py_median / sql_median:.1f}x; target <= 2 s: "
        f"{'met' if sql_median <= 2.0 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
