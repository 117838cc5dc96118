"""What CI run pages show: a short Markdown summary (GitHub Actions' ``$GITHUB_STEP_SUMMARY``, GitLab,
or ``--flywheel-markdown PATH``) and GitHub's ``::error`` annotations that put a failing case next to
its line in the suite file. Built from the session's JSON report and the run records, values only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_flywheel.runs.model import RunRecord

#: Failing assertions, erroring cases, and regressed or fixed cases listed per suite (the rest are counted).
SHOWN_FAILURES = 20


@dataclass(frozen=True)
class SuiteHistory:
    """A suite's cases that changed against its previous recorded run."""

    previous_id: str | None
    previous_started_at: float | None
    fixed: tuple[str, ...] = ()
    regressed: tuple[str, ...] = ()
    still_failing: tuple[str, ...] = ()


def suite_history(previous: RunRecord | None, current: RunRecord, suite: str) -> SuiteHistory:
    """Fixed / regressed / still failing cases of ``suite`` between ``previous`` and ``current``."""
    if previous is None:
        return SuiteHistory(previous_id=None, previous_started_at=None)
    from pytest_flywheel.runs.compare import compare_runs

    comparison = compare_runs(previous, current)
    groups: dict[str, list[str]] = {"fixed": [], "regressed": [], "still failing": []}
    for case in comparison.cases:
        if not case.key.startswith(f"{suite}::"):
            continue
        if case.change in groups:
            groups[case.change].append(case.key.partition("::")[2])
    return SuiteHistory(
        previous_id=previous.id,
        previous_started_at=previous.started_at,
        fixed=tuple(groups["fixed"]),
        regressed=tuple(groups["regressed"]),
        still_failing=tuple(groups["still failing"]),
    )


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell or list item: one line, pipes and markup escaped."""
    flat = " ".join(str(text if text is not None else "").split())
    for char in ("\\", "|", "*", "_", "`", "<", ">", "[", "]"):
        flat = flat.replace(char, "\\" + char)
    return flat if len(flat) <= 300 else flat[:297] + "..."


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def markdown_summary(report: Mapping[str, Any], histories: Mapping[str, SuiteHistory]) -> str:
    """The summary: per suite the pass rate, the changes against the previous run, each failing
    assertion with its reason; then the judge's calls and cost."""
    lines = ["## pytest-flywheel", ""]
    verdict = "passed" if report.get("passed") else "failed"
    lines.append(f"The run {verdict} (exit status {report.get('exit_status')}).")
    lines.append("")
    lines.append("| suite | passed | failed | errors | pass rate | fixed | regressed |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, figures in report.get("suites", {}).items():
        history = histories.get(name)
        fixed = str(len(history.fixed)) if history and history.previous_id else "-"
        regressed = str(len(history.regressed)) if history and history.previous_id else "-"
        lines.append(
            f"| {_cell(name)} | {figures['passed']} | {figures['failed']} | {figures['errors']} "
            f"| {_rate(figures['pass_rate'])} | {fixed} | {regressed} |"
        )
    for name in report.get("suites", {}):
        lines.extend(_suite_details(name, report.get("cases", []), histories.get(name)))
    judge = report.get("judge", {})
    lines.append("")
    lines.append(
        f"Judge: {judge.get('calls', 0)} calls, {judge.get('tokens', 0)} tokens, "
        f"${float(judge.get('cost_usd', 0.0)):.4f}; verdicts {judge.get('cached', 0)} cached, "
        f"{judge.get('new', 0)} new."
    )
    return "\n".join(lines) + "\n"


def _suite_details(name: str, cases: Iterable[Mapping[str, Any]], history: SuiteHistory | None) -> list[str]:
    lines: list[str] = []
    group = [case for case in cases if (case.get("suite") or "(hand-written tests)") == name]
    failing = [case for case in group if case.get("outcome") in ("failed", "error")]
    changes = history is not None and history.previous_id is not None and (history.fixed or history.regressed)
    if not failing and not changes:
        return lines
    lines += ["", f"### {_cell(name)}", ""]
    if history is not None and history.previous_id is not None:
        if history.regressed:
            lines.append(f"Regressed since run `{history.previous_id[:12]}`: {_listed(history.regressed)}")
        if history.fixed:
            lines.append(f"Fixed since run `{history.previous_id[:12]}`: {_listed(history.fixed)}")
        lines.append("")
    items: list[str] = []  # an erroring case, a failing assertion, or a case that failed with none
    for case in failing:
        label = case.get("case_id") or case.get("nodeid")
        if case.get("outcome") == "error":
            items.append(f"- **{_cell(label)}** (error): {_cell(_error_line(case))}")
        for assertion in case.get("assertions", []):
            if assertion.get("passed") is False:
                items.append(f"- **{_cell(label)}**: {_cell(assertion.get('assertion'))} — {_cell(assertion.get('reason'))}")
        if case.get("outcome") == "failed" and not any(a.get("passed") is False for a in case.get("assertions", [])):
            items.append(f"- **{_cell(label)}**: {_cell(_last_line(case.get('message')))}")
    lines += items[:SHOWN_FAILURES]
    if len(items) > SHOWN_FAILURES:
        lines.append(f"- ... and {len(items) - SHOWN_FAILURES} more")
    return lines


def _listed(case_ids: tuple[str, ...]) -> str:
    """The first :data:`SHOWN_FAILURES` case ids, and how many more."""
    shown = ", ".join(_cell(case_id) for case_id in case_ids[:SHOWN_FAILURES])
    hidden = len(case_ids) - SHOWN_FAILURES
    return f"{shown} and {hidden} more" if hidden > 0 else shown


def _error_line(case: Mapping[str, Any]) -> str:
    """An erroring case in one line, as the terminal summary gives it: a cassette miss's summary (where the
    request changed), else the first line of the error."""
    return str(case.get("summary") or _first_line(case.get("message")))


def _first_line(text: Any) -> str:
    stripped = str(text or "").strip()
    return stripped.splitlines()[0] if stripped else ""


def _last_line(text: Any) -> str:
    stripped = str(text or "").strip()
    return stripped.splitlines()[-1] if stripped else ""


def _escape_property(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_annotations(cases: Iterable[Mapping[str, Any]]) -> list[str]:
    """``::error file=...,line=...,title=...::message`` for each failing or erroring suite case whose
    location is known (GitHub shows them next to the line in the pull request's diff)."""
    annotations: list[str] = []
    for case in cases:
        if case.get("outcome") not in ("failed", "error") or not case.get("file"):
            continue
        failing = [a for a in case.get("assertions", []) if a.get("passed") is False]
        if case.get("outcome") == "error":
            message = _error_line(case)
        elif failing:
            message = "; ".join(f"{a.get('assertion')}: {a.get('reason')}" for a in failing)
        else:
            message = _last_line(case.get("message"))
        place = f"file={_escape_property(str(case['file']))}"
        if case.get("line"):
            place += f",line={int(case['line'])}"
        title = _escape_property(f"{case.get('suite')}::{case.get('case_id')} {case.get('outcome')}")
        annotations.append(f"::error {place},title={title}::{_escape_data(message)}")
    return annotations
