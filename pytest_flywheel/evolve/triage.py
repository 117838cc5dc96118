"""Triage: every failure of a window labelled, clustered, and checked against the suites.

:func:`triage` is what ``flywheel triage``, ``flywheel stats`` (its uncovered failures) and
``flywheel candidates propose`` run: the failures of ``[since, until)`` (:mod:`.labelling`), their
rule labels, custom labels (:mod:`.plugins`) and, with a key, LLM labels (:mod:`.llm_labels`),
clusters (:mod:`.clusters`), and which clusters suite cases cover (:mod:`.coverage`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.config import Settings
from pytest_flywheel.evolve.clusters import Cluster, build_clusters
from pytest_flywheel.evolve.coverage import mark_coverage, read_suite_cases
from pytest_flywheel.evolve.labelling import Labeller, failing_traces, label_failures
from pytest_flywheel.evolve.llm_labels import LLMUsage
from pytest_flywheel.store import Store
from pytest_flywheel.store.queries import iso_time


@dataclass
class LLMOptions:
    """How LLM labels are asked for: the model, calls in flight, traces per call, an optional client."""

    model: str
    workers: int = 8
    batch_size: int = 8
    client: Any = None
    redact: Callable[[str], str] | None = None


@dataclass
class LLMOutcome:
    """Whether LLM labels were used: ``used``, ``skipped`` (``message`` says why) or ``error``."""

    status: str
    message: str = ""
    usage: LLMUsage | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "usage": None if self.usage is None else self.usage.to_json(),
        }


@dataclass
class TriageReport:
    """What triage found: the window, how many failures, the clusters, the LLM labels' outcome."""

    since: float | None
    until: float
    project: str | None
    failures: int
    clusters: list[Cluster]
    llm: LLMOutcome
    custom_labels: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def uncovered(self) -> list[Cluster]:
        return [cluster for cluster in self.clusters if not cluster.covered]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": None if self.since is None else iso_time(self.since),
            "until": iso_time(self.until),
            "project": self.project,
            "failures": self.failures,
            "clusters": [cluster.to_json() for cluster in self.clusters],
            "covered_clusters": sum(1 for cluster in self.clusters if cluster.covered),
            "llm": self.llm.to_json(),
            "custom_labels": self.custom_labels,
            "warnings": list(self.warnings),
        }


def llm_unavailable(environ: Mapping[str, str]) -> str | None:
    """Why LLM labels cannot be asked for here (no key), or None."""
    if environ.get("ANTHROPIC_API_KEY") or environ.get("ANTHROPIC_AUTH_TOKEN"):
        return None
    return "no ANTHROPIC_API_KEY is set"


def triage(
    settings: Settings,
    store: Store,
    *,
    since: float | None,
    until: float | None = None,
    project: str | None = None,
    llm: LLMOptions | None = None,
    labellers: list[Labeller] | None = None,
) -> TriageReport:
    """Label and cluster the failures of ``[since, until)``; ``llm`` None means rule labels only.

    An LLM that cannot answer leaves the report with the labels it has and ``llm.status == "error"``
    (the caller reports the error: it is never a silent success).
    """
    until = time.time() if until is None else until
    failures = failing_traces(store, since=since, until=until, project=project)
    extra = list(labellers or [])
    labeller = None
    if llm is not None:
        from pytest_flywheel.evolve.label_cache import FILE_NAME, LabelCache
        from pytest_flywheel.evolve.llm_labels import LLMLabeller

        labeller = LLMLabeller(
            model=llm.model,
            cache=LabelCache(settings.dir / FILE_NAME),
            client=llm.client,
            workers=llm.workers,
            batch_size=llm.batch_size,
            prices=settings.prices,
            redact=llm.redact,
        )
        extra.append(labeller.collect)
    labelled = label_failures(store, failures, until=until, labellers=extra)
    warnings: list[str] = []
    if labeller is None:
        outcome = LLMOutcome("skipped", "not asked for")
    else:
        from pytest_flywheel.evolve.llm_labels import LLMLabelError

        warnings.extend(labeller.cache.warnings)
        try:
            outcome = LLMOutcome("used", "", labeller.run(labelled))
        except LLMLabelError as exc:
            outcome = LLMOutcome("error", str(exc), labeller.usage)
    clusters = build_clusters(labelled, since=since, until=until)
    cases, suite_warnings = read_suite_cases(settings)
    warnings.extend(suite_warnings)
    mark_coverage(clusters, cases, store=store, until=until)
    return TriageReport(
        since=since,
        until=until,
        project=project,
        failures=len(labelled),
        clusters=clusters,
        llm=outcome,
        custom_labels=bool(labellers),
        warnings=warnings,
    )
