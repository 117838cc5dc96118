"""What to fix, and what the fixer starts with.

``SUITE`` (or ``SUITE::CASE``): the cases failing (or erroring) in the suite's latest recorded run.
``TRACE_ID``: that trace's analysis (rules and the comparison with a good trace; no LLM) and the cases
captured from it, in any suite. Each case comes with its input, its latest output and message, every
assertion with its verdict and reason, the trajectory of the production trace it was captured from,
and the rule findings on that trace; the plan also names each suite's target and where its source is.

The baseline the validation is compared with is each case's latest result: from the suite's latest
run, or from an older run for a case the latest one did not include.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_flywheel.config import Settings
from pytest_flywheel.fix.errors import FixError, NothingToFixError
from pytest_flywheel.runs.model import FAILING_OUTCOMES, AssertionResult, CaseResult, RunRecord
from pytest_flywheel.runs.queries import list_runs, load_run
from pytest_flywheel.store import Store

#: Runs read back, newest first, to find each case's latest result.
BASELINE_RUNS = 10
#: Failing cases whose production trace is analysed (rules only) for the opening message.
MAX_ANALYSED = 8
#: Bounds on the opening message.
VALUE_CHARS = 1500
TRAJECTORY_ENTRIES = 30
CASE_CHARS = 6000
OPENING_CHARS = 60_000


@dataclass
class CaseContext:
    """One case as the fixer sees it."""

    suite: str
    case_id: str
    suite_file: str  # relative to the project root
    line: int
    input: Any
    outcome: str | None  # in its latest result; None when it never ran
    run_id: str | None = None
    output: Any = None
    message: str | None = None
    assertions: list[AssertionResult] = field(default_factory=list)
    source_trace: str | None = None
    trajectory: list[dict[str, Any]] | None = None
    findings: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.suite}::{self.case_id}"

    @property
    def nodeid(self) -> str:
        return f"{self.suite_file}::{self.case_id}"

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING_OUTCOMES


@dataclass(frozen=True)
class TargetSource:
    """A suite's target and where it is defined (None when its file is not in the project)."""

    target: str
    file: str | None
    line: int | None


@dataclass
class FixPlan:
    """What ``flywheel fix`` works on."""

    spec: str
    kind: Literal["suite", "trace"]
    description: str
    cases: list[CaseContext]
    #: The suites the validation runs: name -> file relative to the root.
    suites: dict[str, str]
    baseline: RunRecord | None
    targets: list[TargetSource]
    trace_id: str | None = None
    trace_notes: list[str] = field(default_factory=list)

    @property
    def failing(self) -> list[CaseContext]:
        return [case for case in self.cases if case.failing]


# -- reading the store -------------------------------------------------------------------------------


def latest_results(
    store: Store, suite: str, case_ids: set[str]
) -> tuple[RunRecord | None, dict[str, CaseResult]]:
    """The suite's latest run, and each of ``case_ids``' latest result over the last runs (the
    validation runs of fixes that were not applied left out)."""
    runs = list_runs(store, suite=suite, limit=BASELINE_RUNS, own_code_only=True)
    latest: RunRecord | None = None
    results: dict[str, CaseResult] = {}
    for summary in runs:
        run = load_run(store, summary.id)
        if latest is None:
            latest = run
        for case in run.cases:
            if case.suite == suite and case.case_id in case_ids:
                results.setdefault(case.case_id, case)
        if len(results) == len(case_ids):
            break
    return latest, results


def baseline_run(store: Store, suites: dict[str, str], settings: Settings) -> RunRecord | None:
    """Every case's latest result, as one run to compare the validation with (None: nothing ran yet)."""
    from pytest_flywheel.suites import load_suite

    cases: list[CaseResult] = []
    newest: RunRecord | None = None
    for name, relative in suites.items():
        ids = set(load_suite(settings.root / relative).suite.case_ids)
        latest, results = latest_results(store, name, ids)
        if latest is not None and (newest is None or latest.started_at > newest.started_at):
            newest = latest
        cases.extend(results.values())
    if newest is None:
        return None
    return RunRecord(
        id=newest.id,
        started_at=newest.started_at,
        ended_at=newest.ended_at,
        cases=cases,
        suites=sorted(suites),
        git_commit=newest.git_commit,
        git_branch=newest.git_branch,
    )


def _trajectory_of(store: Store, trace_id: str) -> list[dict[str, Any]] | None:
    from pytest_flywheel.judge.trajectory import trajectory_from_spans

    spans = store.get_spans(trace_id)
    return trajectory_from_spans(spans) if spans else None


def _findings_of(store: Store, trace_id: str) -> list[str]:
    """The rule findings and the comparison of one trace, as lines (no LLM is asked)."""
    from pytest_flywheel.analysis.analyzer import AnalyzeOptions, analyze
    from pytest_flywheel.errors import FlywheelError

    try:
        analysis = analyze(store, trace_id, AnalyzeOptions(use_llm=False))
    except FlywheelError as exc:
        return [f"(the trace could not be analysed: {exc})"]
    lines = [
        f"[{f.severity}] {f.rule} on {f.span_name}: {f.title}. {_clip_text(f.evidence, 400)}"
        for f in analysis.findings
    ]
    comparison = analysis.comparison
    if comparison is not None and comparison.first is not None:
        first = comparison.first
        lines.append(
            f"compared with successful trace {comparison.good_trace_id}: first divergence "
            f"({first.kind}) at {first.path}: {_clip_text(first.detail, 400)}"
        )
    elif analysis.comparison_note:
        lines.append(f"comparison: {analysis.comparison_note}")
    return lines or ["no rule fired on this trace"]


def _case_context(
    store: Store,
    suite: str,
    suite_file: str,
    line: int,
    case: Any,
    result: CaseResult | None,
    *,
    analyse: bool,
) -> CaseContext:
    source = case.source.trace_id if case.source is not None else None
    context = CaseContext(
        suite=suite,
        case_id=case.id,
        suite_file=suite_file,
        line=line,
        input=case.input,
        outcome=result.outcome if result else None,
        run_id=None,
        output=result.output if result else None,
        message=result.message if result else None,
        assertions=list(result.assertions) if result else [],
        source_trace=source,
    )
    if result is not None and result.trajectory:
        context.trajectory = list(result.trajectory)
    elif source:
        context.trajectory = _trajectory_of(store, source)
    if analyse and source and store.get_spans(source):
        context.findings = _findings_of(store, source)
    return context


# -- the plan ----------------------------------------------------------------------------------------


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def plan_fix(store: Store, settings: Settings, spec: str) -> FixPlan:
    """The plan for ``SUITE``, ``SUITE::CASE`` or ``TRACE_ID``; :class:`NothingToFixError` when no case fails."""
    from pytest_flywheel.suites.loading import suite_path_for

    spec = spec.strip()
    try:
        spec.encode("utf-8")
    except UnicodeEncodeError:
        shown = spec.encode("ascii", "backslashreplace").decode("ascii")
        raise FixError(
            f"the target '{shown}' is not valid UTF-8: name a suite, SUITE::CASE or a trace id."
        ) from None
    name, sep, case_id = spec.partition("::")
    if sep:
        if not name or not case_id:
            raise FixError(f"{spec!r}: expected SUITE::CASE, with both a suite name and a case id.")
        _check_suite_name(name)
        return _plan_suite(store, settings, name, case_id, spec)
    if _is_suite_name(spec) and suite_path_for(spec, settings).is_file():
        return _plan_suite(store, settings, spec, None, spec)
    return _plan_trace(store, settings, spec)


def _check_suite_name(name: str) -> None:
    """A FixError for a suite name that could lead out of the suites folder (``../other/x``)."""
    from pytest_flywheel.suites.adding import check_suite_name
    from pytest_flywheel.suites.errors import CaseError

    try:
        check_suite_name(name)
    except CaseError as exc:
        raise FixError(str(exc)) from None


def _is_suite_name(name: str) -> bool:
    try:
        _check_suite_name(name)
    except FixError:
        return False
    return True


def _plan_suite(store: Store, settings: Settings, name: str, only: str | None, spec: str) -> FixPlan:
    from pytest_flywheel.suites import find_suite_path, load_suite

    path = find_suite_path(name, settings)  # SuiteNotFoundError names the suites there are
    loaded = load_suite(path)
    relative = _relative(path, settings.root)
    if only is not None and loaded.suite.case(only) is None:
        raise FixError(
            f"suite {name!r} ({relative}) has no case {only!r}; its cases are: "
            f"{', '.join(loaded.suite.case_ids) or '(none)'}."
        )
    latest, _ = latest_results(store, name, set())
    if latest is None:
        raise FixError(
            f"no run of suite {name!r} is recorded in {store.path}: run `pytest --flywheel-suite={name}` "
            f"first, then `flywheel fix {spec}`."
        )
    in_latest = {case.case_id: case for case in latest.cases if case.suite == name}
    failing = [
        case
        for case in loaded.suite.cases
        if case.id in in_latest
        and in_latest[case.id].outcome in FAILING_OUTCOMES
        and (only is None or case.id == only)
    ]
    if not failing:
        what = f"case {only!r} of suite {name!r}" if only else f"no case of suite {name!r}"
        verb = "did not fail" if only else "failed"
        if only and only not in in_latest:
            raise NothingToFixError(
                f"case {only!r} of suite {name!r} is not in its latest run {latest.id}: run "
                f"`pytest --flywheel-suite={name}` first."
            )
        raise NothingToFixError(f"{what} {verb} in its latest run {latest.id}: there is nothing to fix.")
    cases = [
        _case_context(
            store,
            name,
            relative,
            loaded.line_of(case.id),
            case,
            in_latest[case.id],
            analyse=index < MAX_ANALYSED,
        )
        for index, case in enumerate(failing)
    ]
    for context in cases:
        context.run_id = latest.id
    suites = {name: relative}
    total = sum(1 for case in in_latest.values() if case.outcome != "skipped")
    return FixPlan(
        spec=spec,
        kind="suite",
        description=(
            f"{len(cases)} failing case{'s' if len(cases) != 1 else ''} of suite {name} "
            f"(of {total} in its latest run {latest.id})"
        ),
        cases=cases,
        suites=suites,
        baseline=baseline_run(store, suites, settings),
        targets=[locate_target(settings.root, loaded.suite.target)] if loaded.suite.target else [],
    )


def _plan_trace(store: Store, settings: Settings, spec: str) -> FixPlan:
    from pytest_flywheel.store.queries import TraceNotFoundError, resolve_trace
    from pytest_flywheel.suites import list_suite_paths, load_suite

    try:
        trace_id = resolve_trace(store, spec)
    except TraceNotFoundError as exc:
        suite = (
            f"a suite (no {spec}.yaml in {_relative(settings.suites_dir, settings.root)})"
            if _is_suite_name(spec)
            else "a suite name (letters, digits, '-', '_' and '.', starting with a letter or digit)"
        )
        raise FixError(f"{spec!r} is neither {suite} nor a trace: {exc}") from None
    notes = _findings_of(store, trace_id)
    cases: list[CaseContext] = []
    suites: dict[str, str] = {}
    targets: list[TargetSource] = []
    for path in list_suite_paths(settings):
        loaded = load_suite(path)
        captured = [c for c in loaded.suite.cases if c.source is not None and c.source.trace_id == trace_id]
        if not captured:
            continue
        relative = _relative(path, settings.root)
        suites[loaded.name] = relative
        if loaded.suite.target:
            targets.append(locate_target(settings.root, loaded.suite.target))
        _, results = latest_results(store, loaded.name, {case.id for case in captured})
        for case in captured:
            context = _case_context(
                store,
                loaded.name,
                relative,
                loaded.line_of(case.id),
                case,
                results.get(case.id),
                analyse=False,
            )
            context.findings = notes
            cases.append(context)
    if not targets:
        trace = store.get_trace(trace_id)
        location = trace.location if trace is not None else None
        if location:
            targets.append(locate_target(settings.root, location))
    captured_note = (
        f", captured as {', '.join(case.key for case in cases)}" if cases else ", captured in no suite yet"
    )
    return FixPlan(
        spec=spec,
        kind="trace",
        description=f"trace {trace_id}{captured_note}",
        cases=cases,
        suites=suites,
        baseline=baseline_run(store, suites, settings) if suites else None,
        targets=targets,
        trace_id=trace_id,
        trace_notes=notes,
    )


# -- where the target is ----------------------------------------------------------------------------


def locate_target(root: Path, target: str) -> TargetSource:
    """The file and line defining ``module:qualname``, found by reading the source (nothing is imported)."""
    module, _, qualname = target.partition(":")
    relative = module.replace(".", "/")
    for base in (root, root / "src"):
        for candidate in (base / f"{relative}.py", base / relative / "__init__.py"):
            if not candidate.is_file():
                continue
            shown = _relative(candidate, root)
            try:
                tree = ast.parse(candidate.read_bytes())
            except (SyntaxError, ValueError, OSError):
                return TargetSource(target, shown, None)
            return TargetSource(target, shown, _line_of(tree, qualname.split(".")) if qualname else None)
    return TargetSource(target, None, None)


def _line_of(tree: ast.AST, parts: list[str]) -> int | None:
    scope: list[ast.stmt] = list(getattr(tree, "body", []))
    line: int | None = None
    for part in parts:
        found = next(
            (
                node
                for node in scope
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.name == part
            ),
            None,
        )
        if found is None:
            return line
        line = found.decorator_list[0].lineno if found.decorator_list else found.lineno
        scope = list(found.body)
    return line


# -- the opening message ----------------------------------------------------------------------------


def _clip_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(value: Any, limit: int = VALUE_CHARS) -> str:
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return _clip_text(text, limit)


def _trajectory_lines(trajectory: list[dict[str, Any]]) -> list[str]:
    lines = []
    for entry in trajectory[:TRAJECTORY_ENTRIES]:
        if entry.get("type") == "tool":
            outcome = (
                f"raised {_clip(entry['error'], 300)}"
                if "error" in entry
                else f"-> {_clip(entry.get('result'), 400)}"
            )
            lines.append(f"  - tool {entry.get('name')}({_clip(entry.get('arguments'), 300)}) {outcome}")
        else:
            uses = ", ".join(
                f"{use.get('name')}({_clip(use.get('input'), 200)})" for use in entry.get("tool_uses") or []
            )
            lines.append(
                f"  - llm {entry.get('model')} stop={entry.get('stop_reason')}"
                + (f" asked for {uses}" if uses else "")
            )
    if len(trajectory) > TRAJECTORY_ENTRIES:
        lines.append(f"  - ... {len(trajectory) - TRAJECTORY_ENTRIES} more steps")
    return lines


def _verdict(item: AssertionResult) -> str:
    mark = {True: "PASS", False: "FAIL", None: "NO VERDICT"}[item.passed]
    reason = f": {_clip(item.reason, 500)}" if item.reason else ""
    return f"  {mark}  {item.assertion}{reason}"


def case_text(case: CaseContext) -> str:
    state = case.outcome or "never run"
    lines = [f"### Case {case.key} ({state}), {case.suite_file} line {case.line}"]
    lines.append(f"Input: {_clip(case.input)}")
    if case.outcome is not None:
        lines.append(f"Output of its latest run: {_clip(case.output)}")
    if case.message:
        lines.append(f"Message: {_clip(case.message, 1200)}")
    if case.assertions:
        lines.append("Assertions and verdicts:")
        lines.extend(_verdict(item) for item in case.assertions)
    if case.trajectory:
        where = (
            f"the production trace {case.source_trace} it was captured from"
            if case.source_trace
            else "its run"
        )
        lines.append(f"Trajectory (from {where}):")
        lines.extend(_trajectory_lines(case.trajectory))
    if case.findings:
        lines.append(f"Analysis of trace {case.source_trace} (rules, no LLM):")
        lines.extend(f"  - {line}" for line in case.findings)
    return _clip_text("\n".join(lines), CASE_CHARS)


def opening_message(plan: FixPlan, *, corpus: str | None) -> str:
    """The first user message of the fixer: the plan in words, bounded to :data:`OPENING_CHARS`."""
    parts = [f"Fix {plan.description}.", ""]
    for target in plan.targets:
        where = (
            f"defined in {target.file}" + (f" line {target.line}" if target.line else "")
            if target.file
            else "its source is not in the project"
        )
        parts.append(f"The agent's entrypoint (the suite's target): {target.target}, {where}.")
    exam = f"{corpus}/ (suites, cassettes, verdicts), " if corpus else ""
    parts.append(
        f"You may edit the project's code, prompts and tools. You may not edit {exam}tests or test "
        "configuration."
    )
    if plan.kind == "trace":
        parts.append("")
        parts.append(f"Analysis of trace {plan.trace_id} (rules and comparison, no LLM):")
        parts.extend(f"  - {line}" for line in plan.trace_notes)
        if not plan.cases:
            parts.append("No test case was captured from this trace: fix what the analysis points at.")
    size = sum(len(part) + 1 for part in parts)
    left_out: list[str] = []
    for case in plan.cases:
        text = case_text(case)
        if size + len(text) > OPENING_CHARS:
            left_out.append(case.key)
            continue
        parts.extend(["", text])
        size += len(text) + 2
    if left_out:
        parts.extend(["", f"{len(left_out)} more case(s) not shown here: {', '.join(left_out)}."])
    parts.extend(["", "Start by reading the entrypoint's source. End with finish."])
    return "\n".join(parts)
