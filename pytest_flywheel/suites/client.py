"""The suites SDK: ``pytest_flywheel.Client().get_or_create_test_suite(name=...).add_test_case(...)``.

Suites are files in the repository (``flywheel/suites/<name>.yaml``), not rows on a server: every call
reads the file, and every change rewrites it atomically, keeping comments and hand edits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_flywheel.config import Settings, load_settings
from pytest_flywheel.suites.adding import add_case, check_suite_name, ensure_suite
from pytest_flywheel.suites.loading import find_suite_path, list_suite_paths, load_suite, suite_path_for
from pytest_flywheel.suites.models import Assertion, Case, SuiteFile


class TestSuite:
    """One suite file. ``test_cases`` reads it afresh, so edits made elsewhere are seen."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.name = name

    def __repr__(self) -> str:
        return f"TestSuite(name={self.name!r}, path={str(self.path)!r})"

    @property
    def path(self) -> Path:
        """The suite's file."""
        return suite_path_for(self.name, self.settings)

    def _suite(self) -> SuiteFile:
        return load_suite(self.path).suite

    @property
    def target(self) -> str | None:
        """The entrypoint each case calls, ``module:qualname``."""
        return self._suite().target

    @property
    def description(self) -> str | None:
        return self._suite().description

    @property
    def test_cases(self) -> list[Case]:
        """The suite's cases, in file order."""
        return list(self._suite().cases)

    def get_test_case(self, case_id: str) -> Case | None:
        return self._suite().case(case_id)

    def add_test_case(
        self,
        input: Mapping[str, Any] | None = None,
        assertions: Sequence[Assertion | Mapping[str, Any]] | str | None = None,
        trace_id: str | None = None,
        id: str | None = None,
        tags: Sequence[str] | None = None,
        notes: str | None = None,
        replace: bool = False,
        allow_duplicate: bool = False,
    ) -> Case:
        """Add a case and return it.

        ``input``: the target's arguments by parameter name (with a ``trace_id`` it defaults to the
        trace's input). ``assertions``: sentences for the LLM judge and/or checks such as
        ``{"contains": "refund"}``. ``trace_id`` (or a unique prefix): capture that trace, writing the
        case's cassette from its recorded LLM and tool calls; without one the case has no cassette until
        it is first recorded. ``id`` defaults to one derived from the input; an existing id is an error
        unless ``replace``, which overwrites the case's input, assertions and source but keeps its tags
        and notes when none are given. Inputs are redacted like everything else written to files. A case
        that looks like one the suite has (a near-identical input, or a trace that fails the same way)
        raises :class:`~pytest_flywheel.suites.errors.DuplicateCaseError` unless ``allow_duplicate``.
        """
        added = add_case(
            self.settings,
            self.name,
            case_input=input,
            assertions=assertions,
            trace_id=trace_id,
            case_id=id,
            tags=tags,
            notes=notes,
            replace=replace,
            allow_duplicate=allow_duplicate,
        )
        return added.case


class Client:
    """Entry point of the suites SDK for the project at ``root`` (default: the nearest pyproject.toml)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.settings = load_settings(Path(root) if root is not None else None)

    def get_or_create_test_suite(
        self, name: str, target: str | None = None, description: str | None = None
    ) -> TestSuite:
        """The suite ``name``, creating its file when there is none. ``target`` (``module:qualname``) is
        the entrypoint its cases call; a suite first filled from a trace takes the trace's entrypoint."""
        ensure_suite(self.settings, name, target=target, description=description)
        return TestSuite(self.settings, name)

    def get_test_suite(self, name: str) -> TestSuite:
        """An existing suite; :class:`SuiteNotFoundError` naming the suites there are otherwise."""
        check_suite_name(name)
        find_suite_path(name, self.settings)
        return TestSuite(self.settings, name)

    def list_test_suites(self) -> list[str]:
        """The names of the project's suites."""
        return [path.stem for path in list_suite_paths(self.settings)]
