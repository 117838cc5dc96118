"""Tests the plugin takes part in (a suite case, a marked test, a test using ``judge``): their
results travel on every phase's report, so each appears with its true outcome whatever happened."""

from __future__ import annotations

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
