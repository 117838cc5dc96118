"""``flywheel runs list`` and ``flywheel runs compare``."""

from __future__ import annotations

import argparse
import sys

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import (
    add_json_option,
    add_store_option,
    add_target_store_option,
    format_time,
    open_store_for_reading,
    print_json,
    print_json_line,
    store_path,
)
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.runs import CHANGES, RunComparison, RunRecord, compare_runs, list_runs, load_run
from pytest_flywheel.runs.budget import (
    METRICS,
    BudgetGates,
    describe_change,
    format_figure,
    parse_increase,
)
from pytest_flywheel.store import Store
from pytest_flywheel.store.queries import iso_time

MARK = {True: "PASS", False: "FAIL", None: "—"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = subparsers.add_parser(
        "runs",
        help="Recorded suite runs: list them, compare two side by side",
        description="Every pytest session that ran suite cases or marked tests is recorded in the store.",
    )
    sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    listing = sub.add_parser(
        "list",
        help="The newest runs first",
        description="List the recorded runs, newest first, with their pass rates. Exit status 1 when "
        "there is none.",
    )
    listing.add_argument("--suite", type=values.text, metavar="SUITE", help="Only runs that included this suite")
    listing.add_argument("--limit", type=values.count, default=20, metavar="N", help="How many runs (default 20)")
    add_json_option(listing, "One JSON object per run, one per line")
    add_store_option(listing)
    listing.set_defaults(func=run_list)

    compare = sub.add_parser(
        "compare",
        help="Fixed / regressed / still failing, case by case (exit 1 when something regressed)",
        description="Compare two runs case by case and assertion by assertion: fixed, regressed, still "
        "failing, new, gone. With no run named, the last two runs (of --suite). Exit status 1 when "
        "something regressed, so a deploy can be gated on it.",
    )
    compare.add_argument(
        "run_a", nargs="?", type=values.text, metavar="RUN_A", help="The earlier run (id or prefix)"
    )
    compare.add_argument("run_b", nargs="?", type=values.text, metavar="RUN_B", help="The later run (id or prefix)")
    compare.add_argument(
        "--suite", type=values.text, metavar="SUITE", help="Default pair: the last two runs of this suite"
    )
    add_json_option(compare, "Print the comparison as JSON")
    for metric, what in (("cost", "cost in USD"), ("tokens", "tokens"), ("latency", "latency")):
        compare.add_argument(
            f"--max-{metric}-increase",
            type=_increase,
            metavar="PCT",
            help=f"A case whose agent's {what} rose by more than PCT (as in 20%%) is a regression",
        )
    add_store_option(compare)
    compare.set_defaults(func=run_compare)

    merge = sub.add_parser(
        "merge",
        help="Copy the runs of other stores (CI shards, other machines) into this one, without duplicates",
        description="Copy the recorded runs of other stores into this one; a run already here is not copied "
        "again. With --combine, the runs read are joined into one run (the shards of one suite run).",
    )
    merge.add_argument("stores", nargs="+", type=values.path, metavar="STORE", help="Stores to take runs from")
    merge.add_argument("--combine", action="store_true",
                       help="Store one run joining the runs read instead of each of them (the shards of one "
                       "suite run)")
    add_json_option(merge, "Print what was merged as JSON")
    add_target_store_option(merge, "The store to merge into (default: FLYWHEEL_STORE, or [tool.flywheel])")
    merge.set_defaults(func=run_merge)


#: ``--max-*-increase``: a percentage, as in 20% (a BudgetError is a ValueError).
_increase = values.text_matching("a percentage", parse_increase, kind="amount")


def _pass_rate(run: RunRecord, stored: dict[str, int] | None = None) -> str:
    rate = run.report.get("pass_rate") if not run.cases else run.pass_rate
    if run.cases:
        passed, ran = run.count("passed"), sum(1 for c in run.cases if c.outcome != "skipped")
    elif stored:
        passed, ran = stored["passed"], stored["passed"] + stored["failed"] + stored["errors"]
        rate = passed / ran if ran else None
    else:
        passed = ran = 0
    return "n/a" if rate is None else f"{rate:.1%} ({passed}/{ran})"


def _stored_rate(counts: dict[str, int]) -> float | None:
    ran = counts["passed"] + counts["failed"] + counts["errors"]
    return counts["passed"] / ran if ran else None


def run_list(args: argparse.Namespace) -> int:
    from pytest_flywheel.runs.queries import unapplied_fix_runs

    with open_store_for_reading(args) as store:
        runs = list_runs(store, suite=args.suite, limit=args.limit)
        unapplied = unapplied_fix_runs(store)  # listed, marked: they ran code the project does not have
        counts = {
            run.id: dict(
                store.conn.execute(
                    "SELECT total, passed, failed, errors FROM runs WHERE id = ?", (run.id,)
                ).fetchone()
            )
            for run in runs
        }
    if not runs:
        where = f" of suite {args.suite!r}" if args.suite else ""
        raise FlywheelError(f"no recorded runs{where}: run `pytest --flywheel-suite=NAME` first")
    if args.json:
        for run in runs:
            print_json_line(
                {
                    "id": run.id,
                    "started_at": iso_time(run.started_at),
                    "ended_at": iso_time(run.ended_at),
                    "duration_ms": round((run.ended_at - run.started_at) * 1000, 3),
                    "suites": run.suites,
                    "git_commit": run.git_commit,
                    "git_branch": run.git_branch,
                    **counts[run.id],
                    "pass_rate": _stored_rate(counts[run.id]),
                    "judge_calls": run.judge_calls,
                    "judge_tokens": run.judge_tokens,
                    "judge_cost_usd": run.judge_cost,
                    "unapplied_fix": run.id in unapplied,
                }
            )
        return 0
    print(f"{'RUN':<32} {'STARTED':<19} {'COMMIT':<8} {'PASS RATE':<18} SUITES")
    for run in runs:
        commit = (run.git_commit or "")[:7]
        print(
            f"{run.id:<32} {format_time(run.started_at):<19} {commit:<8} "
            f"{_pass_rate(run, counts[run.id]):<18} {', '.join(run.suites) or '(marked tests)'}"
            f"{' (validation of a fix not applied)' if run.id in unapplied else ''}"
        )
    return 0


def _default_pair(store: Store, suite: str | None) -> tuple[str, str]:
    # a declined fix's validation ran code the project does not have: never compared by default
    runs = list_runs(store, suite=suite, limit=50, own_code_only=True)
    if not runs:
        raise FlywheelError("no recorded runs to compare: run `pytest --flywheel-suite=NAME` twice first")
    newest = runs[0]
    for older in runs[1:]:
        if suite or set(older.suites) & set(newest.suites) or not (older.suites or newest.suites):
            return older.id, newest.id
    raise FlywheelError(
        f"only one run of {suite or ', '.join(newest.suites) or 'these tests'} is recorded: "
        "run the suite again, or name two runs: `flywheel runs compare RUN_A RUN_B`"
    )


def change_lines(comparison: RunComparison) -> list[str]:
    """The comparison's cases grouped by change (regressed first), each changed assertion under its case."""
    lines: list[str] = []
    groups = comparison.by_change()
    for change in CHANGES:
        cases = groups[change]
        if not cases:
            continue
        if change == "still passing":
            lines.append(f"STILL PASSING ({len(cases)})")
            continue
        lines.append(f"{change.upper()} ({len(cases)})")
        for case in cases:
            lines.append(f"  {case.key}   {case.before or '—'} → {case.after or '—'}")
            for item in case.assertions:
                if item.change == "still passing":
                    continue
                reason = item.reason_after if item.after is not None else item.reason_before
                suffix = f"  ({reason})" if reason and item.after is False else ""
                before = "UNCHECKED" if item.unchecked_before else MARK[item.before]
                after = "UNCHECKED" if item.unchecked_after else MARK[item.after]
                lines.append(f"    {before} → {after}  {item.assertion}{suffix}")
    return lines


def run_compare(args: argparse.Namespace) -> int:
    with open_store_for_reading(args) as store:
        if args.run_a and args.run_b:
            a_id, b_id = args.run_a, args.run_b
        elif args.run_a or args.run_b:
            raise FlywheelError("name both runs (`flywheel runs compare RUN_A RUN_B`) or neither")
        else:
            a_id, b_id = _default_pair(store, args.suite)
        gates = BudgetGates(
            max_cost_increase=args.max_cost_increase,
            max_tokens_increase=args.max_tokens_increase,
            max_latency_increase=args.max_latency_increase,
        )
        comparison = compare_runs(load_run(store, a_id), load_run(store, b_id), gates=gates)
    if args.json:
        print_json(comparison.to_json())
        return 1 if comparison.regressed else 0
    for label, run in (("A", comparison.run_a), ("B", comparison.run_b)):
        commit = f", {run.git_commit[:7]}" if run.git_commit else ""
        print(f"Run {label} {run.id} ({format_time(run.started_at)}{commit})  pass rate {_pass_rate(run)}")
    print()
    for line in change_lines(comparison):
        print(line)
    _print_budget(comparison)
    print()
    if comparison.outcome_regressed:
        print("Something regressed.")
    elif comparison.budget.over_budget:
        print("Something regressed: over budget.")
    else:
        print("Nothing regressed.")
    return 1 if comparison.regressed else 0


def _print_budget(comparison: RunComparison) -> None:
    """The agent's cost, tokens and latency over the cases both runs ran; the cases over a gate."""
    budget = comparison.budget
    if not budget.cases:
        return
    print()
    count = len(budget.cases)
    print(f"AGENT'S OWN CALLS ({count} case{'s' if count != 1 else ''} in both runs)   A → B")
    for metric, (before, after) in budget.totals().items():
        if before is None or after is None:
            print(f"  {metric:<11} not recorded")
            continue
        change = "" if not before else f"   ({(after - before) / before:+.1%})"
        print(f"  {metric:<11} {format_figure(metric, before)} → {format_figure(metric, after)}{change}")
    over = budget.over_budget
    if over:
        limits = ", ".join(
            f"{metric} +{limit:.1%}" for metric in METRICS if (limit := budget.gates.limit(metric)) is not None
        )
        print()
        print(f"OVER BUDGET ({len(over)})   limits: {limits}")
        for case in over:
            print(f"  {case.key}   " + "; ".join(describe_change(figure) for figure in case.over))


def run_merge(args: argparse.Namespace) -> int:
    from pytest_flywheel.runs.merge import merge_runs

    with Store(store_path(args)) as store:
        result = merge_runs(store, args.stores, combine=args.combine)
    if args.json:
        print_json(result.to_json())
    else:
        print(f"runs: {len(result.added)} added, {len(result.present)} already present, "
              f"{len(result.conflicts)} in conflict")
        if result.combined is not None:
            run = result.combined
            print(f"combined {len(run.report.get('merged_from', []))} runs into {run.id}: {run.total} cases, "
                  f"pass rate {_pass_rate(run)}")
        for run_id in result.conflicts:
            print(f"flywheel: error: run {run_id} is already in the store with other results; left as it was",
                  file=sys.stderr)
    return 1 if result.conflicts else 0
