"""Hand-written tests marked ``@pytest.mark.assertion("...", ...)``.

The test runs inside its own cassette, ``<dir>/cassettes/<module path>/<test name>.yaml`` (same record
modes as suite cases), and the value it returns is judged against every assertion of every
``assertion`` marker on it (function, class and module). pytest's "test returned non-None" warning is
not raised for these tests: returning the output is the point.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.canonical import json_data
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.pytest_plugin.items import CaseError
from pytest_flywheel.pytest_plugin.options import FlywheelState
from pytest_flywheel.pytest_plugin.outcome import AssertionResult, CaseOutcome, format_failure
from pytest_flywheel.pytest_plugin.reporting import junit_properties
from pytest_flywheel.pytest_plugin.runner import call_target, run_in_cassette

_UNSAFE_FILE_CHARS = re.compile(r"[^\w.\-]+")


def marked_sentences(item: pytest.Item) -> list[str]:
    """The assertion sentences of every ``assertion`` marker on ``item``, closest first, no repeats."""
    sentences: list[str] = []
    for marker in item.iter_markers("assertion"):
        for sentence in marker.args:
            if not isinstance(sentence, str) or not sentence.strip():
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.assertion takes sentences (non-empty strings), "
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


def _fail_as_error(item: pytest.Item, outcome: CaseOutcome, message: str) -> CaseError:
    outcome.error = message
    item.flywheel_result = outcome.to_result()  # type: ignore[attr-defined]
    item.flywheel_error = True  # type: ignore[attr-defined]
    return CaseError(message)


def run_marked_test(item: pytest.Function, state: FlywheelState) -> None:
    """Run a marked test in its cassette and judge what it returns (``pytest_pyfunc_call``)."""
    __tracebackhide__ = True
    from pytest_flywheel.judge import JudgeRequest

    sentences = marked_sentences(item)
    runtime = state.get_runtime()
    settings = runtime.settings
    outcome = CaseOutcome(nodeid=item.nodeid)
    if not sentences:
        raise _fail_as_error(item, outcome, "@pytest.mark.assertion needs at least one sentence to judge")
    function = item.obj
    arguments: dict[str, Any] = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
    cassette = marked_cassette_path(item, settings.cassettes_dir, settings.root)
    try:
        run = run_in_cassette(
            functools.partial(call_target, function, arguments),
            cassette=cassette,
            record_mode=runtime.options.record,
            redactor=runtime.redactor,
        )
    except FlywheelError as exc:  # a cassette miss, said plainly, is more useful than the SDK's wrapping
        raise _fail_as_error(item, outcome, str(exc)) from None
    if run.exception is not None:
        raise run.exception  # the test's own failure, shown by pytest as usual
    outcome.output = json_data(run.output)
    outcome.latency_ms = run.latency_ms
    outcome.agent_cost_usd = run.cost_usd
    outcome.agent_tokens = run.input_tokens + run.output_tokens
    request = JudgeRequest(
        assertions=sentences, input=None, output=outcome.output, trajectory=run.trajectory, label=item.nodeid
    )
    try:
        verdicts = runtime.service_for(None).evaluate(request)
    except FlywheelError as exc:
        outcome.assertions = [AssertionResult(sentence, "sentence", None) for sentence in sentences]
        raise _fail_as_error(item, outcome, f"the judge could not answer for {item.nodeid}: {exc}") from None
    outcome.assertions = [AssertionResult.from_verdict(verdict) for verdict in verdicts]
    outcome.judge.add_verdicts(verdicts)
    outcome.judged = True
    item.flywheel_result = outcome.to_result()  # type: ignore[attr-defined]
    item.user_properties.extend(junit_properties(outcome))
    runtime.verdicts_judged(item, list(verdicts))
    if outcome.failed:
        pytest.fail(format_failure(outcome), pytrace=False)
