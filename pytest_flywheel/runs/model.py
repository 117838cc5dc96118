"""A recorded test run: one pytest session's results over suite cases and marked tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAILING_OUTCOMES = frozenset({"failed", "error"})


@dataclass
class AssertionResult:
    """One assertion of one case in one run. ``passed`` is None when no verdict was reached."""

    assertion: str
    kind: str = "sentence"  # sentence | check
    passed: bool | None = None
    reason: str | None = None
    cached: bool | None = None
    confidence: float | None = None


@dataclass
class CaseResult:
    """One test item's result: a suite case (``suite`` set) or a hand-written marked test."""

    nodeid: str
    case_id: str
    outcome: str  # passed | failed | error | skipped | xfailed | xpassed
    suite: str | None = None
    duration_ms: float | None = None
    #: The target's own call (the agent's latency), as the report recorded it.
    latency_ms: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    output: Any = None
    trajectory: Any = None
    message: str | None = None
    assertions: list[AssertionResult] = field(default_factory=list)

    @property
    def key(self) -> str:
        """What identifies the same case across runs: ``suite::case`` or the node id."""
        return f"{self.suite}::{self.case_id}" if self.suite else self.nodeid


@dataclass
class RunRecord:
    """A whole run, as stored."""

    id: str
    started_at: float
    ended_at: float
    cases: list[CaseResult] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    git_commit: str | None = None
    git_branch: str | None = None
    judge_calls: int = 0
    judge_tokens: int = 0
    judge_cost: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(1 for case in self.cases if case.outcome == outcome)

    @property
    def total(self) -> int:
        return len(self.cases)

    @property
    def pass_rate(self) -> float | None:
        """Passed (an xpass too) over passed + failed + errors; skipped and xfailed cases do not count;
        None when nothing counted."""
        ran = [case for case in self.cases if case.outcome not in ("skipped", "xfailed")]
        return (sum(1 for case in ran if case.outcome in ("passed", "xpassed")) / len(ran)) if ran else None
