"""Budget gates: what each case's agent spent in one run against another (cost, tokens, latency).

The figures are those the plugin records for the agent's own calls, per case: ``cost_usd`` and
``tokens`` of its LLM calls, ``latency_ms`` of the target's call (in replay, the time replay took;
record against a live model for latency that means something). A gate is a largest allowed rise, as a
fraction of the earlier figure (``--max-cost-increase 20%`` is 0.2): a case whose figure rose by more
is over budget, which ``flywheel runs compare`` treats as a regression. A figure missing on either
side is not compared; a rise from zero is an unbounded rise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.runs.model import CaseResult, RunRecord
from pytest_flywheel.store import Store

#: The figures compared, in the order they are shown.
METRICS: tuple[str, ...] = ("cost_usd", "tokens", "latency_ms")


class BudgetError(FlywheelError, ValueError):
    """A budget limit that cannot be read."""


def parse_increase(text: str, *, name: str = "limit") -> float:
    """``"20%"`` → 0.2. The percent sign is required, so that 0.2 and 20 cannot be mistaken."""
    value = text.strip()
    if not value.endswith("%"):
        raise BudgetError(f"{name} {text!r}: write the largest allowed rise as a percentage, as in 20%")
    try:
        number = float(value[:-1])
    except ValueError:
        raise BudgetError(f"{name} {text!r}: not a percentage (as in 20% or 2.5%)") from None
    if not math.isfinite(number) or number < 0:
        raise BudgetError(f"{name} {text!r}: expected a percentage of 0% or more")
    return number / 100.0


@dataclass(frozen=True)
class BudgetGates:
    """The largest allowed rise per figure, as a fraction (0.2 = 20%); None leaves a figure ungated."""

    max_cost_increase: float | None = None
    max_tokens_increase: float | None = None
    max_latency_increase: float | None = None

    def limit(self, metric: str) -> float | None:
        return {
            "cost_usd": self.max_cost_increase,
            "tokens": self.max_tokens_increase,
            "latency_ms": self.max_latency_increase,
        }[metric]

    @property
    def active(self) -> bool:
        return any(self.limit(metric) is not None for metric in METRICS)

    def to_json(self) -> dict[str, float | None]:
        return {metric: self.limit(metric) for metric in METRICS}


def _figure(case: CaseResult, metric: str) -> float | None:
    value = getattr(case, metric)
    return None if value is None else float(value)


@dataclass(frozen=True)
class FigureChange:
    """One figure of one case in both runs."""

    metric: str
    before: float | None
    after: float | None
    limit: float | None

    @property
    def increase(self) -> float | None:
        """The rise as a fraction of ``before`` (negative for a fall; ``inf`` for a rise from zero)."""
        if self.before is None or self.after is None:
            return None
        if self.before == 0:
            return 0.0 if self.after == 0 else math.inf
        return (self.after - self.before) / self.before

    @property
    def over(self) -> bool:
        increase = self.increase
        return self.limit is not None and increase is not None and increase > self.limit

    def to_json(self) -> dict[str, Any]:
        increase = self.increase
        return {
            "metric": self.metric,
            "before": self.before,
            "after": self.after,
            # JSON has no infinity: a rise from zero is shown as null with "from_zero"
            "increase": None if increase is None or math.isinf(increase) else increase,
            "from_zero": increase is not None and math.isinf(increase),
            "limit": self.limit,
            "over": self.over,
        }


@dataclass(frozen=True)
class CaseBudget:
    key: str
    figures: tuple[FigureChange, ...]

    @property
    def over(self) -> list[FigureChange]:
        return [figure for figure in self.figures if figure.over]


@dataclass
class BudgetComparison:
    """Every case present in both runs, with its figures; and the two runs' totals."""

    gates: BudgetGates
    cases: list[CaseBudget] = field(default_factory=list)

    @property
    def over_budget(self) -> list[CaseBudget]:
        return [case for case in self.cases if case.over]

    def totals(self) -> dict[str, tuple[float | None, float | None]]:
        """Per figure, the sum over the cases where both runs have it (so the two sums compare)."""
        sums: dict[str, tuple[float | None, float | None]] = {}
        for metric in METRICS:
            pairs = [
                (figure.before, figure.after)
                for case in self.cases
                for figure in case.figures
                if figure.metric == metric and figure.before is not None and figure.after is not None
            ]
            sums[metric] = (
                (sum(a for a, _ in pairs if a is not None), sum(b for _, b in pairs if b is not None))
                if pairs
                else (None, None)
            )
        return sums

    def to_json(self) -> dict[str, Any]:
        return {
            "gates": self.gates.to_json(),
            "over_budget": bool(self.over_budget),
            "totals": {metric: {"before": a, "after": b} for metric, (a, b) in self.totals().items()},
            "cases": [
                {"key": case.key, "over": bool(case.over), "figures": [figure.to_json() for figure in case.figures]}
                for case in self.cases
            ],
        }


def compare_budgets(
    run_a: RunRecord, run_b: RunRecord, gates: BudgetGates, *, suite: str | None = None
) -> BudgetComparison:
    """Each case that ran in both runs (and did not skip), figure by figure; ``suite`` keeps one suite."""
    before = {case.key: case for case in run_a.cases if case.outcome != "skipped"}
    comparison = BudgetComparison(gates=gates)
    for case in run_b.cases:
        earlier = before.get(case.key)
        if earlier is None or case.outcome == "skipped" or (suite is not None and case.suite != suite):
            continue
        comparison.cases.append(
            CaseBudget(
                key=case.key,
                figures=tuple(
                    FigureChange(metric, _figure(earlier, metric), _figure(case, metric), gates.limit(metric))
                    for metric in METRICS
                ),
            )
        )
    return comparison


def budget_against_previous(
    store: Store, run: RunRecord, gates: BudgetGates, *, suite: str
) -> tuple[RunRecord, BudgetComparison] | None:
    """The gates applied to ``suite``'s cases in ``run`` against the newest recorded run of that suite
    that started before it, in ``store``; None when there is none.

    ``run`` need not be saved yet (build it with :func:`~pytest_flywheel.runs.run_from_report` from the
    session's report); if it is saved, under any id, it is not compared with itself.
    """
    from pytest_flywheel.runs.queries import previous_run

    previous = previous_run(store, suite=suite, started_before=run.started_at, exclude_id=run.id)
    if previous is None:
        return None
    return previous, compare_budgets(previous, run, gates, suite=suite)


def describe_change(figure: FigureChange) -> str:
    """``tokens 1,000 → 2,000 (+100.0%, limit +20.0%)``."""
    increase = figure.increase
    rise = "from zero" if increase is not None and math.isinf(increase) else (
        "n/a" if increase is None else f"{increase:+.1%}"
    )
    limit = "" if figure.limit is None else f", limit +{figure.limit:.1%}"
    return f"{figure.metric} {format_figure(figure.metric, figure.before)} → {format_figure(figure.metric, figure.after)} ({rise}{limit})"


def format_figure(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if metric == "cost_usd":
        return f"${value:.4f}"
    if metric == "tokens":
        return f"{value:,.0f}"
    return f"{value:,.0f} ms"
