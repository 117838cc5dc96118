"""What an analysis produces: rule findings, the divergence from a good run, the analyst's answer.

Plain dataclasses with ``to_dict()`` so the terminal report, ``--json`` and ``--add-to-suite`` all
read the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low"]

#: Most severe first: findings are reported in this order.
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}

#: A suggested assertion: a natural-language sentence, or a one-key deterministic check mapping
#: in the suite file's format (``{"max_latency_ms": 2000}``, ``{"tool_called": "search"}``).
Assertion = str | dict[str, Any]


@dataclass(frozen=True)
class Finding:
    """One thing a rule saw in a trace.

    ``confidence`` (0..1) is how sure the rule is that this is a real problem rather than a
    legitimate outcome (an empty search result can be the right answer).
    """

    rule: str
    span_id: str
    span_name: str
    title: str
    evidence: str
    severity: Severity
    confidence: float
    suggested_assertion: Assertion | None = None

    @property
    def sort_key(self) -> tuple[int, float]:
        return (SEVERITY_ORDER[self.severity], -self.confidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "span_id": self.span_id,
            "span_name": self.span_name,
            "title": self.title,
            "evidence": self.evidence,
            "severity": self.severity,
            "confidence": round(self.confidence, 2),
            "suggested_assertion": self.suggested_assertion,
        }


@dataclass(frozen=True)
class StepDifference:
    """One aligned step where the analysed (bad) trace and the good trace differ.

    ``kind``: ``different_step`` (another span name/type at this place), ``different_tool``,
    ``missing_step`` (the good run had it, the bad did not), ``extra_step``,
    ``different_arguments``, ``empty_result`` / ``error_result`` (nothing, or an error payload, where
    the good run's step returned data),
    ``different_prompt`` (system text, model or tool list of an LLM call), ``error`` (only the bad
    step raised).
    """

    kind: str
    path: str
    bad_span_id: str | None
    good_span_id: str | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "bad_span_id": self.bad_span_id,
            "good_span_id": self.good_span_id,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Comparison:
    """The good trace the analysed one was compared with, and where they part ways."""

    good_trace_id: str
    how_chosen: str  # "auto" (with the similarity) or "explicit"
    similarity: float | None
    differences: list[StepDifference] = field(default_factory=list)
    #: Both runs got the very same input. When they did not, arguments that differ are expected
    #: (they echo the different request), so the first divergence prefers any other kind.
    same_input: bool = False

    @property
    def first(self) -> StepDifference | None:
        """The first step where the runs part ways (see :attr:`same_input`)."""
        if not self.same_input:
            for difference in self.differences:
                if difference.kind != "different_arguments":
                    return difference
        return self.differences[0] if self.differences else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "good_trace_id": self.good_trace_id,
            "how_chosen": self.how_chosen,
            "similarity": None if self.similarity is None else round(self.similarity, 3),
            "same_input": self.same_input,
            "first_divergence": None if self.first is None else self.first.to_dict(),
            "differences": [d.to_dict() for d in self.differences],
        }


@dataclass(frozen=True)
class AnalystAnswer:
    """The LLM analyst's structured answer (its ``report_root_cause`` call, validated)."""

    root_cause_span_id: str
    explanation: str
    evidence_span_ids: list[str]
    suggested_assertions: list[str]
    suggested_fix: str
    model: str
    rounds: int
    input_tokens: int
    output_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "root_cause_span_id": self.root_cause_span_id,
            "explanation": self.explanation,
            "evidence_span_ids": list(self.evidence_span_ids),
            "suggested_assertions": list(self.suggested_assertions),
            "suggested_fix": self.suggested_fix,
            "model": self.model,
            "rounds": self.rounds,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


AnalystStatus = Literal["used", "skipped", "error"]


@dataclass
class AnalystOutcome:
    """Whether the LLM analyst ran: ``used`` (``answer`` set), ``skipped`` or ``error`` (``message`` says why)."""

    status: AnalystStatus
    message: str = ""
    answer: AnalystAnswer | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "answer": None if self.answer is None else self.answer.to_dict(),
        }
