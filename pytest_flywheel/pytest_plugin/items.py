"""``CaseItem``: one case of a suite file as a pytest test item.

The case's work (agent run inside its cassette, deterministic checks, the judge) happens in
:meth:`CaseItem.setup`, through the session's run-ahead pipeline. Anything that keeps the case from
being checked (an import error, a cassette miss, a judge that cannot answer) is raised there, so pytest
reports it as an **error**; failed assertions are raised from :meth:`CaseItem.runtest` as a failure.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.pytest_plugin.case_spec import CASE_SPEC, CaseSpec
from pytest_flywheel.pytest_plugin.outcome import CaseOutcome, format_failure, tool_names
from pytest_flywheel.pytest_plugin.reporting import junit_properties
from pytest_flywheel.pytest_plugin.session import get_session


class CaseError(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A case that could not be checked: reported as a test error with this message, no traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


# Shown as "CaseError: <reason>" in pytest's short summary, like pytest's own "Failed: <reason>".
CaseError.__module__ = "builtins"


class CaseFailed(Exception):
    """Raised by :meth:`CaseItem.runtest` when an assertion failed; shown by :meth:`CaseItem.repr_failure`."""

    def __init__(self, outcome: CaseOutcome) -> None:
        super().__init__(f"case {outcome.case_id} failed")
        self.outcome = outcome


class CaseItem(pytest.Item):
    """One suite case. ``flywheel_result`` holds its outcome as a dict once it ran (for the reports)."""

    def __init__(self, *, spec: CaseSpec, line: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.line = line
        self.stash[CASE_SPEC] = spec
        self.flywheel_result: dict[str, Any] | None = None
        self._outcome: CaseOutcome | None = None

    @property
    def suite_name(self) -> str:
        return self.spec.suite_name

    def setup(self) -> None:
        flywheel = get_session(self.config)
        try:
            pipeline = flywheel.pipeline
        except FlywheelError as exc:  # a setting the pipeline cannot use: said once per case, plainly
            raise CaseError(flywheel.redact(str(exc))) from None
        outcome = pipeline.outcome_for(self)
        if outcome.trajectory is not None:
            outcome.tools_called = tool_names(outcome.trajectory)
        if outcome.error is None and not outcome.failed:
            outcome.trajectory = None  # only a failing case's calls are reported; a passing one's stay in its cassette
        self._outcome = outcome
        self.flywheel_result = outcome.to_result()
        self.user_properties.extend(junit_properties(outcome, flywheel.redact))
        if outcome.error is not None:
            # the one-line summary first: it is what pytest's short summary shows
            message = outcome.error if outcome.summary is None else f"{outcome.summary}\n{outcome.error}"
            raise CaseError(flywheel.redact(message))

    def runtest(self) -> None:
        outcome = self._outcome
        if outcome is None:  # pragma: no cover - setup always sets it or raises
            raise CaseError("the case did not run")
        if outcome.failed:
            raise CaseFailed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            return get_session(self.config).redact(format_failure(excinfo.value.outcome))
        if isinstance(excinfo.value, CaseError):
            # the message itself (its first line is what pytest's short summary shows), no traceback
            return str(excinfo.value.msg)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        line = self.line - 1 if self.line else None  # pytest counts lines from 0 here
        return self.path, line, f"case {self.name} of suite {self.suite_name}"
