"""Each fix in the store (table ``fixes``): what was proposed, what became of it, the runs that validated it.

A fix's validation runs are saved with it, in the user's store, like any run. The runs of a fix that
was not applied tested code the project does not have:
:func:`pytest_flywheel.runs.queries.unapplied_fix_runs` names them, so that no comparison, gate or
``flywheel fix`` takes one for a suite's latest run, and ``flywheel runs list`` marks them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.runs.model import RunRecord
from pytest_flywheel.store import Store
from pytest_flywheel.tracing.ids import new_id

#: What became of a fix.
STATUSES = ("applied", "declined", "patch_written", "refused", "no_change", "failed")


@dataclass
class FixRecord:
    target: str
    status: str
    model: str | None = None
    summary: str | None = None
    diff: str | None = None
    baseline_run: str | None = None
    validation_runs: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    validation_cost: float | None = None
    id: str = field(default_factory=new_id)
    created_at: float = field(default_factory=time.time)


def save_fix(store: Store, fix: FixRecord, runs: list[RunRecord] | None = None) -> None:
    """Insert or update one fix, then save its validation ``runs`` (the fix first: a run saved without
    its fix would pass for a run of the project's own code)."""
    from pytest_flywheel.runs.queries import save_run

    fix.validation_runs = list(dict.fromkeys([*fix.validation_runs, *(run.id for run in runs or [])]))
    if fix.status not in STATUSES:
        raise ValueError(f"unknown fix status {fix.status!r}; expected one of {', '.join(STATUSES)}")
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO fixes (id, created_at, target, model, summary, diff, status, baseline_run,"
            " validation_runs, input_tokens, output_tokens, cost_usd, validation_cost)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                fix.id,
                fix.created_at,
                fix.target,
                fix.model,
                fix.summary,
                fix.diff,
                fix.status,
                fix.baseline_run,
                json.dumps(fix.validation_runs),
                fix.input_tokens,
                fix.output_tokens,
                fix.cost_usd,
                fix.validation_cost,
            ),
        )
    for run in runs or []:
        save_run(store, run)


def load_fixes(store: Store, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest fixes first, as plain dicts (``validation_runs`` decoded)."""
    rows = store.conn.execute("SELECT * FROM fixes ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
    fixes = []
    for row in rows:
        item = dict(row)
        item["validation_runs"] = json.loads(item["validation_runs"] or "[]")
        fixes.append(item)
    return fixes
