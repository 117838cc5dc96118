"""Side by side: what a run fixed, broke, or left as it was, per case and per assertion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.runs.budget import BudgetComparison, BudgetGates, compare_budgets
from pytest_flywheel.runs.model import FAILING_OUTCOMES, AssertionResult, CaseResult, RunRecord
from pytest_flywheel.store.queries import iso_time

#: The change classes, in the order a report shows them.
CHANGES: tuple[str, ...] = ("regressed", "fixed", "still failing", "new", "removed", "still passing")


def _change(before: bool | None, after: bool | None) -> str:
    if before is None:
        return "new"
    if after is None:
        return "removed"
    if before and after:
        return "still passing"
    if before and not after:
        return "regressed"
    if not before and after:
        return "fixed"
    return "still failing"


def _case_passed(case: CaseResult | None) -> bool | None:
    if case is None or case.outcome == "skipped":
        return None
    return case.outcome not in FAILING_OUTCOMES


def _verdict(item: AssertionResult | None) -> bool | None:
    """An assertion's standing for the change: None when the run did not have it. One the run had but
    never checked (the target raised, a cassette missed) counts as not passing, like its case."""
    return None if item is None else item.passed is True


@dataclass
class AssertionChange:
    """One assertion in both runs. ``before`` / ``after`` are the verdicts, None when the run did not have
    the assertion or never checked it (then ``unchecked_before`` / ``unchecked_after`` is True)."""

    assertion: str
    change: str
    before: bool | None
    after: bool | None
    reason_before: str | None = None
    reason_after: str | None = None
    unchecked_before: bool = False
    unchecked_after: bool = False


@dataclass
class CaseChange:
    key: str
    change: str
    before: str | None  # the outcome in run A
    after: str | None
    assertions: list[AssertionChange] = field(default_factory=list)


@dataclass
class RunComparison:
    run_a: RunRecord
    run_b: RunRecord
    cases: list[CaseChange]
    #: Each case's cost, tokens and latency in both runs, against the budget gates.
    budget: BudgetComparison = field(default_factory=lambda: BudgetComparison(gates=BudgetGates()))

    def by_change(self) -> dict[str, list[CaseChange]]:
        groups: dict[str, list[CaseChange]] = {name: [] for name in CHANGES}
        for case in self.cases:
            groups[case.change].append(case)
        return groups

    @property
    def outcome_regressed(self) -> bool:
        """True when a case, or an assertion of a case present in both runs, went from passing to failing."""
        return any(
            case.change == "regressed" or any(a.change == "regressed" for a in case.assertions)
            for case in self.cases
        )

    @property
    def regressed(self) -> bool:
        """An outcome regressed, or a case's cost, tokens or latency rose past a budget gate."""
        return self.outcome_regressed or bool(self.budget.over_budget)

    def to_json(self) -> dict[str, Any]:
        def run(record: RunRecord) -> dict[str, Any]:
            return {
                "id": record.id,
                "started_at": iso_time(record.started_at),
                "git_commit": record.git_commit,
                "pass_rate": record.pass_rate,
                "total": record.total,
            }

        return {
            "run_a": run(self.run_a),
            "run_b": run(self.run_b),
            "regressed": self.regressed,
            "outcome_regressed": self.outcome_regressed,
            "over_budget": bool(self.budget.over_budget),
            "budget": self.budget.to_json(),
            "counts": {name: len(items) for name, items in self.by_change().items()},
            "cases": [
                {
                    "key": case.key,
                    "change": case.change,
                    "before": case.before,
                    "after": case.after,
                    "assertions": [
                        {
                            "assertion": a.assertion,
                            "change": a.change,
                            "before": a.before,
                            "after": a.after,
                            "reason_before": a.reason_before,
                            "reason_after": a.reason_after,
                            "unchecked_before": a.unchecked_before,
                            "unchecked_after": a.unchecked_after,
                        }
                        for a in case.assertions
                    ],
                }
                for case in self.cases
            ],
        }


def _unchecked(case: CaseResult | None, item: AssertionResult | None) -> bool:
    """Whether the run had the case but never checked this assertion: its verdict is empty, or the case
    recorded none at all (it erred first, on a cassette miss say). A case that checked others and not
    this one no longer holds it."""
    if item is not None:
        return item.passed is None
    return case is not None and not case.assertions


def compare_runs(run_a: RunRecord, run_b: RunRecord, *, gates: BudgetGates | None = None) -> RunComparison:
    """Compare ``run_a`` (before) with ``run_b`` (after); cases are matched by suite and case id.
    ``gates`` turn a rise of a case's cost, tokens or latency into a regression."""
    before = {case.key: case for case in run_a.cases}
    after = {case.key: case for case in run_b.cases}
    keys = list(before) + [key for key in after if key not in before]
    changes: list[CaseChange] = []
    for key in keys:
        a, b = before.get(key), after.get(key)
        assertions: list[AssertionChange] = []
        a_items = {item.assertion: item for item in (a.assertions if a else [])}
        b_items = {item.assertion: item for item in (b.assertions if b else [])}
        for text in list(a_items) + [t for t in b_items if t not in a_items]:
            x, y = a_items.get(text), b_items.get(text)
            assertions.append(
                AssertionChange(
                    assertion=text,
                    change=_change(_verdict(x), _verdict(y)),
                    before=None if x is None else x.passed,
                    after=None if y is None else y.passed,
                    reason_before=x.reason if x else None,
                    reason_after=y.reason if y else None,
                    unchecked_before=_unchecked(a, x),
                    unchecked_after=_unchecked(b, y),
                )
            )
        changes.append(
            CaseChange(
                key=key,
                change=_change(_case_passed(a), _case_passed(b)),
                before=a.outcome if a else None,
                after=b.outcome if b else None,
                assertions=assertions,
            )
        )
    order = {name: index for index, name in enumerate(CHANGES)}
    changes.sort(key=lambda c: (order[c.change], c.key))
    return RunComparison(
        run_a=run_a, run_b=run_b, cases=changes, budget=compare_budgets(run_a, run_b, gates or BudgetGates())
    )
