"""Clusters of failures: the same entrypoint, the same key labels and the same failure signature;
within a cluster, its requests grouped by input similarity.

* **Key**: ``(entrypoint, key labels, signature)`` (:func:`~pytest_flywheel.evolve.taxonomy.key_labels`,
  :mod:`~pytest_flywheel.evolve.signatures`). The cluster's id is a hash of the key, so the same
  failure keeps its id from one run to the next (candidates and rejections are remembered by it).
* **Input groups**: inside a cluster, requests whose words (:func:`~pytest_flywheel.analysis.text.similarity_tokens`
  of the input's text) overlap by at least :data:`INPUT_SIMILARITY` (Jaccard) with a group's first
  request join that group; at most :data:`MAX_INPUT_GROUPS` groups, the rest count as "other".
* **Trend**: the window is cut in two halves; ``new`` when the first half saw none, ``rising`` when
  the second half saw at least 1.5x the first (and 2 more), ``falling`` the other way round,
  else ``steady``.
* **Example**: the most recent trace of the cluster's largest input group.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.analysis.text import jaccard, similarity_tokens, text_of
from pytest_flywheel.canonical import canonical_json
from pytest_flywheel.evolve.labelling import FailingTrace
from pytest_flywheel.evolve.signatures import FailureSignature
from pytest_flywheel.store.queries import iso_time

#: Two requests whose words overlap this much (Jaccard) are one input group.
INPUT_SIMILARITY = 0.5
#: Input groups kept per cluster; requests that fit none of them count as "other".
MAX_INPUT_GROUPS = 20


@dataclass
class InputGroup:
    """Similar requests of one cluster: how many, and the most recent one."""

    example_trace_id: str
    example_input: Any
    last_seen: float
    count: int = 0
    tokens: frozenset[str] = frozenset()
    #: Suite cases whose input is near-identical to this group's example (``suite::case``).
    covered_by: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "example_trace_id": self.example_trace_id,
            "example_input": self.example_input,
            "last_seen": iso_time(self.last_seen),
            "covered_by": list(self.covered_by),
        }


@dataclass
class Cluster:
    """Failures that fail the same way. ``covered_by`` lists the suite cases that cover it."""

    id: str
    entrypoint: str
    labels: tuple[str, ...]
    signature: FailureSignature
    traces: list[FailingTrace]
    first_seen: float
    last_seen: float
    trend: str
    halves: tuple[int, int]
    input_groups: list[InputGroup]
    other_inputs: int = 0
    covered_by: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.traces)

    @property
    def covered(self) -> bool:
        """Covered by a case of one of its traces or of its failure, or every input group by a case."""
        if self.covered_by:
            return True
        return bool(self.input_groups) and not self.other_inputs and all(g.covered_by for g in self.input_groups)

    @property
    def covering_cases(self) -> list[str]:
        """Every case that covers the cluster or one of its input groups (``suite::case``)."""
        return sorted({*self.covered_by, *(ref for group in self.input_groups for ref in group.covered_by)})

    @property
    def uncovered_groups(self) -> list[InputGroup]:
        """The input groups no case covers (all of them when the cluster is not covered as a whole)."""
        return [] if self.covered_by else [g for g in self.input_groups if not g.covered_by]

    @property
    def example(self) -> FailingTrace:
        """The most recent trace of the largest input group no case covers yet (of the largest group
        when all are covered)."""
        groups = self.uncovered_groups or self.input_groups
        wanted = groups[0].example_trace_id if groups else None
        for failing in reversed(self.traces):
            if failing.trace.id == wanted:
                return failing
        return self.traces[-1]

    @property
    def label_counts(self) -> dict[str, int]:
        """Every label seen in the cluster (not only the key labels) and on how many of its traces."""
        counts = Counter(name for failing in self.traces for name in set(failing.label_names))
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    @property
    def negative_feedback(self) -> dict[str, int]:
        counts = Counter(name for failing in self.traces for name in failing.negative_feedback)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    @property
    def feedback_line(self) -> str:
        """``negative thumbs (12), negative task_failed (9)``: the cluster's negative feedback."""
        return ", ".join(f"negative {name} ({count})" for name, count in self.negative_feedback.items())

    @property
    def title(self) -> str:
        """One line for people: the key labels and where the failure starts."""
        labels = ", ".join(self.labels) if self.labels else "no label"
        return f"{labels} at {self.signature.text}"

    def to_json(self) -> dict[str, Any]:
        example = self.example
        return {
            "id": self.id,
            "entrypoint": self.entrypoint,
            "labels": list(self.labels),
            "signature": self.signature.to_json(),
            "count": self.count,
            "first_seen": iso_time(self.first_seen),
            "last_seen": iso_time(self.last_seen),
            "trend": self.trend,
            "first_half": self.halves[0],
            "second_half": self.halves[1],
            "label_counts": self.label_counts,
            "negative_feedback": self.negative_feedback,
            "example_trace_id": example.trace.id,
            "example_input": example.trace.input,
            "example_labels": [label.to_json() for label in example.labels],
            "input_groups": [group.to_json() for group in self.input_groups],
            "other_inputs": self.other_inputs,
            "covered": self.covered,
            "covered_by": self.covering_cases,
            "trace_ids": [failing.trace.id for failing in self.traces],
        }


def cluster_id(entrypoint: str, labels: Sequence[str], signature: str) -> str:
    """``cl-`` and 12 hex digits of a hash of the cluster's key: stable across runs and stores."""
    key = canonical_json([entrypoint, list(labels), signature])
    return "cl-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def trend_of(first_half: int, second_half: int) -> str:
    if first_half == 0:
        return "new" if second_half else "steady"
    if second_half >= 1.5 * first_half and second_half - first_half >= 2:
        return "rising"
    if first_half >= 1.5 * second_half and first_half - second_half >= 2:
        return "falling"
    return "steady"


def _input_groups(traces: Sequence[FailingTrace]) -> tuple[list[InputGroup], int]:
    groups: list[InputGroup] = []
    other = 0
    known: dict[str, InputGroup | None] = {}  # the same input text lands in the same group at once
    for failing in reversed(traces):  # newest first: each group's example is its most recent request
        text = text_of(failing.trace.input)
        if text in known:
            group = known[text]
        else:
            tokens = frozenset(similarity_tokens(text))
            group = next((g for g in groups if jaccard(set(tokens), set(g.tokens)) >= INPUT_SIMILARITY), None)
            if group is None and len(groups) < MAX_INPUT_GROUPS:
                group = InputGroup(failing.trace.id, failing.trace.input, failing.trace.start_time, tokens=tokens)
                groups.append(group)
            known[text] = group
        if group is None:
            other += 1
        else:
            group.count += 1
    groups.sort(key=lambda g: (-g.count, -g.last_seen))
    return groups, other


def build_clusters(
    failures: Sequence[FailingTrace], *, since: float | None, until: float
) -> list[Cluster]:
    """The clusters of ``failures`` (oldest first), most frequent first, then most recent."""
    by_key: dict[tuple[str, tuple[str, ...], str], list[FailingTrace]] = {}
    for failing in failures:
        key = (failing.entrypoint, failing.key_labels, failing.signature.text)
        by_key.setdefault(key, []).append(failing)
    start = since if since is not None else min((f.trace.start_time for f in failures), default=until)
    middle = start + (until - start) / 2
    clusters: list[Cluster] = []
    for (entrypoint, labels, signature), traces in by_key.items():
        traces.sort(key=lambda f: (f.trace.start_time, f.trace.id))
        first = sum(1 for f in traces if f.trace.start_time < middle)
        groups, other = _input_groups(traces)
        clusters.append(
            Cluster(
                id=cluster_id(entrypoint, labels, signature),
                entrypoint=entrypoint,
                labels=labels,
                signature=traces[-1].signature,
                traces=traces,
                first_seen=traces[0].trace.start_time,
                last_seen=traces[-1].trace.start_time,
                trend=trend_of(first, len(traces) - first),
                halves=(first, len(traces) - first),
                input_groups=groups,
                other_inputs=other,
            )
        )
    clusters.sort(key=lambda c: (-c.count, -c.last_seen, c.id))
    return clusters
