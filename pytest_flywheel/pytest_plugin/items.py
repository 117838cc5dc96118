"""``CaseItem``: one case of a suite file as a pytest test item.

The case's work (agent run inside its cassette, deterministic checks, the judge) happens in
:meth:`CaseItem.setup`, through the session's run-ahead pipeline. Anything that keeps the case from
being checked (an import error, a cassette miss, a judge that cannot answer) is raised there, so pytest
reports it as an **error**; failed assertions are raised from :meth:`CaseItem.runtest` as a failure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.pytest_plugin.options import get_state
from pytest_flywheel.pytest_plugin.outcome import CaseOutcome, format_failure
from pytest_flywheel.pytest_plugin.reporting import junit_properties

if TYPE_CHECKING:
    from pytest_flywheel.suites import LoadedSuite


class CaseError(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A case that could not be checked: reported as a test error with this message, no traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


class CaseFailed(Exception):
    """Raised by :meth:`CaseItem.runtest` when an assertion failed; shown by :meth:`CaseItem.repr_failure`."""

    def __init__(self, outcome: CaseOutcome) -> None:
        super().__init__(f"case {outcome.case_id} failed")
        self.outcome = outcome


class CaseItem(pytest.Item):
    """One suite case. ``flywheel_result`` holds its outcome as a dict once it ran (for the reports)."""

    def __init__(
        self,
        *,
        suite_name: str,
        case: Any,
        loaded: LoadedSuite,
        line: int | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.suite_name = suite_name
        self.case = case
        self.loaded = loaded
        self.line = line
        self.flywheel_result: dict[str, Any] | None = None
        #: The item xdist said runs next on this worker (set by the plugin's runtest_protocol hook).
        self.flywheel_next: pytest.Item | None = None
        self._outcome: CaseOutcome | None = None

    @property
    def target(self) -> str:
        """The suite's ``target`` (``module:qualname``); a suite without one cannot run its cases."""
        target = self.loaded.suite.target
        if not target:
            from pytest_flywheel.pytest_plugin.runner import CaseSetupError

            raise CaseSetupError(
                f"suite {self.suite_name!r} ({self.path}) has no target: add `target: module:function` "
                "naming the agent entrypoint its cases call"
            )
        return str(target)

    @property
    def judge_model(self) -> str | None:
        """The model the suite file asks for (``judge: {model: ...}``), if any."""
        judge = getattr(self.loaded.suite, "judge", None)
        if judge is None:
            return None
        model = judge.get("model") if isinstance(judge, dict) else getattr(judge, "model", None)
        return str(model) if model else None

    @property
    def cassette_path(self) -> Path:
        state = get_state(self.config)
        return Path(self.case.cassette_path(state.settings, self.suite_name))

    def setup(self) -> None:
        try:
            pipeline = get_state(self.config).get_runtime().pipeline
        except FlywheelError as exc:  # a setting the pipeline cannot use: said once per case, plainly
            raise CaseError(str(exc)) from None
        outcome = pipeline.outcome_for(self)
        self._outcome = outcome
        self.flywheel_result = outcome.to_result()
        self.user_properties.extend(junit_properties(outcome))
        if outcome.error is not None:
            raise CaseError(f"case {self.name!r} of suite {self.suite_name!r}: {outcome.error}")

    def runtest(self) -> None:
        outcome = self._outcome
        if outcome is None:  # pragma: no cover - setup always sets it or raises
            raise CaseError("the case did not run")
        if outcome.failed:
            raise CaseFailed(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            return format_failure(excinfo.value.outcome)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        line = self.line - 1 if self.line else None  # pytest counts lines from 0 here
        return self.path, line, f"case {self.name} of suite {self.suite_name}"
