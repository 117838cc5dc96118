"""Saving and loading runs in the store."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.runs.model import AssertionResult, CaseResult, RunRecord
from pytest_flywheel.store import Store


class RunNotFoundError(FlywheelError):
    """A run id (or prefix) that names no recorded run."""


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def save_run(store: Store, run: RunRecord) -> None:
    """Write a run and all its case and assertion results in one transaction."""
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO runs (id, started_at, ended_at, git_commit, git_branch, suites, total,"
            " passed, failed, errors, pass_rate, judge_calls, judge_tokens, judge_cost, report)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run.id,
                run.started_at,
                run.ended_at,
                run.git_commit,
                run.git_branch,
                _dump(run.suites),
                run.total,
                run.count("passed"),
                run.count("failed"),
                run.count("error"),
                run.pass_rate,
                run.judge_calls,
                run.judge_tokens,
                run.judge_cost,
                _dump(run.report) or "{}",
            ),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO run_cases VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    run.id,
                    case.nodeid,
                    case.suite,
                    case.case_id,
                    case.outcome,
                    case.duration_ms,
                    case.tokens,
                    case.cost_usd,
                    _dump(case.output),
                    _dump(case.trajectory),
                    case.message,
                )
                for case in run.cases
            ],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO run_assertions VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    run.id,
                    case.nodeid,
                    index,
                    item.assertion,
                    item.kind,
                    None if item.passed is None else int(item.passed),
                    item.reason,
                    None if item.cached is None else int(item.cached),
                    item.confidence,
                )
                for case in run.cases
                for index, item in enumerate(case.assertions)
            ],
        )


def _run_from_row(row: sqlite3.Row, cases: list[CaseResult]) -> RunRecord:
    return RunRecord(
        id=row["id"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        cases=cases,
        suites=_load(row["suites"]) or [],
        git_commit=row["git_commit"],
        git_branch=row["git_branch"],
        judge_calls=row["judge_calls"],
        judge_tokens=row["judge_tokens"],
        judge_cost=row["judge_cost"],
        report=_load(row["report"]) or {},
    )


def _cases_of(store: Store, run_id: str) -> list[CaseResult]:
    assertions: dict[str, list[AssertionResult]] = {}
    for row in store.conn.execute(
        "SELECT * FROM run_assertions WHERE run_id = ? ORDER BY nodeid, idx", (run_id,)
    ):
        assertions.setdefault(row["nodeid"], []).append(
            AssertionResult(
                assertion=row["assertion"],
                kind=row["kind"],
                passed=None if row["passed"] is None else bool(row["passed"]),
                reason=row["reason"],
                cached=None if row["cached"] is None else bool(row["cached"]),
                confidence=row["confidence"],
            )
        )
    return [
        CaseResult(
            nodeid=row["nodeid"],
            case_id=row["case_id"],
            outcome=row["outcome"],
            suite=row["suite"],
            duration_ms=row["duration_ms"],
            tokens=row["tokens"],
            cost_usd=row["cost_usd"],
            output=_load(row["output"]),
            trajectory=_load(row["trajectory"]),
            message=row["message"],
            assertions=assertions.get(row["nodeid"], []),
        )
        for row in store.conn.execute("SELECT * FROM run_cases WHERE run_id = ? ORDER BY rowid", (run_id,))
    ]


def resolve_run_id(store: Store, prefix: str) -> str:
    """The full id of the one run whose id starts with ``prefix``."""
    found = store.ids_with_prefix("runs", "id", prefix, limit=2)
    if not found:
        raise RunNotFoundError(
            f"no recorded run has an id starting with {prefix!r}: see `flywheel runs list`"
        )
    if len(found) > 1:
        raise RunNotFoundError(f"run id prefix {prefix!r} is ambiguous: give more characters")
    return found[0]


def load_run(store: Store, run_id: str) -> RunRecord:
    """The run with that id (or unique prefix), with all its results."""
    full = resolve_run_id(store, run_id)
    row = store.conn.execute("SELECT * FROM runs WHERE id = ?", (full,)).fetchone()
    run = _run_from_row(row, _cases_of(store, full))
    _latencies_from_report(run)
    return run


def _latencies_from_report(run: RunRecord) -> None:
    """Fill each case's ``latency_ms`` from the stored report (the runs tables have no column for it)."""
    cases = run.report.get("cases")
    latencies: dict[Any, float] = {
        item.get("nodeid"): float(item["latency_ms"])
        for item in (cases if isinstance(cases, list) else [])
        if isinstance(item, dict) and isinstance(item.get("latency_ms"), int | float)
    }
    for case in run.cases:
        if case.latency_ms is None and case.nodeid in latencies:
            case.latency_ms = latencies[case.nodeid]


def list_runs(
    store: Store, *, suite: str | None = None, limit: int = 20, own_code_only: bool = False
) -> list[RunRecord]:
    """The newest runs first (without their case results: use :func:`load_run` for those).
    ``own_code_only`` leaves out the validation runs of fixes not applied (:func:`unapplied_fix_runs`)."""
    if own_code_only:
        skip = unapplied_fix_runs(store)
        runs = list_runs(store, suite=suite, limit=limit + len(skip))
        return [run for run in runs if run.id not in skip][:limit]
    if suite:
        rows = store.conn.execute(
            "SELECT runs.* FROM runs WHERE EXISTS (SELECT 1 FROM json_each(runs.suites) WHERE value = ?)"
            " ORDER BY started_at DESC LIMIT ?",
            (suite, limit),
        ).fetchall()
    else:
        rows = store.conn.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
    return [_run_from_row(row, []) for row in rows]


#: The validation runs of ``flywheel fix`` proposals that were not applied: they ran code the project
#: does not have, so no comparison or gate takes them for a suite's previous run.
_UNAPPLIED_FIX_RUNS = (
    "SELECT value FROM fixes, json_each(fixes.validation_runs) WHERE fixes.status != 'applied'"
)


def unapplied_fix_runs(store: Store) -> set[str]:
    """Ids of the validation runs of fixes that were not applied (none in a store, opened read-only,
    from before ``flywheel fix`` existed)."""
    try:
        rows = store.conn.execute(_UNAPPLIED_FIX_RUNS).fetchall()
    except sqlite3.OperationalError:  # no fixes table: no fix ever ran here
        return set()
    return {str(row[0]) for row in rows}


def previous_run(store: Store, *, suite: str, started_before: float, exclude_id: str | None = None) -> RunRecord | None:
    """The newest recorded run of ``suite`` that started before ``started_before`` (never ``exclude_id``,
    the run being compared, nor a validation run of a fix that was not applied), with its results; None
    when there is none."""
    skip = unapplied_fix_runs(store)
    rows = store.conn.execute(
        "SELECT id FROM runs WHERE id != ? AND started_at < ?"
        " AND EXISTS (SELECT 1 FROM json_each(runs.suites) WHERE value = ?)"
        " ORDER BY started_at DESC, id DESC LIMIT ?",
        (exclude_id or "", started_before, suite, len(skip) + 1),
    ).fetchall()
    found = next((row["id"] for row in rows if row["id"] not in skip), None)
    return None if found is None else load_run(store, found)


def run_summary_counts(store: Store, run_id: str) -> dict[str, int]:
    """passed/failed/errors/total as stored (without loading the cases)."""
    row = store.conn.execute(
        "SELECT total, passed, failed, errors FROM runs WHERE id = ?", (run_id,)
    ).fetchone()
    return {key: int(row[key]) for key in ("total", "passed", "failed", "errors")}
