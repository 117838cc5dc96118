"""Suite files: the reviewable regression corpus, one YAML file per suite (``flywheel/suites/<name>.yaml``).

* :class:`Client` / :class:`TestSuite`: the SDK (``Client().get_or_create_test_suite(name=...)``,
  ``.add_test_case(input=..., assertions=[...], trace_id=...)``, ``.test_cases``).
* :func:`load_suite` → :class:`LoadedSuite` (``.path``, ``.suite``, ``.line_of(case_id)``); a bad file
  raises :class:`SuiteFileError`, one ``path:line: field: what is wrong`` per problem.
* :func:`find_suite_path`, :func:`list_suite_paths`, :meth:`Case.cassette_path`.
* :func:`add_case`: capture a trace (or a hand-made input) into a suite, with its cassette.
* The format: :class:`SuiteFile`, :class:`Case`, :class:`CaseSource`, :class:`JudgeSettings` and the
  checks, described for tools by the JSON Schema ``suite.schema.json`` shipped in this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_flywheel.suites.adding import AddedCase, add_case, ensure_suite
    from pytest_flywheel.suites.capture import CapturedTrace, capture_trace, write_cassette
    from pytest_flywheel.suites.case_ids import derive_case_id
    from pytest_flywheel.suites.client import Client, TestSuite
    from pytest_flywheel.suites.errors import (
        CaptureError,
        CaseError,
        DuplicateCaseError,
        SuiteFileError,
        SuiteNotFoundError,
        SuiteProblem,
    )
    from pytest_flywheel.suites.loading import (
        LoadedSuite,
        find_suite_path,
        list_suite_paths,
        load_suite,
        parse_suite_text,
    )
    from pytest_flywheel.suites.models import (
        CHECK_KINDS,
        Assertion,
        Case,
        CaseSource,
        Check,
        ContainsCheck,
        JsonSchemaCheck,
        JudgeSettings,
        MaxCostCheck,
        MaxLatencyCheck,
        NotContainsCheck,
        RegexCheck,
        SuiteFile,
        ToolCalledCheck,
        check_spec,
    )
    from pytest_flywheel.suites.validation import suite_schema

_EXPORTS: dict[str, str] = {
    "AddedCase": "pytest_flywheel.suites.adding",
    "add_case": "pytest_flywheel.suites.adding",
    "ensure_suite": "pytest_flywheel.suites.adding",
    "CapturedTrace": "pytest_flywheel.suites.capture",
    "capture_trace": "pytest_flywheel.suites.capture",
    "write_cassette": "pytest_flywheel.suites.capture",
    "derive_case_id": "pytest_flywheel.suites.case_ids",
    "Client": "pytest_flywheel.suites.client",
    "TestSuite": "pytest_flywheel.suites.client",
    "CaptureError": "pytest_flywheel.suites.errors",
    "CaseError": "pytest_flywheel.suites.errors",
    "DuplicateCaseError": "pytest_flywheel.suites.errors",
    "SuiteFileError": "pytest_flywheel.suites.errors",
    "SuiteNotFoundError": "pytest_flywheel.suites.errors",
    "SuiteProblem": "pytest_flywheel.suites.errors",
    "LoadedSuite": "pytest_flywheel.suites.loading",
    "find_suite_path": "pytest_flywheel.suites.loading",
    "list_suite_paths": "pytest_flywheel.suites.loading",
    "load_suite": "pytest_flywheel.suites.loading",
    "parse_suite_text": "pytest_flywheel.suites.loading",
    "CHECK_KINDS": "pytest_flywheel.suites.models",
    "Assertion": "pytest_flywheel.suites.models",
    "Case": "pytest_flywheel.suites.models",
    "CaseSource": "pytest_flywheel.suites.models",
    "Check": "pytest_flywheel.suites.models",
    "ContainsCheck": "pytest_flywheel.suites.models",
    "JsonSchemaCheck": "pytest_flywheel.suites.models",
    "JudgeSettings": "pytest_flywheel.suites.models",
    "MaxCostCheck": "pytest_flywheel.suites.models",
    "MaxLatencyCheck": "pytest_flywheel.suites.models",
    "NotContainsCheck": "pytest_flywheel.suites.models",
    "RegexCheck": "pytest_flywheel.suites.models",
    "SuiteFile": "pytest_flywheel.suites.models",
    "ToolCalledCheck": "pytest_flywheel.suites.models",
    "check_spec": "pytest_flywheel.suites.models",
    "suite_schema": "pytest_flywheel.suites.validation",
}

__all__ = [
    "CHECK_KINDS",
    "AddedCase",
    "Assertion",
    "CaptureError",
    "CapturedTrace",
    "Case",
    "CaseError",
    "CaseSource",
    "Check",
    "Client",
    "ContainsCheck",
    "DuplicateCaseError",
    "JsonSchemaCheck",
    "JudgeSettings",
    "LoadedSuite",
    "MaxCostCheck",
    "MaxLatencyCheck",
    "NotContainsCheck",
    "RegexCheck",
    "SuiteFile",
    "SuiteFileError",
    "SuiteNotFoundError",
    "SuiteProblem",
    "TestSuite",
    "ToolCalledCheck",
    "add_case",
    "capture_trace",
    "check_spec",
    "derive_case_id",
    "ensure_suite",
    "find_suite_path",
    "list_suite_paths",
    "load_suite",
    "parse_suite_text",
    "suite_schema",
    "write_cassette",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
