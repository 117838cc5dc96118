"""Tests the plugin takes part in (a suite case, a marked test, a test using ``judge``): their
results travel on every phase's report, so each appears with its true outcome whatever happened.
And what the session collected, to tell the verdicts of renamed or deleted tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_flywheel.pytest_plugin.case_spec import case_spec
from pytest_flywheel.pytest_plugin.outcome import CaseOutcome
from pytest_flywheel.pytest_plugin.session import FlywheelSession


def attach_result(item: pytest.Item, report: pytest.TestReport, flywheel: FlywheelSession) -> None:
    """Carry the test's flywheel result on ``report`` (JSON-safe, so xdist ships it to the controller);
    a test that failed before any flywheel work gets a result too. A failure's text shown by pytest is
    scrubbed of secrets."""
    result = getattr(item, "flywheel_result", None)
    if result is None:
        spec = case_spec(item)
        outcome = CaseOutcome(
            nodeid=item.nodeid,
            suite=spec.suite_name if spec is not None else None,
            case_id=spec.case_id if spec is not None else None,
            file=spec.file if spec is not None else None,
            line=spec.line if spec is not None else None,
        )
        result = outcome.to_result()
    report.flywheel = result  # type: ignore[attr-defined]
    if getattr(item, "flywheel_error", False):
        report.flywheel_error = True  # type: ignore[attr-defined]
    if report.failed and report.longrepr is not None:
        text = str(report.longreprtext)
        scrubbed = flywheel.redact(text)
        if scrubbed != text:
            report.longrepr = scrubbed


def record_collection(flywheel: FlywheelSession, session: pytest.Session) -> None:
    """Remember what was collected (and which files were named with ``::``, so not collected whole)."""
    collection = flywheel.collection
    if not session.items and not collection.nodeids:
        return  # an xdist controller collects nothing itself: it cannot tell a renamed test
    collection.add_items(item.nodeid for item in session.items)
    rootpath = Path(session.config.rootpath)
    invocation = Path(session.config.invocation_params.dir)
    for argument in session.config.args:
        path, sep, _ = str(argument).partition("::")
        if not sep:
            continue
        try:
            relative = (invocation / path).resolve().relative_to(rootpath.resolve())
        except (ValueError, OSError):
            continue
        collection.partial_files.add(relative.as_posix())
    collection.complete = True
