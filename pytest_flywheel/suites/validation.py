"""Validating suite data: the shipped JSON Schema first, then the checks a schema cannot express, then
the pydantic model. Every problem becomes a :class:`SuiteProblem` (``path:line: field: what is wrong``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaValidationError
from pydantic import ValidationError as ModelValidationError

from pytest_flywheel.config import Settings
from pytest_flywheel.replay.cassette_file import CassetteFormatError, load_cassette_data
from pytest_flywheel.suites.case_ids import derive_case_id
from pytest_flywheel.suites.errors import CassettePathError, SuiteProblem
from pytest_flywheel.suites.models import CHECK_KINDS, SuiteFile
from pytest_flywheel.suites.reading import PathKey

SCHEMA_FILE = "suite.schema.json"

#: A file's problems reported at most (the schema's check stops there).
MAX_PROBLEMS = 100

#: ``(path within the document, message)``: one problem before it has a file and a line.
FieldProblem = tuple[tuple[PathKey, ...], str]


@functools.cache
def suite_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of suite files, as shipped in the package."""
    text = resources.files("pytest_flywheel.suites").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(definition: str | None = None) -> Draft202012Validator:
    schema = suite_schema()
    if definition is not None:
        # A piece of the format (a case, an assertion) checked on its own, with the same $defs.
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    return Draft202012Validator(_refs_inlined(schema, schema["$defs"]))


_LOCAL_DEF = "#/$defs/"


def _refs_inlined(node: Any, defs: dict[str, Any], within: tuple[str, ...] = ()) -> Any:
    """``node`` with every bare ``{"$ref": "#/$defs/name"}`` replaced by that definition (itself inlined).

    The same schema, checked faster: jsonschema looks a reference up again each time it meets it (a
    4,000-reference walk for a 1,000-case suite, a third of the check). Errors keep their instance
    paths, keywords and subschemas. A recursive reference, or one next to other keywords, stays as it is.
    """
    if isinstance(node, list):
        return [_refs_inlined(item, defs, within) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str) and len(node) == 1 and reference.startswith(_LOCAL_DEF):
        name = reference[len(_LOCAL_DEF) :]
        if name in defs and name not in within:
            return _refs_inlined(defs[name], defs, (*within, name))
        return node
    return {
        key: value if key == "$defs" else _refs_inlined(value, defs, within) for key, value in node.items()
    }


def field_name(path: Sequence[PathKey]) -> str:
    """``("cases", 2, "input")`` → ``cases[2].input``; the empty path is the whole suite."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or "suite"


def describe_value(value: Any) -> str:
    """A short phrase for a found value, for "expected ..., found ..." messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        keys = ", ".join(str(key) for key in list(value)[:6])
        return f"a mapping with keys {keys}" if value else "an empty mapping"
    return type(value).__name__


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "nothing",
}


def _expected_type(schema: dict[str, Any]) -> str:
    if "x-expected" in schema:
        return str(schema["x-expected"])
    kinds: Any = schema.get("type")
    names = [
        _TYPE_NAMES.get(str(kind), str(kind)) for kind in (kinds if isinstance(kinds, list) else [kinds])
    ]
    names = [name for name in names if name != "nothing"] or names
    return " or ".join(names)


def _schema_problems(error: SchemaValidationError) -> Iterator[FieldProblem]:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance: Any = error.instance
    kind: Any = error.validator
    limit: Any = error.validator_value
    if "x-message" in schema:
        where = (*path, schema["x-field"]) if "x-field" in schema else path
        yield where, str(schema["x-message"])
    elif kind == "required":
        for name in limit:
            if isinstance(instance, dict) and name not in instance:
                yield (*path, name), _missing_message(path, name, instance)
    elif kind == "additionalProperties":
        known = list(schema.get("properties", {}))
        for name in instance:
            if name in known:
                continue
            if schema.get("x-kind") == "check":
                message = f"unknown check {name!r}; expected one of {', '.join(CHECK_KINDS)}, or a sentence"
            else:
                message = f"unknown field; expected one of {', '.join(known)}"
            yield (*path, name), message
    elif kind == "type":
        yield path, f"expected {_expected_type(schema)}, found {describe_value(instance)}"
    elif kind in ("const", "enum", "pattern"):
        expected = schema.get("x-expected") or (
            repr(schema["const"]) if kind == "const" else f"text matching {schema.get('pattern')}"
        )
        yield path, f"expected {expected}, found {describe_value(instance)}"
    elif kind == "minLength":
        yield path, "must not be empty"
    elif kind == "maxLength":
        yield path, f"too long: at most {limit} characters, found {len(instance)}"
    elif kind == "minItems":
        yield path, f"expected {schema.get('x-expected') or 'at least one item'}, found an empty list"
    elif kind in ("exclusiveMinimum", "minimum"):
        bound = "above" if kind == "exclusiveMinimum" else "at least"
        yield path, f"expected a number {bound} {limit}, found {describe_value(instance)}"
    elif kind == "minProperties":
        yield path, f"expected {_expected_type(schema)}, found an empty mapping"
    elif kind == "maxProperties" and schema.get("x-kind") == "one-check":
        found = [key for key in CHECK_KINDS if isinstance(instance, dict) and key in instance]
        # With fewer than two check keys, what is wrong is an unknown key, reported on its own.
        if len(found) > 1:
            yield path, f"a check holds exactly one of {', '.join(CHECK_KINDS)}; found {', '.join(found)}"
    else:
        yield path, error.message


def _missing_message(path: tuple[PathKey, ...], name: str, instance: dict[str, Any]) -> str:
    if name == "id" and path[:1] == ("cases",) and isinstance(instance.get("input"), dict):
        return f"required field is missing; give the case an id, such as {derive_case_id(instance['input'])}"
    return "required field is missing"


def schema_problems(
    data: Any, definition: str | None = None, *, limit: int | None = None
) -> list[FieldProblem]:
    """Problems the JSON Schema finds in ``data`` (a whole suite, or one ``$defs`` piece such as ``case``);
    with ``limit``, the first that many or a few more."""
    problems: list[FieldProblem] = []
    for error in _validator(definition).iter_errors(data):
        problems.extend(_schema_problems(error))
        if limit is not None and len(problems) >= limit:
            break
    return problems


def semantic_problems(data: dict[str, Any], *, file_stem: str | None) -> list[FieldProblem]:
    """What the schema cannot say: duplicate ids, regexes and JSON Schemas that do not compile, the name."""
    problems: list[FieldProblem] = []
    name = data.get("name")
    if file_stem is not None and isinstance(name, str) and name != file_stem:
        problems.append(
            (
                ("name",),
                f"expected {file_stem!r}, the file's name (suites are found by file name), found {name!r}",
            )
        )
    cases = data.get("cases")
    for index, case in enumerate(cases if isinstance(cases, list) else []):
        problems.extend(case_semantic_problems(case, prefix=("cases", index)))
    return problems


def case_semantic_problems(case: Any, *, prefix: tuple[PathKey, ...] = ()) -> list[FieldProblem]:
    """Regexes that do not compile and JSON Schemas that are not schemas, in one case's assertions."""
    problems: list[FieldProblem] = []
    if not isinstance(case, dict):
        return problems
    assertions = case.get("assertions")
    for position, assertion in enumerate(assertions if isinstance(assertions, list) else []):
        if not isinstance(assertion, dict):
            continue
        here = (*prefix, "assertions", position)
        pattern = assertion.get("regex")
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(((*here, "regex"), f"not a valid regular expression: {exc}"))
        schema = assertion.get("json_schema")
        if isinstance(schema, dict):
            try:
                Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                where = "/".join(str(step) for step in exc.absolute_path) or "(top)"
                problems.append(
                    ((*here, "json_schema"), f"not a valid JSON Schema at {where}: {exc.message}")
                )
    return problems


def duplicate_id_problems(
    ids: Iterable[tuple[int, Any]], line_of: Callable[[tuple[PathKey, ...]], int]
) -> list[FieldProblem]:
    """Each repeated case id, naming the line of its first use."""
    problems: list[FieldProblem] = []
    first: dict[str, int] = {}
    for index, case_id in ids:
        if not isinstance(case_id, str):
            continue
        if case_id in first:
            first_line = line_of(("cases", first[case_id], "id"))
            problems.append(
                (
                    ("cases", index, "id"),
                    f"duplicate case id {case_id!r} (first at line {first_line}); "
                    "give one of them another id",
                )
            )
        else:
            first[case_id] = index
    return problems


def model_problems(data: Any) -> tuple[SuiteFile | None, list[FieldProblem]]:
    """The typed model, or the pydantic problems (the schema should have caught them all first)."""
    try:
        return SuiteFile.model_validate(data), []
    except ModelValidationError as exc:
        return None, [(tuple(error["loc"]), str(error["msg"])) for error in exc.errors()]


def validate_suite_data(
    data: Any, *, path: str, line_of: Callable[[tuple[PathKey, ...]], int]
) -> tuple[SuiteFile | None, list[SuiteProblem]]:
    """The whole check of one suite document: the model, or every problem with its line."""

    def located(problems: Iterable[FieldProblem]) -> list[SuiteProblem]:
        return [SuiteProblem(path, line_of(where), field_name(where), message) for where, message in problems]

    problems = located(schema_problems(data, limit=MAX_PROBLEMS))
    if len(problems) >= MAX_PROBLEMS:  # (a file of 500,000 wrong items need not print them all)
        problems = _unique(problems)[:MAX_PROBLEMS]
        last = problems[-1]
        return None, [
            *problems,
            SuiteProblem(
                path, last.line, last.field, f"stopped after {MAX_PROBLEMS} problems; fix these first"
            ),
        ]
    if isinstance(data, dict):
        stem = Path(path).stem if path.endswith((".yaml", ".yml")) else None
        problems += located(semantic_problems(data, file_stem=stem))
        cases = data.get("cases")
        if isinstance(cases, list):
            ids = [(index, case.get("id")) for index, case in enumerate(cases) if isinstance(case, dict)]
            problems += located(duplicate_id_problems(ids, line_of))
    if problems:
        return None, _unique(problems)
    suite, found = model_problems(data)
    return suite, located(found)


def _unique(problems: list[SuiteProblem]) -> list[SuiteProblem]:
    # if/then/else and allOf can report one fault twice; say it once.
    return sorted(set(problems))


def cassette_problems(
    suite: SuiteFile,
    *,
    path: str,
    line_of: Callable[[tuple[PathKey, ...]], int],
    settings: Settings,
    shown: Callable[[Path], str] = str,
) -> list[SuiteProblem]:
    """Each case's cassette: inside the flywheel folder, and when it exists, a cassette the replay can use.

    ``path`` and ``line_of`` place a problem in the suite file; a cassette's own faults are placed in
    the cassette (``shown(cassette):line: where: what is wrong``). A case with no cassette yet is fine:
    it is recorded on its first run with ``--flywheel-record=once``.
    """
    problems: list[SuiteProblem] = []
    for index, case in enumerate(suite.cases):
        where = ("cases", index, "cassette") if case.cassette else ("cases", index, "id")
        try:
            cassette = case.cassette_path(settings, suite.name)
        except CassettePathError as exc:
            problems.append(SuiteProblem(path, line_of(where), field_name(where), str(exc)))
            continue
        if not cassette.exists():
            continue
        if not cassette.is_file():  # (reading a pipe or a device would never end)
            message = f"the cassette {shown(cassette)} is not a regular file (a folder, a device or a pipe)"
            problems.append(SuiteProblem(path, line_of(where), field_name(where), message))
            continue
        try:
            data = cassette.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(SuiteProblem(shown(cassette), 1, "cassette", f"cannot be read: {exc}"))
            continue
        problems += _cassette_file_problems(data, shown(cassette))
    return problems


def _cassette_file_problems(data: bytes, shown: str) -> list[SuiteProblem]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [SuiteProblem(shown, line, "cassette", f"not UTF-8 text (byte {exc.start}); record it again")]
    try:
        load_cassette_data(text.replace("\r\n", "\n").replace("\r", "\n"), source=shown)
    except CassetteFormatError as exc:
        return [
            SuiteProblem(shown, problem.line, problem.field or "cassette", problem.message)
            for problem in exc.problems
        ]
    return []
