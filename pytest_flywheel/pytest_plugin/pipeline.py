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
import traceback
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_flywheel.canonical import json_data
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.pytest_plugin.outcome import AssertionResult, CaseOutcome
from pytest_flywheel.pytest_plugin.runner import call_target, import_target, run_in_cassette

if TYPE_CHECKING:
    import pytest

    from pytest_flywheel.judge import Verdict
    from pytest_flywheel.pytest_plugin.items import CaseItem
    from pytest_flywheel.pytest_plugin.runtime import FlywheelRuntime

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


class CasePipeline:
    """Starts cases ahead of the item that runs, so that their judge calls overlap."""

    def __init__(self, runtime: FlywheelRuntime, *, lookahead: int | None = None) -> None:
        self.runtime = runtime
        self.lookahead = lookahead_from_env() if lookahead is None else lookahead
        self._pending: dict[str, PendingCase] = {}
        self._positions: dict[str, int] | None = None
        self._targets: dict[str, Any] = {}

    def outcome_for(self, item: CaseItem) -> CaseOutcome:
        """The finished outcome of ``item``'s case (starting it and the next cases first)."""
        for case_item in [item, *self._upcoming(item)]:
            if case_item.nodeid not in self._pending:
                self._pending[case_item.nodeid] = self.start(case_item)
        pending = self._pending.pop(item.nodeid)
        outcome = pending.finish()
        if pending.verdicts:
            self.runtime.verdicts_judged(item, pending.verdicts)
        return outcome

    def _upcoming(self, item: CaseItem) -> list[CaseItem]:
        from pytest_flywheel.pytest_plugin.items import CaseItem

        if self.lookahead <= 0:
            return []
        if self.runtime.state.is_worker:
            # An xdist worker runs only the items the controller sends it; the one it knows comes next
            # is all it can safely start ahead.
            following = item.flywheel_next
            return [following] if isinstance(following, CaseItem) and _may_run(following) else []
        items = item.session.items
        if self._positions is None:
            self._positions = {candidate.nodeid: index for index, candidate in enumerate(items)}
        start = self._positions.get(item.nodeid)
        if start is None:
            return []
        upcoming: list[CaseItem] = []
        for index in range(start + 1, len(items)):
            if len(upcoming) >= self.lookahead:
                break
            candidate = items[index]
            if not isinstance(candidate, CaseItem):
                continue
            if candidate.nodeid in self._pending or _may_run(candidate):
                upcoming.append(candidate)
        return upcoming

    def start(self, item: CaseItem) -> PendingCase:
        """Run ``item``'s agent now and submit its sentence assertions; never raises for a case problem."""
        outcome = CaseOutcome(nodeid=item.nodeid, suite=item.suite_name, case_id=item.name)
        try:
            return self._start(item, outcome)
        except FlywheelError as exc:
            outcome.error = str(exc)
        except Exception as exc:
            outcome.error = f"running case {item.name!r} failed unexpectedly:\n" + "".join(
                traceback.format_exception(exc)
            )
        return PendingCase(outcome=outcome, sentences=[])

    def _start(self, item: CaseItem, outcome: CaseOutcome) -> PendingCase:
        from pytest_flywheel.judge import JudgeRequest
        from pytest_flywheel.judge.checks import run_check

        runtime = self.runtime
        case = item.case
        name = item.target
        target = self._targets.get(name)
        first_run = target is None
        if target is None:
            target = self._targets[name] = import_target(name, root=runtime.settings.root)
        arguments = dict(case.input or {})
        runtime.hold_transport_patches()  # suite cases run one after another: patch the transports once
        run = run_in_cassette(
            functools.partial(call_target, target, arguments),
            cassette=item.cassette_path,
            record_mode=runtime.options.record,
            redactor=runtime.redactor,
        )
        if first_run:
            # The agent's modules (its SDK's included) and what its first run built lazily live until
            # the session ends, like what collection built: frozen out of the cyclic collector's sight.
            runtime.state.freeze_long_lived()
        output = json_data(run.output)
        outcome.output = output
        outcome.raised = run.raised
        outcome.latency_ms = run.latency_ms
        outcome.agent_cost_usd = run.cost_usd
        outcome.agent_tokens = run.input_tokens + run.output_tokens
        assertions: list[Any] = list(case.assertions or [])
        sentences: list[int] = []
        for position, assertion in enumerate(assertions):
            if not isinstance(assertion, str):
                spec = _plain(assertion)
                if run.raised is not None:
                    outcome.assertions.append(AssertionResult(_check_label(spec), "check", None))
                    continue
                check = run_check(
                    spec,
                    output=output,
                    trajectory=run.trajectory,
                    latency_ms=run.latency_ms,
                    cost_usd=run.cost_usd,
                    custom=runtime.custom_check(output, run.trajectory),
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
            label=item.nodeid,
        )
        service = runtime.service_for(item.judge_model)
        return PendingCase(outcome=outcome, sentences=sentences, future=service.submit(request))

    def drain(self) -> None:
        """Forget cases started ahead that never ran (``-x``, an interrupted session)."""
        for pending in self._pending.values():
            if pending.future is not None:
                pending.future.cancel()
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
