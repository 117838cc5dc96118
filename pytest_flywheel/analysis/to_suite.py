"""``--add-to-suite``: an analysed trace becomes a test case with the assertions the user confirmed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from pytest_flywheel.analysis.analyzer import Analysis
from pytest_flywheel.analysis.findings import Assertion
from pytest_flywheel.analysis.report import assertion_text
from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError

if TYPE_CHECKING:
    from pytest_flywheel.suites import AddedCase


class AddToSuiteError(FlywheelError):
    """The analysis cannot be added to a suite as asked."""


def confirm_assertions(
    assertions: list[Assertion],
    *,
    yes: bool,
    stdin: TextIO | None = None,
    prompt_to: TextIO | None = None,
    ask: Callable[[], str] = input,
) -> list[Assertion]:
    """The assertions the user accepts, one ``[y/N]`` question each (all of them with ``yes``).

    Questions go to ``prompt_to`` (stderr by default, so ``--json`` output stays clean). With no
    terminal on stdin and no ``yes``, nothing can be confirmed: that is an error, not a silent "no".
    """
    if yes:
        return list(assertions)
    stdin = stdin or sys.stdin
    prompt_to = prompt_to or sys.stderr
    if not stdin.isatty():
        raise AddToSuiteError(
            f"--add-to-suite asks to confirm each of the {len(assertions)} suggested assertions, but stdin "
            "is not a terminal; run it in a terminal, or pass --yes to add them all."
        )
    accepted: list[Assertion] = []
    for number, assertion in enumerate(assertions, 1):
        prompt_to.write(
            f"Assertion {number}/{len(assertions)}: {assertion_text(assertion)}\n  add it? [y/N] "
        )
        prompt_to.flush()
        try:
            answer = ask()
        except EOFError:
            break
        if answer.strip().lower() in {"y", "yes"}:
            accepted.append(assertion)
    return accepted


def add_to_suite(
    analysis: Analysis,
    suite: str,
    assertions: list[Assertion],
    *,
    settings: Settings,
    allow_duplicate: bool = False,
) -> AddedCase:
    """Add the analysed trace as a case of ``suite`` (created when missing) through the suites capture.

    The suites piece reads the trace from ``settings.store``, takes its (redacted) input as the case
    input and its entrypoint as the suite's target, and writes the case's cassette from the trace's
    recorded LLM and tool calls.
    """
    from pytest_flywheel.suites import add_case

    return add_case(
        settings,
        suite,
        assertions=list(assertions),
        trace_id=analysis.trace.id,
        tags=["flywheel-analyze"],
        allow_duplicate=allow_duplicate,
    )
