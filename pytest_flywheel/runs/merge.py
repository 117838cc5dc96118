"""``flywheel runs merge``: run records from several stores (CI shards, other machines) in one store.

Every run keeps its id, so merging the same stores again adds nothing, and a run already present with
other results is a conflict that is reported and left as it was. With ``combine``, the runs read are
instead joined into one run, the only one stored — the shards of one suite run — whose cases are the union of theirs (a case
that two shards both ran must agree) and whose summary is computed as the plugin computes a session's;
its id is derived from the shards' ids, so combining again adds nothing either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.runs.model import CaseResult, RunRecord
from pytest_flywheel.runs.queries import load_run, save_run
from pytest_flywheel.runs.recorder import run_from_report
from pytest_flywheel.store import Store, StoreError


class MergeError(FlywheelError):
    """Runs that cannot be merged (a store that cannot be read, shards that disagree)."""


@dataclass
class MergeResult:
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    combined: RunRecord | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"added": self.added, "already_present": self.present, "conflicts": self.conflicts}
        if self.combined is not None:
            run = self.combined
            data["combined"] = {"id": run.id, "total": run.total, "passed": run.count("passed"),
                                "failed": run.count("failed"), "errors": run.count("error"),
                                "pass_rate": run.pass_rate, "merged_from": run.report.get("merged_from", [])}
        return data


def _fingerprint(run: RunRecord) -> str:
    cases = sorted((c.nodeid, c.outcome, [(a.assertion, a.passed) for a in c.assertions]) for c in run.cases)
    return json.dumps([run.started_at, run.ended_at, cases], sort_keys=True, default=str)


def read_runs(paths: Sequence[Path], *, target: Path) -> list[RunRecord]:
    """Every run of every store in ``paths``, whole (cases and assertions)."""
    runs: list[RunRecord] = []
    for path in paths:
        if path.resolve() == target.resolve():
            raise MergeError(f"{path} is the store being merged into; name the other stores")
        if not path.is_file():
            raise MergeError(f"no store at {path}: name the .flywheel/flywheel.db files the CI jobs kept")
        try:
            with Store(path, readonly=True) as store:
                ids = [row[0] for row in store.conn.execute("SELECT id FROM runs ORDER BY started_at, id")]
                runs.extend(load_run(store, run_id) for run_id in ids)
        except (StoreError, OSError, ValueError) as exc:
            raise MergeError(f"{path}: cannot read its runs ({exc})") from None
        except Exception as exc:  # sqlite3.DatabaseError: not a store
            raise MergeError(f"{path} is not a pytest-flywheel store ({type(exc).__name__}: {exc})") from None
    return runs


def _case_entry(case: CaseResult) -> dict[str, Any]:
    return {
        "nodeid": case.nodeid, "suite": case.suite, "case_id": case.case_id, "outcome": case.outcome,
        "duration_ms": case.duration_ms, "tokens": case.tokens, "cost_usd": case.cost_usd, "output": case.output,
        "trajectory": case.trajectory, "message": case.message,
        "assertions": [vars(item).copy() for item in case.assertions],
    }


def _suite_stats(cases: list[dict[str, Any]], minimum: float | None) -> dict[str, dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = {}
    for case in cases:
        name = case.get("suite") or "(hand-written tests)"
        entry = stats.setdefault(name, {"cases": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0})
        entry["cases"] += 1
        outcome = case.get("outcome")
        key = {"passed": "passed", "failed": "failed", "error": "errors", "skipped": "skipped"}.get(str(outcome))
        if key:
            entry[key] += 1
    for entry in stats.values():
        counted = entry["passed"] + entry["failed"] + entry["errors"]
        entry["pass_rate"] = entry["passed"] / counted if counted else None
        entry["passed_min_pass_rate"] = minimum is None or (entry["pass_rate"] or 0.0) >= minimum
    return stats


def combine_runs(runs: Sequence[RunRecord]) -> RunRecord:
    """The shards ``runs`` joined into one run (see the module's docstring)."""
    if not runs:
        raise MergeError("no runs to combine: the stores hold no recorded runs")
    commits = {run.git_commit for run in runs if run.git_commit}
    if len(commits) > 1:
        raise MergeError(f"the runs tested different commits ({', '.join(sorted(c[:7] for c in commits))}); "
                         "combine only the shards of one run")
    cases: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.id)):
        by_nodeid = {entry.get("nodeid"): entry for entry in run.report.get("cases") or [] if isinstance(entry, dict)}
        for case in run.cases:
            entry = by_nodeid.get(case.nodeid) or _case_entry(case)
            earlier = cases.get(case.nodeid)
            if earlier is not None and earlier.get("outcome") != entry.get("outcome"):
                raise MergeError(f"{case.nodeid} ran in two of the runs with different outcomes "
                                 f"({earlier.get('outcome')} and {entry.get('outcome')}); these are not shards of "
                                 "one run")
            cases.setdefault(case.nodeid, entry)
    ids = sorted(run.id for run in runs)
    started = min(run.started_at for run in runs)
    ended = max(run.ended_at for run in runs)
    minima = {run.report.get("min_pass_rate") for run in runs}
    minimum = next(iter(minima)) if len(minima) == 1 else None
    suites = _suite_stats(list(cases.values()), minimum)
    judge: dict[str, float] = {}
    for run in runs:
        for key, value in (run.report.get("judge") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                judge[key] = judge.get(key, 0) + value
    report: dict[str, Any] = {
        **{key: value for key, value in runs[0].report.items() if key not in ("cases", "suites", "judge", "verdicts")},
        "started_at": started, "ended_at": ended, "duration_s": round(ended - started, 3),
        "min_pass_rate": minimum,
        "passed": all(c.get("outcome") in ("passed", "skipped") for c in cases.values())
        and all(s["passed_min_pass_rate"] for s in suites.values()),
        "passed_min_pass_rate": all(s["passed_min_pass_rate"] for s in suites.values()),
        "suites": suites,
        "cases": list(cases.values()),
        "judge": judge,
        "merged_from": ids,
    }
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:20]
    combined = run_from_report(report, run_id=f"{int(started * 1000):012x}{digest}")
    combined.git_commit = next(iter(commits), None)
    branches = {run.git_branch for run in runs if run.git_branch}
    combined.git_branch = next(iter(branches)) if len(branches) == 1 else None
    return combined


def merge_runs(target: Store, sources: Sequence[Path], *, combine: bool = False) -> MergeResult:
    """Copy the runs of ``sources`` into ``target`` (and with ``combine`` join them into one run)."""
    runs = read_runs(sources, target=target.path)
    result = MergeResult()
    if combine:
        runs = [combine_runs(runs)]
    for run in runs:
        row = target.conn.execute("SELECT id FROM runs WHERE id = ?", (run.id,)).fetchone()
        if row is not None:
            same = _fingerprint(load_run(target, run.id)) == _fingerprint(run)
            (result.present if same else result.conflicts).append(run.id)
            continue
        save_run(target, run)
        result.added.append(run.id)
    if combine:
        result.combined = runs[0]
    return result
