"""A failure's signature: the first bad step's span name, what went wrong there, and its arguments'
shape, so that the same failure on different data (another order number, another customer) reads
the same.

* **The first bad step** is the earliest span (in the order the agent took its steps) that a
  step-level rule finding points at: a span that raised, a tool that returned an error or nothing,
  a repeated tool call, an LLM call cut off or refused. With several findings on that span the most
  severe names it.
* **What went wrong** (``kind``): the exception's type (``TimeoutError``), or ``error_result``,
  ``empty_result``, ``repeated``, ``max_tokens``, ``refusal``.
* **The arguments' shape**: the argument names, in order, each marked ``=∅`` when it was empty
  (None, "", [] or {}); an LLM call shows its model instead. Values are left out on purpose.

When no step went wrong, the failure is in the answer (``answer``: the answer-level labels say
what), in the resources it took (``outlier``), or only in the feedback (``feedback`` with the
negative feedback's names). The entrypoint's own arguments are the request: requests are compared
by input similarity (:mod:`pytest_flywheel.evolve.clusters`), not in the signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_flywheel.analysis.findings import Finding
from pytest_flywheel.analysis.rules import SYMPTOM_RULES
from pytest_flywheel.store.tree import SpanNode, SpanTree

_STEP_KINDS: dict[str, str] = {
    "tool.error_payload": "error_result",
    "tool.empty": "empty_result",
    "tool.repeated": "repeated",
    "llm.max_tokens": "max_tokens",
    "llm.refusal": "refusal",
}
_OUTLIER_RULES = frozenset({"latency.outlier", "cost.outlier"})


@dataclass(frozen=True)
class FailureSignature:
    """Where and how a trace first went wrong. ``text`` is its one-line form, compared for equality."""

    entrypoint: str
    step: str
    kind: str
    arguments: str = ""
    span_id: str | None = None

    @property
    def text(self) -> str:
        """``lookup_order: error_result (customer_id, order_id=∅)``; for a failure with no bad step,
        ``answer: in the answer (no step failed)`` and the like."""
        if self.kind == "answer":
            return f"{self.step}: in the answer (no step failed)"
        if self.kind == "outlier":
            return f"{self.step}: latency or cost (no step failed)"
        if self.kind.startswith("feedback"):
            return f"{self.step}: negative {self.kind} (no rule finding)"
        if self.kind == "no finding":
            return f"{self.step}: no rule finding"
        shape = f" ({self.arguments})" if self.arguments else ""
        return f"{self.step}: {self.kind}{shape}"

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "entrypoint": self.entrypoint,
            "step": self.step,
            "kind": self.kind,
            "arguments": self.arguments,
        }


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not (value.strip() if isinstance(value, str) else value))


def argument_shape(value: Any) -> str:
    """``customer_id, order_id=∅``: the argument names of a span's input, empty ones marked."""
    if isinstance(value, dict):
        return ", ".join(f"{key}=∅" if _is_empty(item) else str(key) for key, item in sorted(value.items()))
    if value is None:  # no input recorded
        return ""
    if _is_empty(value):
        return "∅"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _step_shape(node: SpanNode) -> str:
    span = node.span
    if node.parent is None:  # the entrypoint: its arguments are the request, compared by similarity
        return ""
    if span.type == "llm":
        model = span.model or (span.input.get("model") if isinstance(span.input, dict) else None)
        return f"model={model}" if model else ""
    return argument_shape(span.input)


def _kind(finding: Finding, node: SpanNode) -> str:
    if finding.rule in ("error.first", "tool.raised"):
        return str((node.span.error or {}).get("type") or "exception").rsplit(".", 1)[-1]
    return _STEP_KINDS.get(finding.rule, finding.rule)


def first_bad_step(findings: Sequence[Finding], tree: SpanTree) -> tuple[Finding, SpanNode] | None:
    """The step-level finding on the earliest span it names (most severe first on the same span)."""
    best: tuple[tuple[float, int, tuple[int, float]], Finding, SpanNode] | None = None
    order = {id(node): index for index, node in enumerate(tree.walk())}
    for finding in findings:
        if finding.rule in SYMPTOM_RULES:
            continue
        node = tree.by_id.get(finding.span_id)
        if node is None:
            continue
        rank = (node.span.start_time, order.get(id(node), 0), finding.sort_key)
        if best is None or rank < best[0]:
            best = (rank, finding, node)
    return None if best is None else (best[1], best[2])


def entrypoint_of(tree: SpanTree) -> str:
    """The entrypoint a trace ran: ``module:qualname`` when recorded, else its name."""
    trace = tree.trace
    if trace is not None:
        return trace.location or trace.name
    root = tree.root
    if root is None:
        return "?"
    return root.span.location or root.span.name


def signature_of(
    findings: Sequence[Finding], tree: SpanTree, *, negative_feedback: Iterable[str] = ()
) -> FailureSignature:
    """The failure signature of one trace (see the module's docstring)."""
    entrypoint = entrypoint_of(tree)
    found = first_bad_step(findings, tree)
    if found is not None:
        finding, node = found
        return FailureSignature(entrypoint, node.span.name, _kind(finding, node), _step_shape(node), node.span.id)
    root = tree.root
    name = root.span.name if root is not None else (tree.trace.name if tree.trace else "?")
    span_id = root.span.id if root is not None else None
    rules = {finding.rule for finding in findings}
    if rules - _OUTLIER_RULES:
        return FailureSignature(entrypoint, name, "answer", span_id=span_id)
    if rules:
        return FailureSignature(entrypoint, name, "outlier", span_id=span_id)
    names = sorted(set(negative_feedback))
    kind = f"feedback {'+'.join(names)}" if names else "no finding"
    return FailureSignature(entrypoint, name, kind, span_id=span_id)
