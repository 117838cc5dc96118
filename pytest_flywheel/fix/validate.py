"""Validation: the proposed edits applied to a temporary copy of the project, and the suite run there.

The copy holds the project's files (in a git work tree: the tracked ones and the untracked ones git
does not ignore; elsewhere everything but ``.git``, virtualenvs and caches) and the whole flywheel
folder. The user's tree is never written. In the copy, pytest runs twice, as a user would run it:
first the failing cases, then the whole suite, both with ``--flywheel-record=new_episodes`` so that a
case whose requests changed is re-recorded (against the model, then judged) while every other case
replays its cassette. Each run's JSON report (``--flywheel-report``) is read back, and the plugin
records each run in a store of the copy's own; the caller saves those runs in the user's store
together with the fix they validate (see :mod:`pytest_flywheel.fix.record`), so that a run of code
that was never applied is never taken for the suite's latest run.

The result is the runs comparison (fixed / still failing / regressed / unchanged) of the whole-suite
run against each case's latest result before, plus the files the runs changed in the copy's flywheel
folder (re-recorded cassettes, new verdicts): applied together with the edits on a yes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flywheel.config import Settings
from pytest_flywheel.fix.errors import FixError
from pytest_flywheel.fix.patch import FileEdit, digest
from pytest_flywheel.runs.compare import RunComparison, compare_runs
from pytest_flywheel.runs.model import RunRecord

#: The longest one validation run of pytest may take.
RUN_TIMEOUT_SECONDS = 3600.0
SCRATCH_PREFIX = "flywheel-fix-"
#: A scratch folder this old was left by a ``flywheel fix`` that was killed: the next one removes it.
STALE_SCRATCH_SECONDS = 24 * 3600.0
OUTPUT_TAIL_LINES = 25


@dataclass
class SuiteRun:
    """One pytest run in the copy."""

    label: str
    arguments: list[str]
    returncode: int
    report: dict[str, Any] | None
    #: The run as the plugin recorded it (in the copy's store), to be saved in the user's.
    record: RunRecord | None
    output_tail: str
    #: Flywheel-folder files (relative to the project root) this run changed or created in the copy.
    changed: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str | None:
        return self.record.id if self.record is not None else None

    def case_outcomes(self) -> dict[str, str]:
        cases = (self.report or {}).get("cases") or []
        return {
            f"{case.get('suite')}::{case.get('case_id')}": str(case.get("outcome"))
            for case in cases
            if case.get("suite")
        }


@dataclass
class Validation:
    """What the suite said about the edits."""

    runs: list[SuiteRun]
    comparison: RunComparison | None
    #: Files of the flywheel folder to write with the edits: relative path -> new content.
    artifacts: dict[str, bytes]
    #: The digest each of those files had in the user's tree when it was copied (None: it did not exist).
    originals: dict[str, str | None]
    judge_calls: int
    judge_cost_usd: float
    #: The agent's cost over the re-recorded cases (None: a model with no known price).
    agent_cost_usd: float | None
    problem: str | None = None

    @property
    def records(self) -> list[RunRecord]:
        """The validation's runs, to save in the user's store with the fix."""
        return [run.record for run in self.runs if run.record is not None]

    @property
    def rerecorded(self) -> list[str]:
        return sorted(path for path in self.artifacts if not path.endswith("verdicts.jsonl"))

    @property
    def regressed(self) -> bool:
        return self.comparison is not None and self.comparison.regressed

    def changes(self, change: str) -> list[str]:
        if self.comparison is None:
            return []
        return [case.key for case in self.comparison.cases if case.change == change]

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "regressed": self.regressed,
            "comparison": None if self.comparison is None else self.comparison.to_json(),
            "runs": [
                {
                    "label": run.label,
                    "run_id": run.run_id,
                    "returncode": run.returncode,
                    "changed": run.changed,
                }
                for run in self.runs
            ],
            "rerecorded": self.rerecorded,
            "verdicts_updated": any(path.endswith("verdicts.jsonl") for path in self.artifacts),
            "judge_calls": self.judge_calls,
            "judge_cost_usd": round(self.judge_cost_usd, 6),
            "agent_cost_usd": None if self.agent_cost_usd is None else round(self.agent_cost_usd, 6),
        }


# -- the copy ----------------------------------------------------------------------------------------


def _inside(path: Path, root: Path) -> Path | None:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return None


def _corpus_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts)


def copy_project(root: Path, files: Iterable[str], corpus: Path, into: Path) -> dict[str, str | None]:
    """Copy ``files`` (relative to ``root``) and the whole ``corpus`` folder into ``into``; returns the
    digest of every corpus file copied (relative path -> sha256), to check the user's tree against later."""
    root = root.resolve()
    into.mkdir(parents=True, exist_ok=True)
    wanted = set(files)
    for path in _corpus_files(corpus):
        relative = _inside(path, root)
        if relative is not None:
            wanted.add(relative.as_posix())
    digests: dict[str, str | None] = {}
    corpus_relative = _inside(corpus, root)
    for name in sorted(wanted):
        source = root / name
        if source.is_symlink() and _inside(source, root) is None:
            continue  # a link out of the project is not the project's
        if not source.is_file():
            continue
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=True)
        if corpus_relative is not None and Path(name).is_relative_to(corpus_relative):
            digests[name] = digest(source.read_bytes())
    return digests


def _snapshot(folder: Path, root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): digest(path.read_bytes()) for path in _corpus_files(folder)}


# -- running pytest ----------------------------------------------------------------------------------


def _environment(settings: Settings, copy_root: Path, corpus_in_copy: Path, store: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["FLYWHEEL_STORE"] = str(store)
    env["FLYWHEEL_DIR"] = str(corpus_in_copy)
    # An absolute PYTHONPATH entry into the project would import the user's files, not the copy's.
    entries = []
    for entry in env.get("PYTHONPATH", "").split(os.pathsep):
        inside = _inside(Path(entry), settings.root) if entry and os.path.isabs(entry) else None
        entries.append(str(copy_root / inside) if inside is not None else entry)
    if "PYTHONPATH" in env:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    return env


def _run_pytest(
    label: str,
    arguments: list[str],
    *,
    copy_root: Path,
    env: dict[str, str],
    report_path: Path,
    store: Path,
) -> SuiteRun:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        *arguments,
        "--flywheel-record=new_episodes",
        f"--flywheel-report={report_path}",
    ]
    try:
        done = subprocess.run(
            command,
            cwd=copy_root,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return SuiteRun(
            label, arguments, -1, None, None, f"pytest ran longer than {RUN_TIMEOUT_SECONDS:.0f} s"
        )
    tail = "\n".join((done.stdout + done.stderr).rstrip().splitlines()[-OUTPUT_TAIL_LINES:])
    report: dict[str, Any] | None = None
    if report_path.is_file():
        try:
            loaded = json.loads(report_path.read_text(encoding="utf-8"))
            report = loaded if isinstance(loaded, dict) else None
        except (OSError, ValueError):
            report = None
    return SuiteRun(label, arguments, done.returncode, report, _recorded(store, report), tail)


def _recorded(store: Path, report: dict[str, Any] | None) -> RunRecord | None:
    """The run the plugin recorded for this report (matched by its start and end times)."""
    if report is None or not store.is_file():
        return None
    from pytest_flywheel.runs.queries import load_run
    from pytest_flywheel.store import Store

    with Store(store) as opened:
        row = opened.conn.execute(
            "SELECT id FROM runs WHERE started_at = ? AND ended_at = ? ORDER BY id DESC LIMIT 1",
            (report.get("started_at"), report.get("ended_at")),
        ).fetchone()
        return load_run(opened, str(row["id"])) if row is not None else None


def _target_modules(targets: Iterable[str]) -> list[str]:
    return sorted({target.partition(":")[0] for target in targets if target.partition(":")[0]})


def _imports_from_copy(modules: Sequence[str], *, copy_root: Path, env: dict[str, str]) -> str | None:
    """Why the copy's pytest would import a target from elsewhere (an editable install of the project
    itself, say), or None when every target module that can be found is the copy's."""
    if not modules:
        return None
    probe = (
        "import importlib.util, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        spec = importlib.util.find_spec(name)\n"
        "    except Exception:\n"
        "        spec = None\n"
        "    out[name] = spec.origin if spec is not None else None\n"
        "print(json.dumps(out))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe, *modules],
            cwd=copy_root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        origins = json.loads(done.stdout or "{}")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    for module, origin in origins.items():
        if origin and os.path.isabs(origin) and _inside(Path(origin), copy_root) is None:
            return (
                f"the target module {module} imports from {origin}, not from the temporary copy (is the "
                "project installed in editable mode, or on an absolute PYTHONPATH?), so the suite would "
                "not see the edits"
            )
    return None


# -- the whole validation -----------------------------------------------------------------------------


def remove_stale_scratch(folder: Path, *, now: float | None = None) -> list[Path]:
    """Remove scratch folders of killed validations (older than :data:`STALE_SCRATCH_SECONDS`)."""
    moment = time.time() if now is None else now
    removed: list[Path] = []
    try:
        candidates = list(folder.glob(f"{SCRATCH_PREFIX}*"))
    except OSError:
        return removed
    for candidate in candidates:
        try:
            old = moment - candidate.stat().st_mtime > STALE_SCRATCH_SECONDS
        except OSError:
            continue
        if old and candidate.is_dir() and not candidate.is_symlink():
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def validate(
    *,
    settings: Settings,
    files: Iterable[str],
    edits: Sequence[FileEdit],
    suites: dict[str, str],
    failing_nodeids: Sequence[str],
    targets: Iterable[str],
    baseline: RunRecord | None,
    extra_arguments: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> Validation:
    """Apply ``edits`` to a temporary copy, run the failing cases then the whole suites there, compare."""
    root = settings.root.resolve()
    corpus_relative = _inside(settings.dir, root)
    if corpus_relative is None:
        raise FixError(
            f"the flywheel folder {settings.dir} is outside the project root {root}; validation runs in a "
            "copy of the project and needs it inside. Pass --no-validate to skip it."
        )
    say = progress or (lambda _: None)
    remove_stale_scratch(Path(tempfile.gettempdir()))
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    try:
        copy_root = scratch / (root.name or "project")
        originals = copy_project(root, files, settings.dir, copy_root)
        for edit in edits:
            target = copy_root / edit.path
            if not target.is_file() or digest(target.read_bytes()) != edit.before_digest:
                raise FixError(
                    f"{edit.path} changed while the fixer worked on it; nothing was applied. Run "
                    "flywheel fix again."
                )
            target.write_bytes(edit.after.encode("utf-8"))
        corpus_in_copy = copy_root / corpus_relative
        run_store = scratch / "validation.db"
        env = _environment(settings, copy_root, corpus_in_copy, run_store)
        problem = _imports_from_copy(_target_modules(targets), copy_root=copy_root, env=env)
        runs: list[SuiteRun] = []
        plans = []
        if failing_nodeids:
            plans.append(("the failing cases", [*failing_nodeids, *extra_arguments]))
        suite_arguments = [
            *suites.values(),
            *(f"--flywheel-suite={name}" for name in suites),
            *extra_arguments,
        ]
        plans.append(("the whole suite", suite_arguments))
        before = _snapshot(corpus_in_copy, copy_root)
        for index, (label, arguments) in enumerate(plans if problem is None else []):
            shown = (
                f"{len(failing_nodeids)} case(s)" if index == 0 and failing_nodeids else " ".join(arguments)
            )
            say(f"running {label} in a temporary copy: pytest {shown}")
            run = _run_pytest(
                label,
                arguments,
                copy_root=copy_root,
                env=env,
                report_path=scratch / f"report-{index}.json",
                store=run_store,
            )
            after = _snapshot(corpus_in_copy, copy_root)
            run.changed = sorted(path for path, value in after.items() if before.get(path) != value)
            before = after
            runs.append(run)
            if run.report is None:
                problem = f"pytest ({label}) exited with status {run.returncode} and wrote no report:\n{run.output_tail}"
                break
            if run.returncode not in (0, 1):
                problem = f"pytest ({label}) exited with status {run.returncode}:\n{run.output_tail}"
                break
        artifacts: dict[str, bytes] = {}
        artifact_originals: dict[str, str | None] = {}
        if problem is None:
            for path, value in _snapshot(corpus_in_copy, copy_root).items():
                if originals.get(path) != value:
                    artifacts[path] = (copy_root / path).read_bytes()
                    artifact_originals[path] = originals.get(path)
        return _result(runs, baseline, artifacts, artifact_originals, problem)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _result(
    runs: list[SuiteRun],
    baseline: RunRecord | None,
    artifacts: dict[str, bytes],
    originals: dict[str, str | None],
    problem: str | None,
) -> Validation:
    from pytest_flywheel.runs.recorder import run_from_report

    comparison = None
    whole = runs[-1] if runs and runs[-1].label == "the whole suite" else None
    if problem is None and whole is not None and whole.report is not None and baseline is not None:
        after = whole.record or run_from_report(whole.report, run_id="validation")
        comparison = compare_runs(baseline, after)
    judge_calls = 0
    judge_cost = 0.0
    agent_cost: float | None = 0.0
    for run in runs:
        report = run.report or {}
        judge = report.get("judge") or {}
        judge_calls += int(judge.get("calls") or 0)
        judge_cost += float(judge.get("cost_usd") or 0.0)
        changed_cases = {Path(path).stem for path in run.changed if "cassettes" in Path(path).parts}
        for case in report.get("cases") or []:
            if case.get("case_id") not in changed_cases:
                continue  # replayed: no model call was paid for
            cost = case.get("cost_usd")
            agent_cost = None if agent_cost is None or cost is None else agent_cost + float(cost)
    return Validation(
        runs=runs,
        comparison=comparison,
        artifacts=artifacts,
        originals=originals,
        judge_calls=judge_calls,
        judge_cost_usd=judge_cost,
        agent_cost_usd=agent_cost,
        problem=problem,
    )
