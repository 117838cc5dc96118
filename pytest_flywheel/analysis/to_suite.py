"""``--add-to-suite``: an analysed trace becomes a test case with the assertions the user confirmed."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any, TextIO

from pytest_flywheel.analysis.analyzer import Analysis
from pytest_flywheel.analysis.findings import Assertion
from pytest_flywheel.analysis.report import assertion_text
from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError


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
        prompt_to.write(f"Assertion {number}/{len(assertions)}: {assertion_text(assertion)}\n  add it? [y/N] ")
        prompt_to.flush()
        try:
            answer = ask()
        except EOFError:
            break
        if answer.strip().lower() in {"y", "yes"}:
            accepted.append(assertion)
    return accepted


def add_to_suite(analysis: Analysis, suite: str, assertions: list[Assertion], *, settings: Settings) -> Any:
    """Add the analysed trace as a case of ``suite`` (created when missing) through the suites piece.

    The case's input is the entrypoint's recorded input, its source the trace; the suites piece writes
    the suite file (and the cassette of the trace's recorded traffic). Returns the case it made.
    """
    try:
        # Looked up at run time: the suites piece is optional for everything but this option.
        client_class = importlib.import_module("pytest_flywheel.suites").Client
    except (ImportError, AttributeError) as exc:
        raise AddToSuiteError(
            f"--add-to-suite needs pytest_flywheel.suites, which cannot be imported here ({exc})."
        ) from exc
    trace = analysis.trace
    if not isinstance(trace.input, dict):
        raise AddToSuiteError(
            f"trace {trace.id}'s input is {type(trace.input).__name__}, not arguments by parameter name; "
            "a suite case needs the entrypoint's arguments as a mapping (trace it with @track)."
        )
    client = client_class(root=settings.root)
    test_suite = client.get_or_create_test_suite(name=suite, target=trace.location)
    return test_suite.add_test_case(input=trace.input, assertions=assertions, trace_id=trace.id,
                                    tags=["flywheel-analyze"])
