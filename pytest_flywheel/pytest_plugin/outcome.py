"""What a case (or a hand-written judged test) came to: each assertion's result, the output, the judge's
usage, and how to show a failure.

:meth:`CaseOutcome.to_result` is the JSON-safe dict carried on the test report (``report.flywheel``),
which is how results reach the controller under pytest-xdist and end up in the JSON report.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_flywheel.canonical import json_data
from pytest_flywheel.judge.types import JudgeUsage

if TYPE_CHECKING:
    from pytest_flywheel.judge import Verdict

#: Every status a test the plugin touched can end with (pytest's outcomes, xfail included).
STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")

#: Outputs longer than this are cut in failure messages (the JSON report keeps them whole).
MAX_SHOWN_OUTPUT = 4000


@dataclass
class AssertionResult:
    """One assertion's result. ``passed`` is None when it was never checked (the agent raised)."""

    assertion: str
    kind: str  # "sentence" (judged) or "check" (deterministic)
    passed: bool | None
    reason: str = ""
    cached: bool | None = None
    confidence: float | None = None
    key: str | None = None
    model: str | None = None
    #: The judge's separate answers (``--flywheel-judge-repeats``), None for one answer.
    votes: list[bool] | None = None
    #: Decided by a person's label, and what the judge had said.
    labelled: bool = False
    judge_passed: bool | None = None

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> AssertionResult:
        return cls(
            assertion=verdict.assertion,
            kind="sentence",
            passed=bool(verdict.passed),
            reason=verdict.reason,
            cached=verdict.cached,
            confidence=verdict.confidence,
            key=verdict.key,
            model=verdict.model,
            votes=None if verdict.votes is None else list(verdict.votes),
            labelled=verdict.labelled,
            judge_passed=verdict.judge_passed,
        )

    @property
    def source(self) -> str:
        """Where the verdict came from: ``label`` (a person), ``check``, ``cached``, ``judged``, or
        ``none`` for a sentence never judged (the agent raised first)."""
        if self.labelled:
            return "label"
        if self.kind == "check":
            return "check"
        if self.passed is None:
            return "none"
        return "cached" if self.cached else "judged"

    @property
    def flaky(self) -> bool:
        """Whether the judge's repeats disagreed."""
        return self.votes is not None and len(set(self.votes)) > 1

    @property
    def spread(self) -> str:
        """``2/3 pass`` for repeated answers, else empty."""
        return "" if self.votes is None else f"{sum(self.votes)}/{len(self.votes)} pass"

    @property
    def label(self) -> str:
        if self.passed is None:
            return "SKIP"
        return "PASS" if self.passed else "FAIL"


@dataclass
class CaseOutcome:
    """The result of one test that flywheel judged or replayed."""

    nodeid: str
    suite: str | None = None
    case_id: str | None = None
    output: Any = None
    #: Tool and LLM calls the agent made (entries of ``judge.trajectory.trajectory_from_spans``).
    trajectory: list[dict[str, Any]] | None = None
    #: The names of the tools its target called, kept when a passing case's trajectory is dropped
    #: (a ``--flywheel-live-tools`` name that no case called is a warning).
    tools_called: list[str] | None = None
    raised: str | None = None
    error: str | None = None
    #: The error in one line when it has one (``cassette miss at system: the system prompt changed``).
    summary: str | None = None
    #: For a request its cassette does not hold: the JSON path at which it differs from the closest
    #: recorded one (``CassetteMissError.difference_path``), grouped in the terminal summary.
    miss_at: str | None = None
    assertions: list[AssertionResult] = field(default_factory=list)
    judge: JudgeUsage = field(default_factory=JudgeUsage)
    #: Where the case is written: its suite file (relative to the rootdir) and line.
    file: str | None = None
    line: int | None = None
    latency_ms: float | None = None
    agent_cost_usd: float | None = None
    agent_tokens: int | None = None
    #: True once every assertion got an answer (the test's verdicts count as used for pruning).
    judged: bool = False
    #: For a case asked to run several times: ``{"passed": k, "total": n, "threshold": t, "varied":
    #: [assertions whose result differed]}``; ``{"asked": n, "total": 1, "replayed": true}`` when a
    #: replayed case ran once although more runs were asked for. None otherwise.
    runs: dict[str, Any] | None = None
    #: Filled from the test reports: one of :data:`STATUSES`; setup + call + teardown time.
    status: str = "passed"
    duration_ms: float = 0.0

    @property
    def failed(self) -> bool:
        return self.raised is not None or any(result.passed is False for result in self.assertions)

    @property
    def failing(self) -> list[AssertionResult]:
        return [result for result in self.assertions if result.passed is False]

    def to_result(self) -> dict[str, Any]:
        """A JSON-safe dict (travels on the test report across xdist)."""
        data = {name: getattr(self, name) for name in _SCALAR_FIELDS}
        data["output"] = json_data(self.output)
        data["trajectory"] = None if self.trajectory is None else json_data(self.trajectory)
        data["assertions"] = [vars(result).copy() for result in self.assertions]
        data["judge"] = self.judge.as_dict()
        return data


_SCALAR_FIELDS = tuple(
    name
    for name in CaseOutcome.__dataclass_fields__
    if name not in ("output", "trajectory", "assertions", "judge")
)


def tool_names(trajectory: Iterable[dict[str, Any]] | None) -> list[str]:
    """The names of a trajectory's tool steps, sorted, each once."""
    return sorted({str(step.get("name")) for step in trajectory or () if step.get("type") == "tool"})


def outcome_from_result(data: dict[str, Any]) -> CaseOutcome:
    """The inverse of :meth:`CaseOutcome.to_result`."""
    fields = dict(data)
    fields["assertions"] = [AssertionResult(**item) for item in fields.get("assertions", [])]
    fields["judge"] = JudgeUsage.from_dict(fields.get("judge") or {})
    known = set(CaseOutcome.__dataclass_fields__)
    return CaseOutcome(**{key: value for key, value in fields.items() if key in known})


def format_output(output: Any) -> str:
    text = (
        output if isinstance(output, str) else json.dumps(output, indent=2, ensure_ascii=False, default=repr)
    )
    if len(text) > MAX_SHOWN_OUTPUT:
        text = text[:MAX_SHOWN_OUTPUT] + f"\n... ({len(text) - MAX_SHOWN_OUTPUT} more characters)"
    return text


#: How the terminal names each :attr:`AssertionResult.source` after the assertion.
_ORIGINS = {
    "label": " (labelled by a person)",
    "check": "",
    "none": " (not judged)",
    "cached": " (cached)",
    "judged": " (judged)",
}


def format_assertions(results: Iterable[AssertionResult]) -> list[str]:
    """``PASS``/``FAIL`` lines, each with the judge's (or the check's) reason below."""
    lines: list[str] = []
    for result in results:
        origin = _ORIGINS[result.source]
        if result.flaky:
            origin += f" (flaky: the judge split {result.spread})"
        lines.append(f"  {result.label}  {result.assertion}{origin}")
        if result.reason:
            lines.extend(
                textwrap.wrap(
                    result.reason, width=100, initial_indent="        ", subsequent_indent="        "
                )
            )
    return lines


def format_failure(outcome: CaseOutcome) -> str:
    """The text pytest shows for a failed case: each assertion with PASS/FAIL and its reason, then the output."""
    lines: list[str] = []
    if outcome.raised is not None:
        lines.append("the target raised an exception, so no assertion was checked:")
        lines.extend("  " + line for line in outcome.raised.splitlines())
    else:
        failing = len(outcome.failing)
        lines.append(f"{failing} of {len(outcome.assertions)} assertions failed:")
    lines.extend(format_assertions(outcome.assertions))
    if outcome.raised is None:
        lines.append("output:")
        lines.extend("  " + line for line in format_output(outcome.output).splitlines())
    return "\n".join(lines)
