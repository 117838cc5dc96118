"""The run-ahead case pipeline: why a cold suite run is not one judge round-trip per case in a row.

pytest runs items one after another, and a case's judge call takes hundreds of milliseconds. So when a
case item sets up, the pipeline also starts the next few cases: it runs their agents (on the main
thread, one cassette at a time, since vcrpy's patching is process-wide) and submits their sentence
assertions to the judge's thread pool. Each item then only waits for its own future, which by then
has usually been in flight for a while. The judge's HTTP calls carry ``x-flywheel-judge: 1``, so the
cassette open on the main thread lets them through.

Per-item honesty: whatever goes wrong while a case is started ahead (an import error, a cassette miss,
the target raising) is stored and reported on that case's own item, never on the item that happened
to be running. (What a target prints while it runs ahead is captured with the item then running.)
"""

from __future__ import annotations

import functools
import os
import tempfile
import traceback
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flywheel.canonical import json_data
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.pytest_plugin.case_spec import NEXT_ITEM, CaseSpec, case_spec
from pytest_flywheel.pytest_plugin.outcome import AssertionResult, CaseOutcome
from pytest_flywheel.pytest_plugin.runner import CaseReplay, CaseSetupError, call_target, import_target
from pytest_flywheel.replay.errors import CassetteMissError

if TYPE_CHECKING:
    import pytest

    from pytest_flywheel.judge import Verdict
    from pytest_flywheel.pytest_plugin.judging import Judging

#: How many cases after the running one have their agents run and judge calls submitted; the
#: environment variable FLYWHEEL_JUDGE_LOOKAHEAD overrides it (0 turns the run-ahead off).
DEFAULT_LOOKAHEAD = 16


def lookahead_from_env() -> int:
    value = os.environ.get("FLYWHEEL_JUDGE_LOOKAHEAD", "").strip()
    if not value:
        return DEFAULT_LOOKAHEAD
    try:
        return max(0, int(value))
    except ValueError:
        raise FlywheelError(
            f"FLYWHEEL_JUDGE_LOOKAHEAD={value!r}: expected a whole number of cases (0 turns the run-ahead off)"
        ) from None


@dataclass
class PendingCase:
    """A started case: its outcome so far, and the future of its judge call (if it needed one)."""

    outcome: CaseOutcome
    sentences: list[int]  # positions of the sentence assertions in outcome.assertions
    future: Future[list[Verdict]] | None = None
    verdicts: list[Verdict] | None = None

    def finish(self) -> CaseOutcome:
        """Wait for the judge and fill in the sentence verdicts; a judge error becomes an error outcome."""
        outcome = self.outcome
        if self.future is None:
            outcome.judged = outcome.error is None and outcome.raised is None
            return outcome
        try:
            verdicts = self.future.result()
        except FlywheelError as exc:
            outcome.error = f"the judge could not answer for case {outcome.case_id!r}: {exc}"
            return outcome
        except Exception as exc:  # a judge backend's bug is still an error, never a pass
            outcome.error = (
                f"the judge failed for case {outcome.case_id!r} with {type(exc).__name__}: {exc}\n"
                + "".join(traceback.format_exception(exc))
            )
            return outcome
        if len(verdicts) != len(self.sentences):
            outcome.error = (
                f"the judge answered {len(verdicts)} assertions of case {outcome.case_id!r}, "
                f"expected {len(self.sentences)}"
            )
            return outcome
        for position, verdict in zip(self.sentences, verdicts, strict=True):
            outcome.assertions[position] = AssertionResult.from_verdict(verdict)
        self.verdicts = list(verdicts)
        outcome.judge.add_verdicts(verdicts)
        outcome.judged = True
        return outcome


@dataclass
class PendingRuns:
    """A case started several times (``runs``): it passes when ``threshold`` of its runs pass."""

    runs: list[PendingCase]
    threshold: int

    @property
    def verdicts(self) -> list[Verdict] | None:
        return self.runs[0].verdicts

    def finish(self) -> CaseOutcome:
        outcomes = [pending.finish() for pending in self.runs]
        total = len(outcomes)
        errors = [outcome for outcome in outcomes if outcome.error is not None]
        passed = [outcome for outcome in outcomes if outcome.error is None and not outcome.failed]
        varied = _varied(outcomes)
        if errors:
            chosen = errors[0]
        elif len(passed) >= self.threshold:
            chosen = passed[0]
        else:
            chosen = next(outcome for outcome in outcomes if outcome.failed)
        for other in outcomes:
            if other is not chosen:
                chosen.judge.add(other.judge)
        chosen.judged = all(outcome.judged for outcome in outcomes)
        chosen.runs = {"passed": len(passed), "total": total, "threshold": self.threshold, "varied": varied}
        return chosen


def _varied(outcomes: list[CaseOutcome]) -> list[str]:
    """The assertions whose result was not the same in every run."""
    seen: dict[str, set[bool | None]] = {}
    for outcome in outcomes:
        for result in outcome.assertions:
            seen.setdefault(result.assertion, set()).add(result.passed)
    return [assertion for assertion, results in seen.items() if len(results) > 1]


class CasePipeline:
    """Starts cases ahead of the item that runs, so that their judge calls overlap."""

    def __init__(
        self,
        *,
        replay: CaseReplay,
        judging: Judging,
        root: Path,
        is_worker: bool,
        lookahead: int | None = None,
    ) -> None:
        self.replay = replay
        self.judging = judging
        self.root = root
        self.is_worker = is_worker
        self.lookahead = lookahead_from_env() if lookahead is None else lookahead
        self._pending: dict[str, PendingCase | PendingRuns] = {}
        self._positions: dict[str, int] | None = None
        self._targets: dict[str, Any] = {}

    def outcome_for(self, item: pytest.Item) -> CaseOutcome:
        """The finished outcome of ``item``'s case (starting it and the next cases first)."""
        for case_item in [item, *self._upcoming(item)]:
            if case_item.nodeid not in self._pending:
                spec = case_spec(case_item)
                assert spec is not None, f"{case_item.nodeid} is not a suite case"
                self._pending[case_item.nodeid] = self.start(spec)
        pending = self._pending.pop(item.nodeid)
        outcome = pending.finish()
        if pending.verdicts:
            self.judging.verdicts_judged(item, pending.verdicts)
        return outcome

    def _upcoming(self, item: pytest.Item) -> list[pytest.Item]:
        if self.lookahead <= 0:
            return []
        if self.is_worker:
            # An xdist worker runs only the items the controller sends it; the one it knows comes next
            # is all it can safely start ahead.
            following = item.stash.get(NEXT_ITEM, None)
            if following is not None and case_spec(following) is not None and _may_run(following):
                return [following]
            return []
        items = item.session.items
        if self._positions is None:
            self._positions = {candidate.nodeid: index for index, candidate in enumerate(items)}
        start = self._positions.get(item.nodeid)
        if start is None:
            return []
        upcoming: list[pytest.Item] = []
        for index in range(start + 1, len(items)):
            if len(upcoming) >= self.lookahead:
                break
            candidate = items[index]
            if case_spec(candidate) is None:
                continue
            if candidate.nodeid in self._pending or _may_run(candidate):
                upcoming.append(candidate)
        return upcoming

    def start(self, spec: CaseSpec) -> PendingCase | PendingRuns:
        """Run the case's agent now (as many times as it asks, when it calls the model) and submit its
        sentence assertions; never raises for a case problem."""
        if spec.runs > 1 and self.replay.record_mode != "none":
            runs: list[PendingCase] = []
            with tempfile.TemporaryDirectory(prefix="flywheel-runs-") as scratch:
                for number in range(spec.runs):
                    # the first run records into the case's cassette; the others run live, recorded nowhere
                    cassette = None if number == 0 else Path(scratch) / f"run-{number + 1}.yaml"
                    runs.append(self._start_one(spec, cassette=cassette))
            return PendingRuns(runs=runs, threshold=spec.pass_threshold)
        pending = self._start_one(spec)
        if spec.runs > 1:
            pending.outcome.runs = {"asked": spec.runs, "total": 1, "replayed": True}
        return pending

    def _start_one(self, spec: CaseSpec, *, cassette: Path | None = None) -> PendingCase:
        outcome = CaseOutcome(
            nodeid=spec.nodeid, suite=spec.suite_name, case_id=spec.case_id, file=spec.file, line=spec.line
        )
        try:
            return self._start(spec, outcome, cassette=cassette)
        except CassetteMissError as exc:
            outcome.error, outcome.summary = str(exc), exc.summary
            outcome.miss_at = exc.difference_path if exc.kind == "request" else None
        except FlywheelError as exc:
            outcome.error = str(exc)
        except Exception as exc:
            outcome.error = f"running case {spec.case_id!r} failed unexpectedly:\n" + "".join(
                traceback.format_exception(exc)
            )
        return PendingCase(outcome=outcome, sentences=[])

    def _target(self, spec: CaseSpec) -> Any:
        if not spec.target:
            raise CaseSetupError(
                f"suite {spec.suite_name!r} ({spec.suite_path}) has no target: add `target: module:function` "
                "naming the agent entrypoint its cases call"
            )
        target = self._targets.get(spec.target)
        if target is None:
            target = self._targets[spec.target] = import_target(spec.target, root=self.root)
        return target

    def _start(self, spec: CaseSpec, outcome: CaseOutcome, *, cassette: Path | None = None) -> PendingCase:
        from pytest_flywheel.judge import JudgeRequest
        from pytest_flywheel.judge.checks import run_check

        case = spec.case
        if spec.cassette_problem is not None:
            raise CaseSetupError(spec.cassette_problem)
        target = self._target(spec)
        arguments = dict(case.input or {})
        self.replay.hold()  # suite cases run one after another: the transports stay patched
        run = self.replay.run(
            functools.partial(call_target, target, arguments),
            cassette=cassette or spec.cassette,
            record_mode="all" if cassette is not None else None,
        )
        output = json_data(run.output)
        outcome.output = output
        outcome.trajectory = run.trajectory
        outcome.raised = run.raised
        outcome.latency_ms = run.latency_ms
        outcome.agent_cost_usd = run.cost_usd
        outcome.agent_tokens = run.input_tokens + run.output_tokens
        assertions: list[Any] = list(case.assertions or [])
        sentences: list[int] = []
        for position, assertion in enumerate(assertions):
            if not isinstance(assertion, str):
                check_spec = _plain(assertion)
                if run.raised is not None:
                    outcome.assertions.append(AssertionResult(_check_label(check_spec), "check", None))
                    continue
                check = run_check(
                    check_spec,
                    output=output,
                    trajectory=run.trajectory,
                    latency_ms=run.latency_ms,
                    cost_usd=run.cost_usd,
                    custom=self.judging.custom_check(output, run.trajectory),
                    latency_recorded=run.latency_recorded,
                )
                outcome.assertions.append(
                    AssertionResult(check.label, "check", bool(check.passed), check.reason)
                )
            else:
                outcome.assertions.append(AssertionResult(str(assertion), "sentence", None))
                sentences.append(position)
        if run.raised is not None or not sentences:
            return PendingCase(outcome=outcome, sentences=[])
        request = JudgeRequest(
            assertions=[str(assertions[position]) for position in sentences],
            input=json_data(arguments),
            output=output,
            trajectory=run.trajectory,
            label=spec.nodeid,
        )
        service = self.judging.service_for(spec.judge_model)
        return PendingCase(outcome=outcome, sentences=sentences, future=service.submit(request))

    def drain(self) -> None:
        """Forget cases started ahead that never ran (``-x``, an interrupted session)."""
        for pending in self._pending.values():
            for started in pending.runs if isinstance(pending, PendingRuns) else [pending]:
                if started.future is not None:
                    started.future.cancel()
        self._pending.clear()


def _may_run(item: pytest.Item) -> bool:
    return item.get_closest_marker("skip") is None and item.get_closest_marker("skipif") is None


def _plain(value: Any) -> dict[str, Any]:
    """A check as the plain one-key mapping ``run_check`` takes (suite files give pydantic models)."""
    if isinstance(value, dict):
        return dict(value)
    from pytest_flywheel.suites import check_spec

    return check_spec(value)


def _check_label(spec: dict[str, Any]) -> str:
    from pytest_flywheel.judge.checks import check_label

    return check_label(spec)
