"""The ``judge`` fixture: the session's caching judge, for hand-written tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flywheel.canonical import json_data
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.pytest_plugin.outcome import AssertionResult, CaseOutcome, format_assertions
from pytest_flywheel.pytest_plugin.reporting import junit_properties
from pytest_flywheel.pytest_plugin.session import FlywheelSession

if TYPE_CHECKING:
    from pytest_flywheel.judge import Verdict


class JudgeFixture:
    """Judge an output against natural-language assertions, with the session's verdict cache.

    ``judge(output, assertion, *, input=None, trajectory=None) -> Verdict``;
    ``judge.expect(output, *assertions, input=None, trajectory=None)`` raises ``AssertionError``
    listing every failing assertion with the judge's reason (and returns the verdicts otherwise).
    ``trajectory`` is a list of trajectory entries or of spans (``SpanRecord``). A judge that cannot
    answer raises ``JudgeError``, which the test reports as an error.
    """

    def __init__(self, flywheel: FlywheelSession, node: pytest.Item) -> None:
        self._flywheel = flywheel
        self._node = node
        self._outcome = CaseOutcome(nodeid=node.nodeid)
        self._outcome.judged = True
        self._publish()

    def __call__(
        self, output: Any, assertion: str, *, input: Any = None, trajectory: Sequence[Any] | None = None
    ) -> Verdict:
        return self._evaluate(output, [assertion], input=input, trajectory=trajectory)[0]

    def expect(
        self, output: Any, *assertions: str, input: Any = None, trajectory: Sequence[Any] | None = None
    ) -> list[Verdict]:
        if not assertions:
            raise TypeError("judge.expect(output, *assertions) needs at least one assertion")
        verdicts = self._evaluate(output, list(assertions), input=input, trajectory=trajectory)
        failing = [AssertionResult.from_verdict(v) for v in verdicts if not v.passed]
        if failing:
            lines = [f"{len(failing)} of {len(verdicts)} assertions failed:", *format_assertions(failing)]
            raise AssertionError(self._flywheel.redact("\n".join(lines)))
        return verdicts

    def _evaluate(
        self, output: Any, assertions: list[str], *, input: Any, trajectory: Sequence[Any] | None
    ) -> list[Verdict]:
        from pytest_flywheel.judge import JudgeRequest

        for assertion in assertions:
            if not isinstance(assertion, str) or not assertion.strip():
                raise TypeError(f"an assertion is a non-empty sentence (a str), found {assertion!r}")
        flywheel = self._flywheel
        request = JudgeRequest(
            assertions=assertions,
            input=json_data(input),
            output=json_data(output),
            trajectory=_trajectory(trajectory),
            label=self._node.nodeid,
        )
        outcome = self._outcome
        try:
            verdicts = flywheel.judging.service_for(None).evaluate(request)
        except FlywheelError:
            outcome.judged = False
            outcome.assertions.extend(AssertionResult(text, "sentence", None) for text in assertions)
            self._publish()
            self._node.flywheel_error = True  # type: ignore[attr-defined]
            raise
        outcome.output = request.output
        outcome.assertions.extend(AssertionResult.from_verdict(verdict) for verdict in verdicts)
        outcome.judge.add_verdicts(verdicts)
        self._publish()
        flywheel.judging.verdicts_judged(self._node, list(verdicts))
        return verdicts

    def _publish(self) -> None:
        node = self._node
        node.flywheel_result = self._outcome.to_result()  # type: ignore[attr-defined]
        node.user_properties[:] = [
            (name, value) for name, value in node.user_properties if not str(name).startswith("flywheel.")
        ]
        node.user_properties.extend(junit_properties(self._outcome, self._flywheel.redact))


def _trajectory(trajectory: Iterable[Any] | None) -> list[dict[str, Any]]:
    if trajectory is None:
        return []
    entries = list(trajectory)
    if entries and not isinstance(entries[0], dict):
        from pytest_flywheel.judge.trajectory import trajectory_from_spans

        return trajectory_from_spans(entries)
    return [dict(entry) for entry in entries]
