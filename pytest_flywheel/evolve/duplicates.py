"""Duplicate cases: a new case that looks like one a suite already has.

Two cases are duplicates when

* their inputs are **near-identical**: the same JSON, or their words, numbers and pairs of
  neighbouring words (:func:`input_words` of the input's text) overlap by at least
  :data:`NEAR_IDENTICAL_INPUT` (Jaccard: shared over all); or
* they were captured from traces that fail **the same way**: the same entrypoint, the same key
  labels and the same first bad step's signature (the triage cluster's key). Only a failure with a
  bad *step* counts: two answers that both state unsupported figures about different questions, or
  two traces that only the feedback says are bad, are not the same failure. And a trace must fail to
  begin with: be a failure as triage counts one (it raised, a span raised, it is negatively rated), or
  have a step the rules are sure went wrong. A tool or search that returned nothing is no failure on
  its own (nothing matched is often the right answer): otherwise every good trace whose search found
  no article would be "the same failure" as every other.

A case's failure is read from its source trace in the store (``source.trace_id``); a case whose
trace is not in the store (another machine, a pruned store) is compared by input only.

This module reads the store and the analysis rules only (not the suite files): the suites piece
calls it when a case is added.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flywheel.analysis.rules import SYMPTOM_RULES
from pytest_flywheel.analysis.text import jaccard, text_of
from pytest_flywheel.canonical import canonical_json
from pytest_flywheel.evolve.labelling import FailingTrace, entrypoint_history, label_one, load_trees
from pytest_flywheel.evolve.signatures import FailureSignature
from pytest_flywheel.store import SpanRecord, Store, StoreError, TraceRecord
from pytest_flywheel.store.tree import SpanTree

#: Inputs whose words overlap at least this much (Jaccard) are near-identical.
NEAR_IDENTICAL_INPUT = 0.9

#: Signature kinds that name no bad step (see :mod:`~pytest_flywheel.evolve.signatures`).
_NOT_A_STEP = ("answer", "outlier", "feedback", "no finding")
#: Step findings that do not make a trace that otherwise went well a failure.
_WEAK_STEP_RULES = frozenset({"tool.empty"})


@dataclass(frozen=True)
class FailureKey:
    """What makes two failures "the same": the triage cluster's key."""

    entrypoint: str
    labels: tuple[str, ...]
    signature: str
    step_level: bool

    @classmethod
    def of(cls, failing: FailingTrace) -> FailureKey:
        signature = failing.signature
        return cls(failing.entrypoint, failing.key_labels, signature.text, is_step_level(signature))

    def describe(self) -> str:
        labels = ", ".join(self.labels) or "no label"
        return f"{labels} at {self.signature}"


def is_step_level(signature: FailureSignature) -> bool:
    """Whether the signature names a bad step (not only the answer, an outlier or the feedback)."""
    return not signature.kind.startswith(_NOT_A_STEP)


@dataclass(frozen=True)
class CaseFacts:
    """What a duplicate check knows of one case: its id, input, and (when known) its failure."""

    case_id: str
    input: Any
    failure: FailureKey | None = None


@dataclass(frozen=True)
class Duplicate:
    """The existing case a new one looks like, and why."""

    case_id: str
    why: str


_WORD = re.compile(r"[^\W_]+")


def input_words(value: Any) -> set[str]:
    """The lower-cased words and numbers of an input's text (every length: "order 1" and "order 2"
    differ), and each pair of neighbouring words, so that the same words in another order differ too."""
    words = [word.lower() for word in _WORD.findall(text_of(value))]
    return {*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))}


def input_similarity(a: Any, b: Any) -> float:
    """1.0 for the same JSON, else the Jaccard overlap of the two inputs' words (:func:`input_words`)."""
    if canonical_json(a) == canonical_json(b):
        return 1.0
    return jaccard(input_words(a), input_words(b))


def looks_like(new: CaseFacts, old: CaseFacts) -> str | None:
    """Why ``new`` duplicates ``old``, or None."""
    if new.failure is not None and old.failure is not None and new.failure.step_level:
        if new.failure == old.failure:
            return f"the same failure: {new.failure.describe()}"
    if canonical_json(new.input) == canonical_json(old.input):
        return "the same input"
    similarity = input_similarity(new.input, old.input)
    if similarity >= NEAR_IDENTICAL_INPUT:
        return (
            f"a near-identical input: {similarity:.0%} of the words shared (threshold {NEAR_IDENTICAL_INPUT:.0%})"
        )
    return None


def find_duplicate(new: CaseFacts, cases: Iterable[CaseFacts]) -> Duplicate | None:
    """The first of ``cases`` that ``new`` duplicates (a case never duplicates itself by id)."""
    for old in cases:
        if old.case_id == new.case_id:
            continue
        why = looks_like(new, old)
        if why is not None:
            return Duplicate(old.case_id, why)
    return None


def near_duplicates(cases: Sequence[CaseFacts]) -> list[tuple[CaseFacts, Duplicate]]:
    """Each case that duplicates an earlier case of the same list, with that earlier case."""
    found: list[tuple[CaseFacts, Duplicate]] = []
    for index, case in enumerate(cases):
        duplicate = find_duplicate(case, cases[:index])
        if duplicate is not None:
            found.append((case, duplicate))
    return found


# -- failures of traces, read from the store -------------------------------------------------------


@dataclass(frozen=True)
class _Rating:
    negative_names: list[str]
    negatively_rated: bool  # at least as many negative signals as positive ones (as triage reads it)


def _ratings(store: Store, trace_ids: Sequence[str]) -> dict[str, _Rating]:
    from pytest_flywheel.store.queries import feedback_for_traces, feedback_signal

    found: dict[str, _Rating] = {}
    for trace_id, records in feedback_for_traces(store, trace_ids).items():
        signals = [(r.name, feedback_signal(r.name, r.value)) for r in records]
        negative = sum(1 for _, signal in signals if signal < 0)
        positive = sum(1 for _, signal in signals if signal > 0)
        names = sorted({name for name, signal in signals if signal < 0})
        found[trace_id] = _Rating(names, negative > 0 and negative >= positive)
    return found


def _key_if_failing(failing: FailingTrace, tree: SpanTree, rating: _Rating | None) -> FailureKey | None:
    """The trace's failure key, or None when the trace did not fail (see the module's docstring)."""
    raised = failing.trace.status == "error" or any(span.status == "error" for span in tree.spans())
    sure_step = any(
        finding.rule not in SYMPTOM_RULES and finding.rule not in _WEAK_STEP_RULES for finding in failing.findings
    )
    if raised or sure_step or (rating is not None and rating.negatively_rated):
        return FailureKey.of(failing)
    return None


def failure_keys(store: Store, trace_ids: Iterable[str], *, until: float) -> dict[str, FailureKey]:
    """The failure key of each trace of ``trace_ids`` that the store holds (finished traces only)."""
    ids = sorted(set(trace_ids))
    if not ids:
        return {}
    rows = store.conn.execute(
        "SELECT * FROM traces WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
    ).fetchall()
    from pytest_flywheel.store.store import trace_from_row

    traces = [trace_from_row(row) for row in rows]
    ratings = _ratings(store, [t.id for t in traces])
    keys: dict[str, FailureKey] = {}
    for trace, tree in load_trees(store, traces):
        history = entrypoint_history(store, trace.project, trace.name, until=until)
        rating = ratings.get(trace.id)
        failing = label_one(trace, tree, history, rating.negative_names if rating else [])
        key = _key_if_failing(failing, tree, rating)
        if key is not None:
            keys[trace.id] = key
    return keys


def failure_key_of_spans(
    store_path: Path, trace: TraceRecord, spans: list[SpanRecord], *, until: float
) -> FailureKey | None:
    """The failure key of a trace already read (a capture), with its history from the store."""
    try:
        store = Store(store_path, readonly=True)
    except StoreError:
        return None
    with store:
        history = entrypoint_history(store, trace.project, trace.name, until=until)
        rating = _ratings(store, [trace.id]).get(trace.id)
    tree = SpanTree.build(spans, trace)
    return _key_if_failing(label_one(trace, tree, history, rating.negative_names if rating else []), tree, rating)


def case_facts(
    store_path: Path | None, cases: Sequence[tuple[str, Any, str | None]], *, until: float
) -> list[CaseFacts]:
    """``(case id, input, source trace id)`` of each case, with its failure read from the store."""
    keys: Mapping[str, FailureKey] = {}
    wanted = [trace_id for _, _, trace_id in cases if trace_id]
    if store_path is not None and wanted and store_path.is_file():
        try:
            store = Store(store_path, readonly=True)
        except StoreError:
            store = None
        if store is not None:
            with store:
                keys = failure_keys(store, wanted, until=until)
    return [
        CaseFacts(case_id, case_input, keys.get(trace_id) if trace_id else None)
        for case_id, case_input, trace_id in cases
    ]
