"""What a person needs to judge a verdict: the reply it was given on, found in the recorded runs.

The verdict file holds the assertion, the judge's answer and the case's node id, but not the reply: a
verdict's key is a hash over the input, output and trajectory. The store's run records hold the reply:
every run keeps the plugin's whole JSON report, in which each judged assertion carries its verdict key.
So the newest run whose report names a key gives that key's case, output, position in the case and,
when the report holds one, its trajectory. A case's input comes from its suite file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.store import Store


class RecordsError(FlywheelError):
    """The store's run records could not be read."""


@dataclass(frozen=True)
class RecordedAssertion:
    """One judged assertion as the newest run that judged it recorded it."""

    key: str
    run_id: str
    run_started_at: float
    nodeid: str
    suite: str | None
    case_id: str | None
    index: int  # 0-based position among the case's assertions
    count: int  # how many assertions the case has
    assertion: str
    passed: bool | None
    reason: str | None
    output: Any
    trajectory: list[dict[str, Any]] | None  # None when the report did not keep it

    @property
    def case_key(self) -> str:
        """``suite::case`` (or the node id of a hand-written test), as ``flywheel runs`` shows cases."""
        return f"{self.suite}::{self.case_id}" if self.suite and self.case_id else self.nodeid


def _open(store_path: Path) -> Store | None:
    if not store_path.is_file():
        return None
    try:
        store = Store(store_path, readonly=True)
        store.conn.execute("SELECT 1 FROM runs LIMIT 0")
    except (sqlite3.Error, FlywheelError) as exc:
        raise RecordsError(
            f"{store_path} could not be read as a pytest-flywheel store ({exc}); point --store (or "
            "FLYWHEEL_STORE) at the .flywheel/flywheel.db your test runs write."
        ) from None
    return store


def _assertions_of(run_id: str, started_at: float, case: dict[str, Any]) -> Iterable[RecordedAssertion]:
    items = case.get("assertions")
    if not isinstance(items, list):
        return
    trajectory = case.get("trajectory")
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            continue
        yield RecordedAssertion(
            key=item["key"],
            run_id=run_id,
            run_started_at=started_at,
            nodeid=str(case.get("nodeid") or ""),
            suite=case.get("suite") if isinstance(case.get("suite"), str) else None,
            case_id=case.get("case_id") if isinstance(case.get("case_id"), str) else None,
            index=index,
            count=len(items),
            assertion=str(item.get("assertion") or ""),
            passed=item.get("passed") if isinstance(item.get("passed"), bool) else None,
            reason=item.get("reason") if isinstance(item.get("reason"), str) else None,
            output=case.get("output"),
            trajectory=trajectory if isinstance(trajectory, list) else None,
        )


def _report(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def recorded_assertions(store_path: Path, keys: Iterable[str]) -> dict[str, RecordedAssertion]:
    """For each of ``keys`` that a recorded run judged, that assertion as the newest such run has it.

    Runs are read newest first, and reading stops once every key is found. A missing store holds none.
    """
    wanted = set(keys)
    found: dict[str, RecordedAssertion] = {}
    store = _open(store_path)
    if store is None or not wanted:
        return found
    with store:
        rows = store.conn.execute("SELECT id, started_at, report FROM runs ORDER BY started_at DESC, id DESC")
        for row in rows:
            report = _report(row["report"])
            cases = report.get("cases")
            for case in cases if isinstance(cases, list) else []:
                if not isinstance(case, dict):
                    continue
                for item in _assertions_of(row["id"], row["started_at"], case):
                    if item.key in wanted and item.key not in found:
                        found[item.key] = item
            if len(found) == len(wanted):
                break
    return found


@dataclass(frozen=True)
class RecordedCase:
    """A case's result in the newest run that ran it."""

    run_id: str
    run_started_at: float
    case: dict[str, Any]

    def assertions(self) -> list[dict[str, Any]]:
        items = self.case.get("assertions")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    def recorded(self, index: int) -> RecordedAssertion | None:
        """The judged assertion at ``index`` (0-based), or None when it has no verdict key."""
        for item in _assertions_of(self.run_id, self.run_started_at, self.case):
            if item.index == index:
                return item
        return None


def latest_case(store_path: Path, *, suite: str | None, case_id: str | None, nodeid: str | None) -> RecordedCase | None:
    """The newest recorded run of a suite case (``suite`` and ``case_id``) or of a test (``nodeid``)."""
    store = _open(store_path)
    if store is None:
        return None
    with store:
        params: tuple[str | None, ...]
        if nodeid is not None:
            where, params = "run_cases.nodeid = ?", (nodeid,)
        else:
            where, params = "run_cases.suite = ? AND run_cases.case_id = ?", (suite, case_id)
        row = store.conn.execute(
            "SELECT runs.id, runs.started_at, runs.report, run_cases.nodeid FROM run_cases"
            f" JOIN runs ON runs.id = run_cases.run_id WHERE {where}"
            " ORDER BY runs.started_at DESC, runs.id DESC LIMIT 1",
            params,
        ).fetchone()
    if row is None:
        return None
    cases = _report(row["report"]).get("cases")
    for case in cases if isinstance(cases, list) else []:
        if isinstance(case, dict) and case.get("nodeid") == row["nodeid"]:
            return RecordedCase(run_id=row["id"], run_started_at=row["started_at"], case=case)
    return None


@dataclass(frozen=True)
class SuiteCase:
    """A case as its suite file has it: the input and the assertions, in order."""

    suite: str
    case_id: str
    order: int
    input: Any
    assertions: list[Any]
    cassette: Path


def suite_cases(settings: Settings) -> tuple[dict[tuple[str, str], SuiteCase], list[str]]:
    """Every case of every suite file, by ``(suite, case id)``; and one message per file that does not load."""
    from pytest_flywheel.suites import SuiteFileError, list_suite_paths, load_suite

    cases: dict[tuple[str, str], SuiteCase] = {}
    problems: list[str] = []
    for path in list_suite_paths(settings):
        try:
            loaded = load_suite(path)
        except SuiteFileError as exc:
            problems.append(str(exc))
            continue
        name = loaded.suite.name
        for order, case in enumerate(loaded.suite.cases):
            cases[(name, case.id)] = SuiteCase(
                suite=name,
                case_id=case.id,
                order=order,
                input=case.input,
                assertions=list(case.assertions or []),
                cassette=case.cassette_path(settings, name),
            )
    return cases, problems


def suite_of_nodeid(nodeid: str | None) -> tuple[str | None, str | None]:
    """``(suite, case id)`` read off a suite case's node id (``.../<suite>.yaml::<case>``), else Nones."""
    if not nodeid or "::" not in nodeid:
        return None, None
    path, _, name = nodeid.partition("::")
    file = Path(path)
    if file.suffix in (".yaml", ".yml") and "::" not in name:
        return file.stem, name
    return None, None
