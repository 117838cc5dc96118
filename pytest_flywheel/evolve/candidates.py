"""The candidates file: ``flywheel/candidates/<suite>.yaml``, proposed cases to review.

One candidate per production failure cluster, keyed by the cluster's id (``cl-`` + 12 hex digits,
stable across triage runs). Its ``status`` is ``proposed``, ``accepted`` (``accepted_case`` names the
case it became) or ``rejected`` (``rejected_reason`` says why): accepted and rejected candidates stay
in the file, which is how a rejected cluster is remembered and never proposed again.

The file is checked against ``candidates.schema.json`` (shipped beside this module) and each
assertion against the suite format's own, read through the suites' YAML reader, and written whole
through the one atomic writer; a problem is ``path:line: field: what is wrong``. pytest never runs
it: suites are collected from ``flywheel/suites/`` only.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.files import write_atomic

SCHEMA_FILE = "candidates.schema.json"
FORMAT_VERSION = 1
STATUSES = ("proposed", "accepted", "rejected")

HEADER = """\
Cases proposed for suite {suite} from production failure clusters (flywheel candidates propose).
Review each one, edit its input or assertions here if needed, then:
  flywheel candidates accept ID      (captures the case and its cassette into the suite)
  flywheel candidates reject ID --reason "..."   (the cluster is not proposed again)
pytest does not run this file."""


class CandidatesFileError(FlywheelError):
    """A candidates file that cannot be used; one ``path:line: field: what is wrong`` per line."""


class CandidateNotFoundError(FlywheelError, LookupError):
    """No candidate has the id asked for, or more than one does."""


@functools.cache
def candidates_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of candidates files, as shipped in the package."""
    text = resources.files("pytest_flywheel.evolve").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(definition: str | None = None) -> Draft202012Validator:
    schema = candidates_schema()
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    return Draft202012Validator(schema)


def candidates_path(settings: Settings, suite: str) -> Path:
    """``flywheel/candidates/<suite>.yaml``; a name that is not a suite name (``../x``) is refused."""
    from pytest_flywheel.suites.adding import check_suite_name

    return settings.dir / "candidates" / f"{check_suite_name(suite)}.yaml"


@dataclass
class Candidate:
    """One proposed case (see the module docstring for the fields' meaning)."""

    id: str
    status: str
    cluster: dict[str, Any]
    trace_id: str
    case_id: str
    input: dict[str, Any]
    assertions: list[Any]
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    proposed_at: str | None = None
    accepted_case: str | None = None
    accepted_at: str | None = None
    rejected_reason: str | None = None
    rejected_at: str | None = None

    _ORDER = ("id", "status", "cluster", "trace_id", "case_id", "input", "assertions", "tags", "notes",
              "proposed_at", "accepted_case", "accepted_at", "rejected_reason", "rejected_at")

    def to_data(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self._ORDER}
        return {key: value for key, value in data.items() if value not in (None, [])}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Candidate:
        known: dict[str, Any] = {name: data.get(name) for name in cls._ORDER if name in data}
        known["tags"] = list(known.get("tags") or [])
        return cls(**known)


@dataclass
class CandidatesFile:
    """A suite's candidates, in file order."""

    path: Path
    suite: str
    candidates: list[Candidate] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)

    def find(self, wanted: str) -> Candidate:
        """The candidate whose id is, or starts with, ``wanted``."""
        exact = [c for c in self.candidates if c.id == wanted]
        found = exact or [c for c in self.candidates if wanted and c.id.startswith(wanted)]
        if len(found) == 1:
            return found[0]
        if not found:
            ids = ", ".join(c.id for c in self.candidates[:6]) or "none"
            raise CandidateNotFoundError(
                f"no candidate {wanted!r} in {self.path} (its candidates: {ids}); "
                "`flywheel candidates list` shows them"
            )
        raise CandidateNotFoundError(
            f"{wanted!r} starts {len(found)} candidate ids in {self.path}: give more of the id"
        )

    def get(self, candidate_id: str) -> Candidate | None:
        return next((c for c in self.candidates if c.id == candidate_id), None)

    def to_data(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "suite": self.suite,
            "candidates": [candidate.to_data() for candidate in self.candidates],
        }

    def dumps(self) -> str:
        from pytest_flywheel.suites.editing import dump_document

        return dump_document(self.to_data(), comment=HEADER.format(suite=self.suite))

    def save(self) -> None:
        """Write the whole file atomically, after checking that it reads back as written."""
        text = self.dumps()
        reread = parse_candidates(text, self.path, expected_suite=self.suite)
        if [c.to_data() for c in reread.candidates] != [c.to_data() for c in self.candidates]:
            raise CandidatesFileError(f"{self.path} would not read back as written; it is unchanged")
        write_atomic(self.path, text)


def candidate_problems(data: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems of one candidate mapping: its schema, then each assertion checked as in a suite file."""
    from pytest_flywheel.suites.validation import case_semantic_problems, schema_problems

    problems = [((*prefix, *e.absolute_path), e.message) for e in _validator("candidate").iter_errors(data)]
    assertions = data.get("assertions") if isinstance(data, dict) else None
    for index, assertion in enumerate(assertions if isinstance(assertions, list) else []):
        where = (*prefix, "assertions", index)
        problems.extend(((*where, *path), message) for path, message in schema_problems(assertion, "assertion"))
    if isinstance(data, dict):
        problems.extend(((*prefix, *path), message) for path, message in case_semantic_problems(data))
    return problems


def parse_candidates(text: str, path: Path, *, expected_suite: str | None = None) -> CandidatesFile:
    """Validate ``text`` as the candidates file ``path``; :class:`CandidatesFileError` lists every problem."""
    from pytest_flywheel.suites.loading import display_path
    from pytest_flywheel.suites.reading import parse_yaml
    from pytest_flywheel.suites.validation import field_name

    shown = display_path(path)
    parsed, problems = parse_yaml(text, shown)
    if parsed is None:
        raise CandidatesFileError("\n".join(str(problem) for problem in problems))
    data = parsed.data
    found: list[tuple[tuple[str | int, ...], str]] = []
    if not isinstance(data, dict):
        raise CandidatesFileError(f"{shown}:1: candidates: expected a mapping with version, suite and candidates")
    top = dict(data, candidates=[])  # each candidate is checked below, with its assertions
    found.extend((tuple(e.absolute_path), e.message) for e in _validator().iter_errors(top))
    if expected_suite is not None and data.get("suite") not in (None, expected_suite):
        found.append((("suite",), f"expected {expected_suite!r}, the file's name, found {data.get('suite')!r}"))
    items = data.get("candidates") or []
    if not isinstance(items, list):
        found.append((("candidates",), "expected a list of candidates"))
        items = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        found.extend(candidate_problems(item, ("candidates", index)))
        candidate_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(candidate_id, str):
            if candidate_id in seen:
                found.append((("candidates", index, "id"), f"duplicate candidate id (first at candidates[{seen[candidate_id]}])"))
            seen.setdefault(candidate_id, index)
    if found:
        located = {(parsed.line_of(where), field_name(where), message) for where, message in found}
        raise CandidatesFileError(
            "\n".join(f"{shown}:{line}: {name}: {message}" for line, name, message in sorted(located))
        )
    candidates = [Candidate.from_data(item) for item in items]
    lines_of = {c.id: parsed.line_of(("candidates", i)) for i, c in enumerate(candidates)}
    return CandidatesFile(path=path, suite=str(data["suite"]), candidates=candidates, lines=lines_of)


def read_candidates(settings: Settings, suite: str, *, must_exist: bool = False) -> CandidatesFile:
    """The suite's candidates file (an empty one when there is none yet, unless ``must_exist``)."""
    path = candidates_path(settings, suite)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        if must_exist:
            raise CandidatesFileError(
                f"no candidates for suite {suite!r}: {path} does not exist; run `flywheel candidates propose {suite}`"
            ) from None
        return CandidatesFile(path=path, suite=suite)
    except (OSError, UnicodeDecodeError) as exc:
        raise CandidatesFileError(f"{path}:1: candidates: cannot be read: {exc}") from None
    return parse_candidates(text, path, expected_suite=suite)
