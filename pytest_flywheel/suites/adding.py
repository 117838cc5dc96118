"""Adding a case to a suite file (from a trace or by hand), and creating suite files: all or nothing.

The order of work is what keeps a failure from leaving anything half-written: everything that can be
checked is checked first (the suite file, the trace, the target, the input, the assertions, the id);
the new suite text is produced and read back; the cassette goes to a temporary file; then the suite
file is replaced atomically and the cassette renamed into place. A failure at any step removes what
that step had started.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.files import folder_lock, write_atomic
from pytest_flywheel.suites.capture import CapturedTrace, read_trace_for_capture, write_cassette
from pytest_flywheel.suites.case_ids import derive_case_id
from pytest_flywheel.suites.editing import SuiteDocument
from pytest_flywheel.suites.errors import CaseError, DuplicateCaseError, SuiteFileError
from pytest_flywheel.suites.loading import (
    LoadedSuite,
    display_path,
    load_suite,
    parse_suite_text,
    suite_path_for,
)
from pytest_flywheel.suites.models import Assertion, Case, Check
from pytest_flywheel.suites.validation import case_semantic_problems, field_name, schema_problems

if TYPE_CHECKING:
    from pytest_flywheel.redaction import Redactor

SUITE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
#: What replacing a case keeps from the old one when the call does not set it.
KEPT_ON_REPLACE: tuple[str, ...] = ("tags", "notes", "cassette")
#: What replacing a case always sets: an old value the new case has none of is dropped.
REPLACED_ON_REPLACE: tuple[str, ...] = ("input", "assertions", "source")


@dataclass(frozen=True)
class AddedCase:
    """What :func:`add_case` wrote: the case, the suite file, the cassette (None without a trace)."""

    case: Case
    suite_path: Path
    cassette_path: Path | None
    replaced: bool
    created_suite: bool
    #: LLM calls the cassette cannot answer (imported without their whole request): the first run records them
    llm_calls_to_record: int = 0


def check_suite_name(name: str) -> str:
    if not isinstance(name, str) or not SUITE_NAME_PATTERN.match(name) or len(name) > 100:
        raise CaseError(
            f"{name!r} is not a suite name: use letters, digits, '-', '_' and '.', starting with a letter "
            "or digit (the suite is stored as flywheel/suites/<name>.yaml)"
        )
    return name


def _redactor(settings: Settings) -> Redactor:
    from pytest_flywheel.redaction import build_redactor

    return build_redactor(settings)


def _open_suite(
    path: Path, *, name: str, target: str | None, description: str | None = None
) -> tuple[SuiteDocument, LoadedSuite | None]:
    """The suite open for editing, validated first: a broken file is reported, never written over."""
    if path.is_file():
        loaded = load_suite(path)  # SuiteFileError: every problem, path:line: field: ...
        return SuiteDocument.read(path), loaded
    return SuiteDocument.new(path, name=name, target=target, description=description), None


def _checked_text(document: SuiteDocument, what: str) -> tuple[str, LoadedSuite]:
    """The document's new text, read back through the same validation every reader uses."""
    text = document.dumps()
    try:
        return text, parse_suite_text(text, document.path)
    except SuiteFileError as exc:
        details = "; ".join(f"{problem.field}: {problem.message}" for problem in exc.problems)
        raise CaseError(
            f"{what} not written, {display_path(document.path)} is unchanged: {details}"
        ) from None


def _normalise_assertions(assertions: Sequence[Assertion | Mapping[str, Any]] | str | None) -> list[Any]:
    if assertions is None:
        return []
    if isinstance(assertions, str):
        return [assertions]  # one sentence given on its own
    normalised: list[Any] = []
    for item in assertions:
        if isinstance(item, Check):
            normalised.append(item.to_data())
        elif isinstance(item, Mapping):
            normalised.append(dict(item))
        else:
            normalised.append(item)
    return normalised


def build_case_data(
    *,
    case_input: Any,
    assertions: list[Any],
    case_id: str | None,
    tags: Sequence[str] | None,
    notes: str | None,
    source: dict[str, Any] | None,
    cassette: str | None = None,
) -> dict[str, Any]:
    """A case as the mapping written to the file, checked against the schema; CaseError if it is not valid."""
    if not isinstance(case_input, Mapping):
        raise CaseError(
            f"a case's input must be a mapping of the target's parameter names to values, found "
            f"{type(case_input).__name__}"
        )
    case_input = dict(case_input)
    data: dict[str, Any] = {"id": case_id or derive_case_id(case_input), "input": case_input}
    data["assertions"] = assertions
    if tags:
        data["tags"] = list(tags)
    if source:
        data["source"] = source
    if cassette:
        data["cassette"] = cassette
    if notes:
        data["notes"] = notes
    problems = schema_problems(data, "case") + case_semantic_problems(data)
    if problems:
        details = "; ".join(f"{field_name(where)}: {message}" for where, message in sorted(set(problems)))
        raise CaseError(f"case {data['id']!r} is not valid, nothing was written: {details}")
    return data


def add_case(
    settings: Settings,
    suite_name: str,
    *,
    case_input: Mapping[str, Any] | None = None,
    assertions: Sequence[Assertion | Mapping[str, Any]] | str | None = None,
    trace_id: str | None = None,
    case_id: str | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    replace: bool = False,
    redactor: Redactor | None = None,
    allow_duplicate: bool = False,
) -> AddedCase:
    """Add (or with ``replace`` overwrite) one case; with ``trace_id`` capture the trace and its cassette.

    Without a trace the case has ``case_input`` and no cassette until it is first recorded. With one,
    ``case_input`` defaults to the trace's (redacted) input, and the suite's target is the trace's
    entrypoint (set on a suite that has none; a different one is an error). ``replace`` overwrites a
    case with the same id in place: input, assertions and source are set anew; tags, notes and a
    hand-set cassette path stay unless given; comments on what stays survive.

    A case that looks like one the suite has (a near-identical input, or a trace that fails the same
    way: see :mod:`pytest_flywheel.evolve.duplicates`) is refused with :class:`DuplicateCaseError`
    unless ``allow_duplicate``.
    """
    check_suite_name(suite_name)
    redactor = redactor or _redactor(settings)
    captured = read_trace_for_capture(settings, trace_id, redactor=redactor) if trace_id is not None else None
    data = build_case_data(
        case_input=_input_of(case_input, captured, redactor),
        assertions=_normalise_assertions(assertions),
        case_id=case_id,
        tags=tags,
        notes=notes,
        source=captured.source.to_data() if captured else None,
    )
    # From reading the suite to writing it back, no other edit of the project's suites may interleave.
    with folder_lock(settings.root):
        return _add_to_suite(
            settings, suite_name, data, captured=captured, replace=replace, id_given=case_id is not None,
            redactor=redactor, allow_duplicate=allow_duplicate,
        )  # fmt: skip


def _input_of(
    case_input: Mapping[str, Any] | None, captured: CapturedTrace | None, redactor: Redactor
) -> Any:
    if case_input is None:
        if captured is None:
            raise CaseError("a case needs an input (the target's arguments by parameter name) or a trace id")
        return captured.input  # already redacted
    return redactor.value(dict(case_input)) if isinstance(case_input, Mapping) else case_input


def _add_to_suite(
    settings: Settings,
    suite_name: str,
    data: dict[str, Any],
    *,
    captured: CapturedTrace | None,
    replace: bool,
    id_given: bool,
    redactor: Redactor,
    allow_duplicate: bool = False,
) -> AddedCase:
    path = suite_path_for(suite_name, settings)
    document, loaded = _open_suite(path, name=suite_name, target=captured.target if captured else None)
    if captured is not None and loaded is not None:
        if loaded.suite.target is None:
            document.set_target(captured.target)
        elif loaded.suite.target != captured.target:
            raise CaseError(
                f"trace {captured.trace.id} ran {captured.target}, but suite {suite_name!r} tests "
                f"{loaded.suite.target}: add the trace to a suite of its own entrypoint"
            )
    new_id: str = data["id"]
    index = document.case_index(new_id)
    if index is not None and not replace:
        where = f"line {loaded.line_of(new_id)} of " if loaded else ""
        hint = "pass --replace (replace=True) to overwrite it" + ("" if id_given else ", or give another id")
        raise CaseError(
            f"suite {suite_name!r} already has a case {new_id!r} ({where}{display_path(path)}); {hint}"
        )
    if loaded is not None and not allow_duplicate:
        _refuse_duplicate(settings, suite_name, loaded, data, captured)
    old = loaded.suite.case(new_id) if loaded else None
    if old is None or index is None:
        document.put_case(data)
    else:
        # Replacing keeps what this call does not set: a hand-set cassette path, and the tags and notes
        # unless new ones were given; the keys it keeps keep their comments.
        kept = {key: value for key, value in old.to_data().items() if key in KEPT_ON_REPLACE}
        data = {**kept, **data}
        document.update_case(index, data, remove=REPLACED_ON_REPLACE)
    text, reread = _checked_text(document, f"case {new_id!r}")
    case = reread.case(new_id)
    if case.to_data() != Case.model_validate(data).to_data():
        raise FlywheelError(
            f"case {new_id!r} would not read back as written, so {display_path(path)} is unchanged; "
            "please report this with the case's input"
        )
    cassette = case.cassette_path(settings, suite_name) if captured else None
    _write_all(path, text, captured=captured, cassette=cassette, redactor=redactor)
    return AddedCase(
        case=case,
        suite_path=path,
        cassette_path=cassette,
        replaced=index is not None,
        created_suite=loaded is None,
        llm_calls_to_record=captured.llm_calls_to_record if captured else 0,
    )


def _refuse_duplicate(
    settings: Settings, suite_name: str, loaded: LoadedSuite, data: dict[str, Any], captured: CapturedTrace | None
) -> None:
    """:class:`DuplicateCaseError` when the new case looks like a case of the suite (not the one it replaces)."""
    from pytest_flywheel.evolve.duplicates import CaseFacts, case_facts, failure_key_of_spans, find_duplicate

    now = time.time()
    existing = case_facts(
        settings.store,
        [(c.id, c.input, c.source.trace_id if c.source else None) for c in loaded.suite.cases],
        until=now,
    )
    failure = (
        failure_key_of_spans(settings.store, captured.trace, captured.spans, until=now) if captured else None
    )
    duplicate = find_duplicate(CaseFacts(data["id"], data["input"], failure), existing)
    if duplicate is None:
        return
    where = display_path(loaded.path)
    raise DuplicateCaseError(
        f"case {data['id']!r} was not added to suite {suite_name!r}: it looks like case {duplicate.case_id!r} "
        f"(line {loaded.line_of(duplicate.case_id)} of {where}): {duplicate.why}; --allow-duplicate "
        "(allow_duplicate=True) to add it anyway",
        existing=duplicate.case_id,
        why=duplicate.why,
    )


def _write_all(
    path: Path, text: str, *, captured: CapturedTrace | None, cassette: Path | None, redactor: Redactor
) -> None:
    """Cassette to a temporary file, suite replaced atomically, cassette renamed in: all or nothing."""
    try:
        _write_files(path, text, captured=captured, cassette=cassette, redactor=redactor)
    except OSError as exc:
        raise CaseError(
            f"could not write {display_path(path)} or its cassette ({exc}); nothing was changed"
        ) from None


def _write_files(
    path: Path, text: str, *, captured: CapturedTrace | None, cassette: Path | None, redactor: Redactor
) -> None:
    previous_text = path.read_text(encoding="utf-8") if path.is_file() else None
    temporary: Path | None = None
    try:
        if captured is not None and cassette is not None:
            cassette.parent.mkdir(parents=True, exist_ok=True)
            temporary = cassette.with_name(f".{cassette.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.yaml")
            write_cassette(captured, temporary, redactor=redactor)
        write_atomic(path, text)
        if temporary is not None and cassette is not None:
            try:
                os.replace(temporary, cassette)
            except OSError:
                # The suite is written but its cassette is not: put the suite back as it was.
                if previous_text is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomic(path, previous_text)
                raise
            temporary = None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def ensure_suite(
    settings: Settings, name: str, *, target: str | None = None, description: str | None = None
) -> LoadedSuite:
    """The suite ``name``, created (with ``target`` and ``description``) when it has no file yet.

    An existing suite with no target takes ``target``; one with a different target is an error.
    """
    check_suite_name(name)
    with folder_lock(settings.root):
        return _ensure_suite_locked(settings, name, target=target, description=description)


def _ensure_suite_locked(
    settings: Settings, name: str, *, target: str | None, description: str | None
) -> LoadedSuite:
    path = suite_path_for(name, settings)
    document, loaded = _open_suite(path, name=name, target=target, description=description)
    if loaded is not None:
        if target is None or loaded.suite.target == target:
            return loaded
        if loaded.suite.target is not None:
            raise CaseError(
                f"suite {name!r} ({display_path(path)}) tests {loaded.suite.target}, not {target}; use another "
                "suite name, or change its target in the file"
            )
        document.set_target(target)
    text, reread = _checked_text(document, f"suite {name!r}")
    write_atomic(path, text)
    return reread
