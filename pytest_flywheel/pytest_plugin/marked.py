"""Hand-written tests: marked ``@pytest.mark.assertion("...", ...)`` (also spelled
``@pytest.mark.flywheel_assertion``), or using the ``judge`` fixture.

Both run inside their own cassette, ``<dir>/cassettes/<module path>/<test name>.yaml``, with the same
record modes as suite cases, so their LLM and tool calls replay offline. A marked test's return value
is judged against every assertion of every such marker on it (function, class and module); pytest's
"test returned non-None" warning is not raised for these tests: returning the output is the point.
"""

from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.canonical import json_data
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.pytest_plugin.outcome import AssertionResult, CaseOutcome, format_failure
from pytest_flywheel.pytest_plugin.reporting import junit_properties
from pytest_flywheel.pytest_plugin.runner import call_target
from pytest_flywheel.pytest_plugin.session import FlywheelSession

_UNSAFE_FILE_CHARS = re.compile(r"[^\w.\-]+")

#: The marker that always means pytest-flywheel's, and the short name it also answers to.
OWN_MARKER = "flywheel_assertion"
SHORT_MARKER = "assertion"


class MarkedTestError(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A marked test that could not be checked: reported as a test error with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


def marker_names(flywheel: FlywheelSession) -> tuple[str, ...]:
    return (OWN_MARKER, SHORT_MARKER) if flywheel.owns_assertion_marker else (OWN_MARKER,)


def is_marked(item: pytest.Item, flywheel: FlywheelSession) -> bool:
    return any(item.get_closest_marker(name) is not None for name in marker_names(flywheel))


def marked_sentences(item: pytest.Item, names: tuple[str, ...]) -> list[str]:
    """The assertion sentences of every marker named ``names`` on ``item``, closest first, no repeats."""
    sentences: list[str] = []
    for name in names:
        for marker in item.iter_markers(name):
            for sentence in marker.args:
                if not isinstance(sentence, str) or not sentence.strip():
                    raise pytest.UsageError(
                        f"{item.nodeid}: @pytest.mark.{name} takes sentences (non-empty strings), "
                        f"found {sentence!r}"
                    )
                if sentence not in sentences:
                    sentences.append(sentence)
    return sentences


def marked_cassette_path(item: pytest.Item, cassettes_dir: Path, root: Path) -> Path:
    """``<cassettes_dir>/<test file path without .py>/<test name>.yaml``."""
    try:
        module = item.path.relative_to(root)
    except ValueError:
        module = Path(item.path.name)
    name = _UNSAFE_FILE_CHARS.sub("_", item.name).strip("_") or "test"
    return cassettes_dir / module.with_suffix("") / f"{name}.yaml"


def _test_arguments(item: pytest.Function) -> dict[str, Any]:
    """The fixtures the test function asks for by parameter name (what pytest would pass it)."""
    parameters = inspect.signature(item.obj).parameters
    return {name: item.funcargs[name] for name in parameters if name in item.funcargs}


def _publish(item: pytest.Item, outcome: CaseOutcome) -> None:
    item.flywheel_result = outcome.to_result()  # type: ignore[attr-defined]


def _error(item: pytest.Item, flywheel: FlywheelSession, outcome: CaseOutcome, message: str) -> MarkedTestError:
    message = flywheel.redact(message)
    outcome.error = message
    _publish(item, outcome)
    item.flywheel_error = True  # type: ignore[attr-defined]
    return MarkedTestError(message)


def run_marked_test(item: pytest.Function, flywheel: FlywheelSession) -> None:
    """Run a marked test in its cassette and judge what it returns (``pytest_pyfunc_call``)."""
    __tracebackhide__ = True
    from pytest_flywheel.judge import JudgeRequest

    sentences = marked_sentences(item, marker_names(flywheel))
    outcome = CaseOutcome(nodeid=item.nodeid)
    if not sentences:
        raise _error(item, flywheel, outcome, "@pytest.mark.assertion needs at least one sentence to judge")
    settings = flywheel.settings
    cassette = marked_cassette_path(item, settings.cassettes_dir, settings.root)
    try:
        run = flywheel.replay.run(functools.partial(call_target, item.obj, _test_arguments(item)), cassette=cassette)
    except FlywheelError as exc:  # a cassette miss, said plainly, is more useful than the SDK's wrapping
        raise _error(item, flywheel, outcome, str(exc)) from None
    outcome.trajectory = run.trajectory
    outcome.latency_ms = run.latency_ms
    outcome.agent_cost_usd = run.cost_usd
    outcome.agent_tokens = run.input_tokens + run.output_tokens
    if run.exception is not None:
        outcome.raised = run.raised
        outcome.assertions = [AssertionResult(sentence, "sentence", None) for sentence in sentences]
        _publish(item, outcome)
        raise run.exception  # the test's own failure, shown by pytest as usual
    outcome.output = json_data(run.output)
    request = JudgeRequest(
        assertions=sentences, input=None, output=outcome.output, trajectory=run.trajectory, label=item.nodeid
    )
    try:
        verdicts = flywheel.judging.service_for(None).evaluate(request)
    except FlywheelError as exc:
        outcome.assertions = [AssertionResult(sentence, "sentence", None) for sentence in sentences]
        raise _error(item, flywheel, outcome, f"the judge could not answer for {item.nodeid}: {exc}") from None
    outcome.assertions = [AssertionResult.from_verdict(verdict) for verdict in verdicts]
    outcome.judge.add_verdicts(verdicts)
    outcome.judged = True
    _publish(item, outcome)
    item.user_properties.extend(junit_properties(outcome, flywheel.redact))
    flywheel.judging.verdicts_judged(item, list(verdicts))
    if outcome.failed:
        pytest.fail(flywheel.redact(format_failure(outcome)), pytrace=False)


def run_test_in_cassette(item: pytest.Function, flywheel: FlywheelSession) -> None:
    """Run a test that uses the ``judge`` fixture inside its cassette (``pytest_pyfunc_call``): its own
    LLM and tool calls replay like a marked test's; the judge's calls go to the judge and its cache."""
    __tracebackhide__ = True
    settings = flywheel.settings
    cassette = marked_cassette_path(item, settings.cassettes_dir, settings.root)
    outcome = CaseOutcome(nodeid=item.nodeid)
    try:
        run = flywheel.replay.run(functools.partial(call_target, item.obj, _test_arguments(item)), cassette=cassette)
    except FlywheelError as exc:
        raise _error(item, flywheel, outcome, str(exc)) from None
    if run.exception is not None:
        raise run.exception
