"""``flywheel verdicts label CASE INDEX pass|fail``: a label on one assertion without the interactive review.

``CASE`` is ``suite::case-id`` (or a bare case id that only one suite has, or the node id of a
hand-written test); ``INDEX`` counts the case's assertions from 1, as they stand in the suite file.
The label goes on the verdict the newest recorded run of that case was judged with: that run's reply
is the one the label speaks about. With no recorded run, the verdict file decides, when it holds
exactly one verdict for that case and assertion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.judge.cache import VerdictCache
from pytest_flywheel.trust.labels import Label, labels_path, require_text, save_labels
from pytest_flywheel.trust.records import SuiteCase, latest_case, suite_cases, suite_of_nodeid


class LabelTargetError(FlywheelError):
    """``CASE INDEX`` names no assertion that has a verdict to label."""


@dataclass(frozen=True)
class LabelTarget:
    """The verdict a label goes on."""

    key: str
    assertion: str
    case_key: str  # suite::case, or the node id of a hand-written test
    index: int  # 1-based
    suite: str | None
    nodeid: str | None
    judge_passed: bool | None
    judge_model: str | None


def _find_case(case: str, cases: dict[tuple[str, str], SuiteCase]) -> tuple[str | None, str | None, str | None]:
    """``(suite, case id, node id)``: a suite case, or (None, None, node id) for a hand-written test."""
    suites = {suite for suite, _ in cases}
    if "::" in case:
        left, _, right = case.partition("::")
        if left in suites:
            return left, right, None
        suite, case_id = suite_of_nodeid(case)
        if suite is not None:
            return suite, case_id, None
        return None, None, case
    matches = sorted(suite for suite, case_id in cases if case_id == case)
    if len(matches) == 1:
        return matches[0], case, None
    if matches:
        raise LabelTargetError(
            f"case {case!r} is in several suites ({', '.join(matches)}): name one, as in "
            f"`flywheel verdicts label {matches[0]}::{case} ...`."
        )
    raise LabelTargetError(
        f"no suite has a case {case!r} (see `flywheel suite list`); name a suite case as SUITE::CASE, "
        "or a hand-written test by its node id (tests/test_agent.py::test_refund)."
    )


def resolve_target(settings: Settings, store_path: Path, case: str, index: int) -> LabelTarget:
    """The verdict that ``CASE INDEX`` names (see the module docstring)."""
    if index < 1:
        raise LabelTargetError(f"INDEX {index} is not an assertion number: the first assertion is 1.")
    cases, _ = suite_cases(settings)
    suite, case_id, nodeid = _find_case(case, cases)
    verdicts = VerdictCache.load(settings.verdicts_path, warn=False, append=False)
    record = latest_case(store_path, suite=suite, case_id=case_id, nodeid=nodeid)
    case_key = f"{suite}::{case_id}" if suite else str(nodeid)
    if record is not None:
        items = record.assertions()
        if index > len(items):
            raise LabelTargetError(
                f"{case_key} has {len(items)} assertion{'s' if len(items) != 1 else ''} in its newest run "
                f"({record.run_id}); INDEX {index} names none."
            )
        item = items[index - 1]
        text = str(item.get("assertion") or "")
        if item.get("kind") == "check":
            raise LabelTargetError(
                f"assertion {index} of {case_key} ({text}) is a deterministic check: only the judge's "
                "verdicts on sentences take labels."
            )
        recorded = record.recorded(index - 1)
        if recorded is None:
            raise LabelTargetError(
                f"assertion {index} of {case_key} ({text}) got no verdict in its newest run "
                f"({record.run_id}: {record.case.get('outcome')}); run the suite again so that it is judged."
            )
        entry = verdicts.get(recorded.key)
        return LabelTarget(
            key=recorded.key,
            assertion=entry.assertion if entry is not None else text,
            case_key=case_key,
            index=index,
            suite=suite,
            nodeid=recorded.nodeid or nodeid,
            judge_passed=entry.passed if entry is not None else recorded.passed,
            judge_model=entry.model if entry is not None else None,
        )
    if suite is not None and case_id is not None and (suite, case_id) not in cases:
        raise LabelTargetError(
            f"no suite file has the case {case_key} and no recorded run holds it; see `flywheel suite show {suite}`."
        )
    if suite is None or case_id is None:
        raise LabelTargetError(
            f"no recorded run holds {case_key}: run it first (`pytest ...`) so that its verdicts can be "
            "labelled."
        )
    assertions = cases[(suite, case_id)].assertions
    if index > len(assertions):
        raise LabelTargetError(f"{case_key} has {len(assertions)} assertions; INDEX {index} names none.")
    text = assertions[index - 1]
    if not isinstance(text, str):
        raise LabelTargetError(
            f"assertion {index} of {case_key} is a deterministic check: only the judge's verdicts on "
            "sentences take labels."
        )
    candidates = [
        entry
        for entry in verdicts.entries().values()
        if entry.assertion == text and suite_of_nodeid(entry.case) == (suite, case_id)
    ]
    if len(candidates) != 1:
        found = "no verdict" if not candidates else f"{len(candidates)} verdicts (on different replies)"
        raise LabelTargetError(
            f"the verdict file holds {found} for assertion {index} of {case_key}, and no recorded run says "
            f"which reply is current; run the suite (`pytest --flywheel-suite={suite}`) and label again."
        )
    entry = candidates[0]
    return LabelTarget(
        key=entry.key,
        assertion=entry.assertion,
        case_key=case_key,
        index=index,
        suite=suite,
        nodeid=entry.case,
        judge_passed=entry.passed,
        judge_model=entry.model,
    )


def label_assertion(
    settings: Settings,
    store_path: Path,
    case: str,
    index: int,
    *,
    passed: bool,
    note: str = "",
    redact: Callable[[str], str] = str,
) -> tuple[Label, LabelTarget]:
    """Write a person's label on ``CASE INDEX``; returns it and the verdict it went on."""
    require_text(note, what="--note")
    target = resolve_target(settings, store_path, case, index)
    label = Label(
        key=target.key,
        passed=passed,
        assertion=target.assertion,
        judge_passed=target.judge_passed,
        judge_model=target.judge_model,
        suite=target.suite,
        case=target.nodeid,
        note=redact(note.strip()),
    )
    saved = save_labels(labels_path(settings), [label]).get(label.key)
    return saved or label, target  # as written: with the time it was labelled
