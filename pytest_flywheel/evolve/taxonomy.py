"""The failure taxonomy: the labels a failing trace can get, and the rule labels read off a span tree.

Three sources of labels, one vocabulary (``snake_case`` names):

* **rules** (no key needed): each is read off the analysis rules' findings
  (:mod:`pytest_flywheel.analysis.rules`) and the trace's exceptions; see :data:`RULE_LABELS`.
* **llm** (with a key): what rules cannot see, judged by a model over the whole trace; see
  :data:`LLM_LABELS` and :mod:`pytest_flywheel.evolve.llm_labels`.
* **custom**: whatever a ``pytest_flywheel_failure_labels`` hook returns (see
  :mod:`pytest_flywheel.evolve.plugins`).

A label is either about a **step** (a tool, an LLM call, an exception: the cause), about the
**answer** (what the user got), or an **outlier** (latency or cost far above the entrypoint's usual).
Clusters are keyed on the step and answer labels; outliers key a cluster only when nothing else was
found (they measure the trace against others, and a noisy clock would otherwise split clusters).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pytest_flywheel.analysis.findings import Finding
from pytest_flywheel.store.tree import SpanTree

LabelSource = Literal["rule", "llm", "custom"]
LabelLevel = Literal["step", "answer", "outlier"]

#: A label name: lower-case letters, digits and ``_``, starting with a letter.
LABEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class LabelDefinition:
    """One label of the taxonomy: its name, where it comes from, its level and what it means."""

    name: str
    source: LabelSource
    level: LabelLevel
    description: str


RULE_LABELS: tuple[LabelDefinition, ...] = (
    LabelDefinition("tool_raised", "rule", "step", "a tool or retrieval call raised an exception"),
    LabelDefinition("tool_error_result", "rule", "step", "a tool or retrieval call returned an error payload"),
    LabelDefinition("tool_empty_result", "rule", "step", "a tool or retrieval call returned nothing"),
    LabelDefinition(
        "tool_repeated", "rule", "step", "the same tool was called 3+ times with the same arguments"
    ),
    LabelDefinition("max_tokens", "rule", "step", "an LLM reply was cut off at max_tokens"),
    LabelDefinition("refusal", "rule", "step", "an LLM call ended in a refusal"),
    LabelDefinition(
        "validation_error",
        "rule",
        "step",
        "a schema, validation or parse error was raised (pydantic, jsonschema, JSON decoding, ...)",
    ),
    LabelDefinition("step_raised", "rule", "step", "a step that is not a tool (an LLM call, a guardrail) raised"),
    LabelDefinition(
        "unhandled_exception", "rule", "step", "an exception reached the entrypoint: the request failed"
    ),
    LabelDefinition(
        "unsupported_figures",
        "rule",
        "answer",
        "the answer states numbers or codes that nothing the agent saw contains",
    ),
    LabelDefinition(
        "ungrounded_answer", "rule", "answer", "the answer shares little with the retrieved context"
    ),
    LabelDefinition("latency_outlier", "rule", "outlier", "the request took far longer than the entrypoint's usual"),
    LabelDefinition("cost_outlier", "rule", "outlier", "the request cost far more than the entrypoint's usual"),
)

LLM_LABELS: tuple[LabelDefinition, ...] = (
    LabelDefinition(
        "hallucinated_policy",
        "llm",
        "answer",
        "the answer states a policy, price, promise or rule that no retrieved document or tool result "
        "supports",
    ),
    LabelDefinition(
        "ignored_retrieved_article",
        "llm",
        "answer",
        "a retrieved document answered the question, but the answer does not use it (or contradicts it)",
    ),
    LabelDefinition(
        "wrong_tool_argument",
        "llm",
        "step",
        "a tool was called with a missing, wrong or invented argument",
    ),
    LabelDefinition(
        "claimed_success_after_failure",
        "llm",
        "answer",
        "a step failed or returned an error, yet the answer reports success or gives results",
    ),
)

_DEFINITIONS: dict[str, LabelDefinition] = {d.name: d for d in (*RULE_LABELS, *LLM_LABELS)}

#: The outlier labels: they key a cluster only when no other label was found.
OUTLIER_LABELS: frozenset[str] = frozenset(d.name for d in RULE_LABELS if d.level == "outlier")

#: Which label each analysis rule's finding gives (``error.first`` and ``tool.raised`` are read
#: more closely by :func:`rule_labels`: which span raised, and what type).
RULE_TO_LABEL: dict[str, str] = {
    "tool.raised": "tool_raised",
    "tool.error_payload": "tool_error_result",
    "tool.empty": "tool_empty_result",
    "tool.repeated": "tool_repeated",
    "llm.max_tokens": "max_tokens",
    "llm.refusal": "refusal",
    "answer.unsupported_specifics": "unsupported_figures",
    "answer.ungrounded": "ungrounded_answer",
    "latency.outlier": "latency_outlier",
    "cost.outlier": "cost_outlier",
}

# Exception type names that mean "the data had the wrong shape": pydantic's and jsonschema's
# ValidationError, json's JSONDecodeError, and the usual *SchemaError / *ParseError spellings.
_VALIDATION_TYPE = re.compile(r"(Validation|Schema|Parse|Parsing|Decode)(Error|Exception)$")


def definition(name: str) -> LabelDefinition | None:
    """The built-in definition of ``name`` (None for a custom label)."""
    return _DEFINITIONS.get(name)


def level_of(name: str) -> LabelLevel:
    """A label's level; custom labels count as step labels (a project names causes it knows)."""
    found = _DEFINITIONS.get(name)
    return found.level if found is not None else "step"


@dataclass(frozen=True)
class Label:
    """One label on one trace: its name, source, the span it points at (if any) and why."""

    name: str
    source: LabelSource
    evidence: str = ""
    span_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "span_id": self.span_id, "evidence": self.evidence}


def is_validation_error(type_name: str) -> bool:
    """Whether an exception type (``pydantic_core.ValidationError``, ``JSONDecodeError``) is a
    schema, validation or parse error."""
    return bool(_VALIDATION_TYPE.search(type_name.rsplit(".", 1)[-1]))


def rule_labels(findings: Iterable[Finding], tree: SpanTree) -> list[Label]:
    """The rule labels of one trace, from its rule findings and its exceptions; one per name, first
    evidence kept, in taxonomy order."""
    found: dict[str, Label] = {}

    def add(name: str, finding_or_evidence: Finding | str, span_id: str | None = None) -> None:
        if name in found:
            return
        if isinstance(finding_or_evidence, Finding):
            finding = finding_or_evidence
            found[name] = Label(name, "rule", f"{finding.title}: {finding.evidence}", finding.span_id)
        else:
            found[name] = Label(name, "rule", finding_or_evidence, span_id)

    for finding in findings:
        if finding.rule == "error.first":
            node = tree.by_id.get(finding.span_id)
            toolish = node is not None and node.span.type in ("tool", "retrieval")
            add("tool_raised" if toolish else "step_raised", finding)
        elif finding.rule in RULE_TO_LABEL:
            add(RULE_TO_LABEL[finding.rule], finding)
    for node in tree.walk():
        kind = str((node.span.error or {}).get("type") or "")
        if kind and is_validation_error(kind):
            add("validation_error", f"{node.span.name} raised {kind}", node.span.id)
    root = tree.root
    root_error = (root.span.error if root is not None else None) or (tree.trace.error if tree.trace else None)
    if root_error:
        name = root.span.name if root is not None else (tree.trace.name if tree.trace else "the entrypoint")
        kind = str(root_error.get("type") or "an exception")
        add("unhandled_exception", f"{name} raised {kind}", root.span.id if root is not None else None)
        # The entrypoint raising on its own is "unhandled", not also a step of its own that raised.
        step = found.get("step_raised")
        if step is not None and root is not None and step.span_id == root.span.id:
            del found["step_raised"]
    order = {d.name: i for i, d in enumerate(RULE_LABELS)}
    return sorted(found.values(), key=lambda label: order.get(label.name, len(order)))


def key_labels(names: Iterable[str]) -> tuple[str, ...]:
    """The labels a cluster is keyed on: all but the outliers, unless only outliers were found."""
    every = sorted(set(names))
    telling = [name for name in every if name not in OUTLIER_LABELS]
    return tuple(telling or every)
