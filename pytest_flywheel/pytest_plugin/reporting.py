"""Results through the reporting people already use: JUnit XML properties and a ``flywheel`` section
in the terminal summary, built from the session's end (:class:`SessionEnd`), a value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_flywheel.pytest_plugin.outcome import CaseOutcome
from pytest_flywheel.pytest_plugin.results import HAND_WRITTEN, SessionResults, pass_rate
from pytest_flywheel.pytest_plugin.verdicts import VerdictSummary

#: Unused verdicts listed by name in the summary (the rest are counted).
SHOWN_UNUSED = 5


@dataclass(frozen=True)
class SessionEnd:
    """What a session came to, as the terminal summary shows it."""

    results: SessionResults
    verdicts: VerdictSummary | None
    min_pass_rate: float | None
    prune: bool
    report_path: Path | None = None
    markdown_path: Path | None = None
    #: GitHub Actions' ``::error`` lines for failing cases (printed when running on GitHub Actions).
    annotations: tuple[str, ...] = ()
    #: Cases over a --flywheel-max-*-increase budget against their suite's previous run (the run fails).
    over_budget: tuple[str, ...] = ()
    #: Failed suite cases that --flywheel-min-pass-rate let pass the run (0: none, or not set).
    tolerated_failures: int = 0
    #: Problems around the tests (the verdict file or the run not written).
    problems: tuple[str, ...] = field(default_factory=tuple)


def junit_properties(outcome: CaseOutcome, redact: Callable[[str], str]) -> list[tuple[str, object]]:
    """One ``<property>`` per fact, numbered per assertion (JUnit XML has no nesting below a testcase):
    ``flywheel.assertion.N`` (the text), ``flywheel.verdict.N`` (pass / fail / unchecked),
    ``flywheel.reason.N``, ``flywheel.source.N`` (cached / judged / check / label, or none for a sentence
    never judged), and with judge repeats ``flywheel.votes.N`` (``2/3 pass``) and ``flywheel.flaky.N``.
    Secrets are scrubbed."""
    properties: list[tuple[str, object]] = []
    if outcome.suite:
        properties.append(("flywheel.suite", outcome.suite))
    if outcome.case_id:
        properties.append(("flywheel.case", outcome.case_id))
    for number, result in enumerate(outcome.assertions, start=1):
        verdict = "unchecked" if result.passed is None else "pass" if result.passed else "fail"
        properties.append((f"flywheel.assertion.{number}", redact(result.assertion)))
        properties.append((f"flywheel.verdict.{number}", verdict))
        properties.append((f"flywheel.reason.{number}", redact(result.reason)))
        properties.append((f"flywheel.source.{number}", result.source))
        if result.votes is not None:
            properties.append((f"flywheel.votes.{number}", result.spread))
            properties.append((f"flywheel.flaky.{number}", "true" if result.flaky else "false"))
    return properties


def _money(value: float) -> str:
    return f"${value:.4f}"


def _counts(group: list[CaseOutcome]) -> str:
    parts = []
    for status in ("failed", "error", "skipped", "xfailed", "xpassed"):
        count = sum(1 for outcome in group if outcome.status == status)
        if count:
            parts.append(f"{count} {'errors' if status == 'error' and count != 1 else status}")
    return "".join(f", {part}" for part in parts)


def write_terminal_summary(
    end: SessionEnd, terminal: pytest.TerminalReporter, redact: Callable[[str], str]
) -> None:
    """The ``flywheel`` section: per suite the cases passed and the pass rate, each failing assertion
    with its reason, the verdict counts and unused verdicts, and the judge's tokens and cost."""
    outcomes = end.results.outcomes
    if not outcomes and end.verdicts is None:
        return
    terminal.section("flywheel")
    minimum = end.min_pass_rate
    for name, group in end.results.groups().items():
        rate = pass_rate(group)
        passed = sum(1 for outcome in group if outcome.status in ("passed", "xpassed"))
        counted = sum(1 for outcome in group if outcome.status not in ("skipped", "xfailed"))
        shown_rate = "n/a" if rate is None else f"{rate:.1%}"
        is_suite = name != HAND_WRITTEN
        below = is_suite and rate is not None and minimum is not None and rate < minimum
        label = f"suite {name}" if is_suite else name
        line = f"{label}: {passed}/{counted} passed ({shown_rate}){_counts(group)}"
        if minimum is not None and is_suite:
            line += f", below the minimum {minimum:.1%}" if below else f", minimum {minimum:.1%} met"
        bad = below or passed < counted
        terminal.write_line(line, red=bad, green=not bad)
        for outcome in group:
            _write_outcome(outcome, terminal, redact)
    missed_at = [o.miss_at for o in outcomes if o.status == "error" and o.miss_at is not None]
    if missed_at:
        from pytest_flywheel.replay.misses import miss_groups

        for line in miss_groups(missed_at):
            terminal.write_line(f"misses: {redact(line)}", red=True)
    usage = end.results.judge_usage().as_dict()
    verdicts = end.verdicts
    if verdicts is not None:
        unused = len(verdicts.unused)
        line = f"verdicts: {usage['cached']} cached, {usage['new']} newly judged, {unused} unused"
        if unused and not end.prune:
            line += " (--flywheel-prune removes them)"
        written = verdicts.written
        if written is not None and written.written:
            line += f"; wrote {written.path}"
            if written.pruned:
                line += f" ({len(written.pruned)} pruned)"
        terminal.write_line(line)
        for entry in verdicts.unused[:SHOWN_UNUSED]:
            case = entry.case or "(no case recorded)"
            terminal.write_line(f"  unused {entry.key[:19]} {redact(case)}: {redact(entry.assertion)}")
        if unused > SHOWN_UNUSED:
            terminal.write_line(f"  ... and {unused - SHOWN_UNUSED} more")
    repeated = [o for o in outcomes if o.runs and not o.runs.get("replayed")]
    for outcome in repeated:
        runs = outcome.runs or {}
        if runs["passed"] < runs["total"] or runs["varied"]:
            varied = "; varied: " + ", ".join(redact(text) for text in runs["varied"]) if runs["varied"] else ""
            terminal.write_line(
                f"  RUNS {outcome.nodeid}: {runs['passed']}/{runs['total']} runs passed "
                f"(needs {runs['threshold']}){varied}",
                yellow=True,
            )
    replayed_once = [o for o in outcomes if o.runs and o.runs.get("replayed")]
    if replayed_once:
        asked = max(int((o.runs or {}).get("asked", 1)) for o in replayed_once)
        terminal.write_line(
            f"runs: {len(replayed_once)} replayed cases ran once though {asked} runs were asked for: repeated runs "
            "call the model (a record mode other than none)",
            yellow=True,
        )
    flaky = [(o, r) for o in outcomes for r in o.assertions if r.flaky]
    if flaky:
        terminal.write_line(f"flaky verdicts: {len(flaky)} (the judge's repeats disagreed)", yellow=True)
        for outcome, result in flaky[:SHOWN_UNUSED]:
            terminal.write_line(
                f"  FLAKY {outcome.nodeid}: {redact(result.assertion)} ({result.spread}, kept: "
                f"{'pass' if result.passed else 'fail'})",
                yellow=True,
            )
        if len(flaky) > SHOWN_UNUSED:
            terminal.write_line(f"  ... and {len(flaky) - SHOWN_UNUSED} more", yellow=True)
    labelled = sum(1 for o in outcomes for r in o.assertions if r.labelled)
    if labelled:
        terminal.write_line(f"labels: {labelled} verdicts decided by people's labels (flywheel/labels.jsonl)")
    calls = usage["calls"]
    terminal.write_line(
        f"judge: {calls} call{'s' if calls != 1 else ''}, "
        f"{usage['input_tokens']} input + {usage['output_tokens']} output tokens, {_money(usage['cost_usd'])}"
    )
    if end.report_path is not None:
        terminal.write_line(f"report: {end.report_path}")
    if end.markdown_path is not None:
        terminal.write_line(f"markdown summary: {end.markdown_path}")
    for annotation in end.annotations:
        terminal.write_line(annotation)
    if end.over_budget:
        terminal.write_line(f"over budget: {len(end.over_budget)} cases rose past a limit", red=True)
        for line in end.over_budget:
            terminal.write_line(f"  OVER {redact(line)}", red=True)
    if end.tolerated_failures:
        count = end.tolerated_failures
        terminal.write_line(
            f"{count} failed case{'s' if count != 1 else ''} tolerated: every suite met "
            "--flywheel-min-pass-rate, so the run passes",
            yellow=True,
        )
    for problem in end.problems:
        terminal.write_line(f"warning: {redact(problem)}", yellow=True)


def _write_outcome(outcome: CaseOutcome, terminal: pytest.TerminalReporter, redact: Callable[[str], str]) -> None:
    nodeid = outcome.nodeid
    if outcome.status == "error":
        shown = outcome.summary or _first_line(outcome.error or outcome.raised)
        terminal.write_line(f"  ERROR {nodeid}: {redact(shown)}", red=True)
        return
    if outcome.status not in ("failed",):
        return
    for result in outcome.failing:
        terminal.write_line(f"  FAIL {nodeid}: {redact(result.assertion)}", red=True)
        if result.reason:
            terminal.write_line(f"       {redact(result.reason)}")
    if outcome.raised is not None:
        what = _last_line(outcome.raised)
        prefix = "the target raised " if outcome.suite else ""
        terminal.write_line(f"  FAIL {nodeid}: {prefix}{redact(what)}", red=True)
    elif not outcome.failing:
        terminal.write_line(f"  FAIL {nodeid}", red=True)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
