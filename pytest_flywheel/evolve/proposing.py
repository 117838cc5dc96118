"""Proposing, accepting and rejecting candidates (``flywheel candidates propose|accept|reject``).

* :func:`propose`: one candidate per uncovered cluster of the suite's entrypoint, most frequent
  first: the example trace (from the cluster's largest uncovered input group), its input, a case id,
  and suggested assertions (:func:`suggested_assertions`). A cluster already in the file is not
  proposed again: a rejected or accepted one stays as it is, a proposed one gets fresh figures
  (count, trend, last seen) and keeps the edits made to it.
* :func:`accept`: the candidate (edited first, with ``edit``) is captured into the suite, cassette and
  all, through the suites' own ``add_case`` (duplicate refusal included), then marked accepted.
* :func:`reject`: the candidate is marked rejected with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.evolve.candidates import (
    Candidate,
    CandidatesFile,
    CandidatesFileError,
    candidate_problems,
    read_candidates,
)
from pytest_flywheel.evolve.clusters import Cluster
from pytest_flywheel.files import folder_lock

if TYPE_CHECKING:
    from pytest_flywheel.evolve.triage import TriageReport
    from pytest_flywheel.suites.adding import AddedCase

#: The sentence each LLM label suggests (rule labels suggest their findings' own assertions).
LLM_ASSERTIONS: dict[str, str] = {
    "hallucinated_policy": "The answer states only policies, prices and promises that the retrieved documents "
    "or tool results support.",
    "ignored_retrieved_article": "The answer is based on the retrieved document that answers the question.",
    "wrong_tool_argument": "Every tool is called with the arguments the request gives: none missing or invented.",
    "claimed_success_after_failure": "When a step fails or returns an error, the answer says so instead of "
    "reporting success.",
}
TAGS = ["triage"]


class CandidateStateError(FlywheelError):
    """A candidate that cannot be accepted or rejected in its state (already accepted, ...)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def suggested_assertions(cluster: Cluster) -> list[Any]:
    """Assertions for a case from ``cluster``: its example's rule findings' (those behind its labels,
    outlier checks included), a sentence per LLM or custom label, and for a cluster with no label a
    sentence from its negative feedback."""
    example = cluster.example
    suggested: list[Any] = []

    def add(assertion: Any) -> None:
        if assertion is not None and assertion not in suggested:
            suggested.append(assertion)

    for finding in example.findings:  # most severe first: each rule label's finding says what to assert
        add(finding.suggested_assertion)
    for label in example.labels:
        if label.source == "llm":
            add(LLM_ASSERTIONS.get(label.name))
        elif label.source == "custom":
            add(f"The answer does not show the failure {label.name.replace('_', ' ')!r}.")
    if not suggested:
        feedback = ", ".join(cluster.negative_feedback) or "negative feedback"
        add(
            "The answer gives the user what they asked for, correctly and completely (production rated "
            f"answers to this request negatively: {feedback})."
        )
    return suggested


def candidate_for(cluster: Cluster, *, proposed_at: str) -> Candidate:
    from pytest_flywheel.suites.case_ids import derive_case_id

    example = cluster.example
    case_input = example.trace.input if isinstance(example.trace.input, dict) else {}
    return Candidate(
        id=cluster.id,
        status="proposed",
        cluster=cluster_facts(cluster),
        trace_id=example.trace.id,
        case_id=derive_case_id(case_input),
        input=case_input,
        assertions=suggested_assertions(cluster),
        tags=list(TAGS),
        notes=f"Proposed from {cluster.count} production failure(s) that fail the same way "
        f"({', '.join(cluster.labels) or 'no label'}; first bad step {cluster.signature.text}).",
        proposed_at=proposed_at,
    )


def cluster_facts(cluster: Cluster) -> dict[str, Any]:
    def iso_time(epoch: float) -> str:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "entrypoint": cluster.entrypoint,
        "labels": list(cluster.labels),
        "signature": cluster.signature.text,
        "count": cluster.count,
        "trend": cluster.trend,
        "first_seen": iso_time(cluster.first_seen),
        "last_seen": iso_time(cluster.last_seen),
    }


@dataclass
class ProposeResult:
    """What :func:`propose` did to the candidates file."""

    file: CandidatesFile
    target: str | None
    added: list[Candidate] = field(default_factory=list)
    refreshed: list[Candidate] = field(default_factory=list)
    remembered: list[Candidate] = field(default_factory=list)  # rejected or accepted: left alone
    skipped_other_entrypoint: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.file.path),
            "suite": self.file.suite,
            "target": self.target,
            "added": [c.id for c in self.added],
            "refreshed": [c.id for c in self.refreshed],
            "remembered": [{"id": c.id, "status": c.status} for c in self.remembered],
            "skipped_other_entrypoint": self.skipped_other_entrypoint,
            "notes": list(self.notes),
        }


def suite_target(settings: Settings, suite: str) -> str | None:
    """The suite's target, or None when the suite has no file (or no target) yet."""
    from pytest_flywheel.suites.loading import load_suite, suite_path_for

    path = suite_path_for(suite, settings)
    return load_suite(path).suite.target if path.is_file() else None


def propose(settings: Settings, suite: str, report: TriageReport, *, limit: int) -> ProposeResult:
    """Add a candidate per uncovered cluster of ``report`` (at most ``limit`` new ones) to the file."""
    from pytest_flywheel.suites.adding import check_suite_name

    check_suite_name(suite)
    target = suite_target(settings, suite)
    uncovered = [c for c in report.clusters if not c.covered]
    if target is None and uncovered:
        entrypoints = [c.entrypoint for c in uncovered if ":" in c.entrypoint]
        target = max(set(entrypoints), key=entrypoints.count) if entrypoints else None
    now = _now()
    with folder_lock(settings.dir / "candidates"):
        file = read_candidates(settings, suite)
        result = ProposeResult(file=file, target=target)
        if target is not None and suite_target(settings, suite) is None:
            result.notes.append(f"suite {suite!r} has no target yet: proposing for {target}, its most failing entrypoint")
        for cluster in uncovered:
            if cluster.entrypoint != target:
                result.skipped_other_entrypoint += 1
                continue
            existing = file.get(cluster.id)
            if existing is not None:
                if existing.status == "proposed":
                    existing.cluster = cluster_facts(cluster)
                    result.refreshed.append(existing)
                else:
                    result.remembered.append(existing)
                continue
            if len(result.added) >= limit:
                continue
            candidate = candidate_for(cluster, proposed_at=now)
            file.candidates.append(candidate)
            result.added.append(candidate)
        if result.added or result.refreshed:
            file.save()
    return result


def _locked_update(settings: Settings, suite: str, candidate_id: str, change: Callable[[Candidate], None]) -> Candidate:
    with folder_lock(settings.dir / "candidates"):
        file = read_candidates(settings, suite, must_exist=True)
        candidate = file.get(candidate_id)
        if candidate is None:
            raise CandidatesFileError(f"candidate {candidate_id} left {file.path} while it was being accepted")
        change(candidate)
        file.save()
        return candidate


def _ready(file: CandidatesFile, wanted: str) -> Candidate:
    candidate = file.find(wanted)
    if candidate.status == "accepted":
        raise CandidateStateError(
            f"candidate {candidate.id} was accepted already, as case {candidate.accepted_case} (line "
            f"{file.lines.get(candidate.id, 1)} of {file.path})"
        )
    return candidate


def accept(
    settings: Settings,
    suite: str,
    wanted: str,
    *,
    edit: Callable[[Candidate], Candidate] | None = None,
    allow_duplicate: bool = False,
) -> tuple[Candidate, AddedCase]:
    """Capture candidate ``wanted`` (an id or unique prefix) into ``suite``; with ``edit``, the
    candidate it returns (checked like the file) is what is captured and kept."""
    from pytest_flywheel.suites.adding import add_case

    file = read_candidates(settings, suite, must_exist=True)
    candidate = _ready(file, wanted)
    if candidate.status == "rejected":
        raise CandidateStateError(
            f"candidate {candidate.id} was rejected ({candidate.rejected_reason}); to accept it after all, set "
            f"its status back to proposed in {file.path}"
        )
    if edit is not None:
        candidate = edit(candidate)
        problems = candidate_problems(candidate.to_data())
        if problems:
            from pytest_flywheel.suites.validation import field_name

            details = "; ".join(f"{field_name(path)}: {message}" for path, message in problems)
            raise CandidatesFileError(f"the edited candidate {candidate.id} is not valid, nothing was added: {details}")
    added = add_case(
        settings,
        suite,
        case_input=candidate.input,
        assertions=candidate.assertions,
        trace_id=candidate.trace_id,
        case_id=candidate.case_id,
        tags=candidate.tags,
        notes=candidate.notes,
        allow_duplicate=allow_duplicate,
    )
    edited = candidate

    def mark(stored: Candidate) -> None:
        for name in ("input", "assertions", "case_id", "tags", "notes"):
            setattr(stored, name, getattr(edited, name))
        stored.status = "accepted"
        stored.accepted_case = f"{suite}::{added.case.id}"
        stored.accepted_at = _now()

    return _locked_update(settings, suite, candidate.id, mark), added


def reject(settings: Settings, suite: str, wanted: str, *, reason: str) -> Candidate:
    """Mark candidate ``wanted`` rejected with ``reason``: its cluster is not proposed again."""
    if not reason.strip():
        raise FlywheelError("--reason is empty: say why the candidate is rejected (reviewers read it later)")
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError:  # a byte that is not UTF-8 on the command line: a lone surrogate here
        raise FlywheelError(f"--reason {reason!r} is not UTF-8 text: write the reason again") from None
    file = read_candidates(settings, suite, must_exist=True)
    candidate = _ready(file, wanted)

    def mark(stored: Candidate) -> None:
        stored.status = "rejected"
        stored.rejected_reason = reason.strip()
        stored.rejected_at = _now()

    return _locked_update(settings, suite, candidate.id, mark)
