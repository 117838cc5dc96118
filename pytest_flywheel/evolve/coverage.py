"""Which clusters the project's suite cases already cover.

A cluster is **covered** by a case when the case was captured from one of the cluster's traces
(``source.trace_id``), or when the case's source trace fails the same way as the cluster: the same
entrypoint, key labels and first-bad-step signature (:class:`~pytest_flywheel.evolve.duplicates.FailureKey`;
a failure with no bad step, seen only in the answer or the feedback, is covered only by a case
captured from one of its own traces). A case's source trace is read from the store; a trace the
store no longer holds covers only by id.

Within a cluster, an **input group** is covered by a case of the same target whose input is
near-identical to the group's (the threshold of duplicate refusal,
:data:`~pytest_flywheel.evolve.duplicates.NEAR_IDENTICAL_INPUT`): the suite already replays that
request. A cluster all of whose input groups are covered is covered too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_flywheel.analysis.text import jaccard
from pytest_flywheel.canonical import canonical_json
from pytest_flywheel.config import Settings
from pytest_flywheel.evolve.clusters import Cluster
from pytest_flywheel.evolve.duplicates import NEAR_IDENTICAL_INPUT, FailureKey, failure_keys, input_words
from pytest_flywheel.store import Store


@dataclass(frozen=True)
class SuiteCase:
    """One case of one suite, as coverage and duplicate checks see it."""

    suite: str
    case_id: str
    target: str | None
    input: Any
    source_trace_id: str | None

    @property
    def ref(self) -> str:
        """``suite::case``: how reports name the case."""
        return f"{self.suite}::{self.case_id}"


def read_suite_cases(settings: Settings) -> tuple[list[SuiteCase], list[str]]:
    """Every case of every suite file, and a warning per file that cannot be read (its cases skipped)."""
    from pytest_flywheel.suites.errors import SuiteFileError
    from pytest_flywheel.suites.loading import list_suite_paths, load_suite

    cases: list[SuiteCase] = []
    warnings: list[str] = []
    for path in list_suite_paths(settings):
        try:
            loaded = load_suite(path)
        except SuiteFileError as exc:
            first = str(exc).splitlines()[0] if str(exc) else str(path)
            warnings.append(f"{first} (its cases were not counted as coverage; `flywheel suite validate` lists all)")
            continue
        suite = loaded.suite
        for case in suite.cases:
            trace_id = case.source.trace_id if case.source is not None else None
            cases.append(SuiteCase(suite.name, case.id, suite.target, case.input, trace_id))
    return cases, warnings


def mark_coverage(clusters: Sequence[Cluster], cases: Sequence[SuiteCase], *, store: Store, until: float) -> None:
    """Fill each cluster's ``covered_by`` with the refs of the cases that cover it."""
    by_trace: dict[str, Cluster] = {}
    by_key: dict[FailureKey, list[Cluster]] = {}
    known: dict[str, FailureKey] = {}
    for cluster in clusters:
        for failing in cluster.traces:
            by_trace[failing.trace.id] = cluster
            known[failing.trace.id] = FailureKey.of(failing)
        key = FailureKey.of(cluster.traces[-1])
        if key.step_level:
            by_key.setdefault(key, []).append(cluster)
    unknown = [c.source_trace_id for c in cases if c.source_trace_id and c.source_trace_id not in known]
    known.update(failure_keys(store, [t for t in unknown if t], until=until))
    for case in cases:
        trace_id = case.source_trace_id
        if not trace_id:
            continue
        covered: list[Cluster] = []
        if trace_id in by_trace:
            covered.append(by_trace[trace_id])
        found = known.get(trace_id)
        if found is not None:
            covered.extend(by_key.get(found, []))
        for cluster in covered:
            if case.ref not in cluster.covered_by:
                cluster.covered_by.append(case.ref)
    _mark_inputs(clusters, cases)


def _mark_inputs(clusters: Sequence[Cluster], cases: Sequence[SuiteCase]) -> None:
    """An input group is covered by a case of the same target whose input is near-identical to the
    group's example (the duplicate check's threshold)."""
    by_target: dict[str, list[tuple[SuiteCase, str, set[str]]]] = {}
    for case in cases:
        if case.target:
            text = canonical_json(case.input)
            by_target.setdefault(case.target, []).append((case, text, input_words(case.input)))
    for cluster in clusters:
        candidates = by_target.get(cluster.entrypoint)
        if not candidates:
            continue
        for group in cluster.input_groups:
            text, words = canonical_json(group.example_input), input_words(group.example_input)
            for case, case_text, case_words in candidates:
                if case_text == text or jaccard(words, case_words) >= NEAR_IDENTICAL_INPUT:
                    group.covered_by.append(case.ref)
