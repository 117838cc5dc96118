"""The steps of ``flywheel fix`` and what each prints: plan, fixer, diff, validation, question, apply.

Each step's work is a call into :mod:`pytest_flywheel.fix`; this module only sequences them, prints
them and records the outcome in the store. Nothing in the project is written before the yes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flywheel.config import Settings
from pytest_flywheel.errors import FlywheelError

if TYPE_CHECKING:
    from pytest_flywheel.fix.agent import FixerResult
    from pytest_flywheel.fix.context import FixPlan
    from pytest_flywheel.fix.record import FixRecord
    from pytest_flywheel.fix.validate import Validation
    from pytest_flywheel.redaction import Redactor
    from pytest_flywheel.runs.model import RunRecord

_LOUD, _RESET = "\x1b[1;31m", "\x1b[0m"


def _money(value: float | None) -> str:
    return "price unknown" if value is None else f"${value:.4f}"


class FixFlow:
    """One ``flywheel fix`` invocation."""

    def __init__(self, settings: Settings, args: argparse.Namespace, out: Output) -> None:
        self.settings = settings
        self.args = args
        self.out = out
        self.outcome: dict[str, Any] = {"target": args.target, "applied": False}
        self.validation_records: list[RunRecord] = []

    # -- the steps ------------------------------------------------------------------------------------

    def run(self) -> int:
        from pytest_flywheel.fix.context import plan_fix
        from pytest_flywheel.fix.record import FixRecord
        from pytest_flywheel.redaction import build_redactor
        from pytest_flywheel.store import Store

        redactor = build_redactor(self.settings)
        with Store(self.settings.store) as store:
            plan = plan_fix(store, self.settings, self.args.target)
        self.outcome["plan"] = {
            "description": plan.description,
            "cases": [case.key for case in plan.cases],
            "suites": plan.suites,
        }
        self.out.line(f"Fixing {plan.description}.")
        record = FixRecord(
            target=self.args.target, status="failed", baseline_run=plan.baseline.id if plan.baseline else None
        )
        try:
            code = self._run(plan, redactor, record)
        except KeyboardInterrupt:
            if record.status == "failed" and record.diff:
                record.status = "declined"  # interrupted after the proposal: the user did not say yes
            self.out.line("\nInterrupted: nothing changed.")
            self._record_outcome(record)
            raise
        except FlywheelError:
            self._record_outcome(record)
            raise
        self._record_outcome(record)
        self.outcome["fix_id"] = record.id
        self.outcome["status"] = record.status
        self.out.result(self.outcome)
        return code

    def _run(self, plan: FixPlan, redactor: Redactor, record: FixRecord) -> int:
        from pytest_flywheel.fix.patch import unified_diff

        result = self._propose(plan, redactor)
        record.model, record.summary = result.model, redactor.text(result.summary)
        record.input_tokens, record.output_tokens, record.cost_usd = (
            result.input_tokens,
            result.output_tokens,
            result.cost_usd,
        )
        self.outcome["fixer"] = result.to_dict()
        self._show_proposal(result, redactor)
        if not result.edits:
            tokens = f"{result.input_tokens:,} in / {result.output_tokens:,} out tokens"
            self.out.line(
                f"Fixer: {result.model}, {result.turns} turns, {tokens}, {_money(result.cost_usd)}."
            )
            record.status = "no_change"
            self.out.line("The fixer proposed no change: nothing to validate or apply.")
            return 1
        patch = unified_diff(result.edits, prefix=self._patch_prefix())
        shown = redactor.text(patch)
        record.diff = shown
        self.outcome["diff"] = shown
        self.out.line()
        self.out.line(self._coloured(shown).rstrip("\n"))
        tokens = f"{result.input_tokens:,} in / {result.output_tokens:,} out tokens"
        self.out.line(f"Fixer: {result.model}, {result.turns} turns, {tokens}, {_money(result.cost_usd)}.")
        validation = self._validate(plan, result)
        if validation is not None:
            self.validation_records = validation.records
            record.validation_cost = (validation.agent_cost_usd or 0.0) + validation.judge_cost_usd
        if self.args.patch_only is not None:
            if shown != patch:
                raise FlywheelError(
                    "the patch's lines hold a secret or text matching the redact patterns, so it is not "
                    "written to a file; nothing changed. Answer y without --patch-only to apply it instead."
                )
            where = write_patch(self.args.patch_only, patch)
            record.status = "patch_written"
            self.outcome["patch"] = where
            if where != "stdout":
                self.out.line(
                    f"Wrote the patch to {where} (`git apply {where}` applies it); nothing else changed."
                )
            return 0
        return self._decide(plan, result, validation, record)

    def _propose(self, plan: FixPlan, redactor: Redactor) -> FixerResult:
        from pytest_flywheel.fix.agent import FixerConfig, run_fixer
        from pytest_flywheel.fix.area import ProjectArea
        from pytest_flywheel.fix.context import opening_message
        from pytest_flywheel.fix.model import choose_model
        from pytest_flywheel.fix.tools import FixerTools

        choice = choose_model(self.settings, model=self.args.model)
        self.validation_arguments = list(choice.validation_arguments)
        try:
            if choice.note:
                self.out.note(choice.note)
            self.area = ProjectArea.build(
                self.settings.root,
                corpus_dir=self.settings.dir,
                store=self.settings.store,
                redact_patterns=redactor.patterns,
            )
            corpus = self.area.corpus.as_posix() if self.area.corpus is not None else None
            tools = FixerTools(self.area, redact=redactor.text)
            config = FixerConfig(
                model=choice.model,
                max_turns=self.args.max_turns,
                max_tokens=self.args.max_tokens,
                max_cost_usd=self.args.max_cost,
                prices=self.settings.prices,
            )
            return run_fixer(
                redactor.text(opening_message(plan, corpus=corpus)),
                tools,
                config=config,
                client=choice.client,
                progress=self._progress,
            )
        finally:
            choice.close()

    def _progress(self, tool: str, arguments: dict[str, Any], is_error: bool) -> None:
        detail = arguments.get("path") or arguments.get("pattern") or arguments.get("regex") or ""
        suffix = " (refused or failed)" if is_error else ""
        self.out.note(f"fixer: {tool} {str(detail)[:80]}".rstrip() + suffix)

    def _show_proposal(self, result: FixerResult, redactor: Redactor) -> None:
        out = self.out
        out.line()
        out.line("What the fixer found:")
        out.wrapped(redactor.text(result.summary))
        for refusal in result.refusals:
            out.line(f"Refused: {refusal.tool} {refusal.path}: {refusal.reason}.")
        if result.edits:
            out.line()
            out.line("Proposed edits (nothing is written yet):")
            for edit in result.edits:
                removed, added = edit.line_counts()
                out.line(f"  {edit.path} (-{removed} +{added})")
                for reason in edit.reasons:
                    out.wrapped(redactor.text(reason), indent="      ")

    # -- validation -----------------------------------------------------------------------------------

    def _validate(self, plan: FixPlan, result: FixerResult) -> Validation | None:
        from pytest_flywheel.fix.validate import validate

        out = self.out
        out.line()
        if self.args.no_validate:
            out.line("Not validated (--no-validate): the suite did not run with this change.")
            self.outcome["validation"] = None
            return None
        if not plan.suites:
            out.line(f"Not validated: no case was captured from trace {plan.trace_id}; capture one with "
                     "`flywheel suite add` to prove a fix.")  # fmt: skip
            self.outcome["validation"] = None
            return None
        validation = validate(
            settings=self.settings,
            files=self.area.files,
            edits=result.edits,
            suites=plan.suites,
            failing_nodeids=[case.nodeid for case in plan.failing],
            targets=[target.target for target in plan.targets],
            baseline=plan.baseline,
            extra_arguments=self.validation_arguments,
            progress=out.note,
        )
        self.outcome["validation"] = validation.to_dict()
        self._show_validation(plan, validation)
        return validation

    def _show_validation(self, plan: FixPlan, validation: Validation) -> None:
        from pytest_flywheel.cli.runs import change_lines

        out = self.out
        recorded = ", ".join(run.run_id[:12] for run in validation.runs if run.run_id)
        out.line(
            "Validation in a temporary copy of the project"
            + (f" (runs {recorded}, saved in the store with this fix)" if recorded else "")
            + ":"
        )
        for run in validation.runs:
            outcomes = run.case_outcomes()
            passed = sum(1 for outcome in outcomes.values() if outcome == "passed")
            out.line(f"  {run.label}: {passed} of {len(outcomes)} passed")
        if validation.problem:
            out.line(self._loud(f"VALIDATION DID NOT FINISH: {validation.problem}"))
            return
        rerecorded = validation.rerecorded
        verdicts = any(path.endswith("verdicts.jsonl") for path in validation.artifacts)
        out.line(
            f"  re-recorded: {len(rerecorded)} cassette(s)"
            + ("; new verdicts in verdicts.jsonl" if verdicts else "; no new verdict")
        )
        if validation.comparison is None:
            out.line("  (no earlier run of the suite to compare with)")
        else:
            out.line()
            for line in change_lines(validation.comparison):
                out.line(line)
            out.line()
            regressed = validation.changes("regressed") or [
                case.key
                for case in validation.comparison.cases
                if any(a.change == "regressed" for a in case.assertions)
            ]
            if regressed:
                out.line(
                    self._loud(
                        f"REGRESSION: with this change {len(regressed)} case(s) that passed before fail: "
                        f"{', '.join(regressed)}."
                    )
                )
            else:
                out.line("Nothing regressed.")
        agent = _money(validation.agent_cost_usd)
        out.line(
            f"Validation cost: {validation.judge_calls} judge call(s), {_money(validation.judge_cost_usd)}; "
            f"the re-recorded cases' agent calls, {agent}."
        )

    # -- the decision ---------------------------------------------------------------------------------

    def _decide(
        self, plan: FixPlan, result: FixerResult, validation: Validation | None, record: FixRecord
    ) -> int:
        out = self.out
        if self.args.yes:
            reason = self._not_automatic(validation)
            if reason:
                record.status = "refused"
                out.line(f"Not applied: {reason}. Rerun without --yes to decide, or with --patch-only FILE.")
                return 1
        else:
            out.line()
            try:
                answer = out.ask("Apply this change? [y/N] ")
            except KeyboardInterrupt:
                record.status = "declined"
                raise
            if answer is None or answer.strip().lower() not in ("y", "yes"):
                record.status = "declined"
                out.line("Nothing changed.")
                return 1
        self._apply(plan, result, validation)
        record.status = "applied"
        return 0

    @staticmethod
    def _not_automatic(validation: Validation | None) -> str | None:
        """Why --yes does not apply this fix on its own, or None when it does."""
        if validation is None:
            return None  # --no-validate: the user chose to apply unproven
        if validation.problem:
            return "the validation did not finish"
        if validation.regressed:
            return "the change regressed cases that passed before"
        if validation.comparison is not None and not validation.changes("fixed"):
            return "the change fixed no failing case"
        return None

    def _apply(self, plan: FixPlan, result: FixerResult, validation: Validation | None) -> None:
        from pytest_flywheel.fix.apply import apply_fix

        usable = validation is not None and not validation.problem
        applied = apply_fix(
            self.settings.root,
            result.edits,
            artifacts=validation.artifacts if usable and validation else {},
            originals=validation.originals if usable and validation else {},
        )
        self.outcome["applied"] = True
        self.outcome["written"] = {"sources": applied.sources, "corpus": applied.corpus}
        corpus = (
            f"; {len(applied.corpus)} file(s) of the flywheel folder (cassettes, verdicts)"
            if applied.corpus
            else ""
        )
        self.out.line(f"Applied: {', '.join(applied.sources)}{corpus}.")
        if plan.suites:
            suites = " ".join(f"--flywheel-suite={name}" for name in plan.suites)
            self.out.line(f"Next: pytest {suites}  (replays offline with what the validation recorded)")

    # -- helpers --------------------------------------------------------------------------------------

    def _record_outcome(self, record: FixRecord) -> None:
        from pytest_flywheel.fix.record import save_fix
        from pytest_flywheel.store import Store

        try:
            with Store(self.settings.store) as store:
                save_fix(store, record, self.validation_records)
        except Exception as exc:  # the record is a convenience; the fix's outcome stands
            self.out.note(f"this fix was not recorded in {self.settings.store}: {type(exc).__name__}: {exc}")

    def _patch_prefix(self) -> str:
        from pytest_flywheel.fix.area import git_toplevel

        root = self.settings.root.resolve()
        top = git_toplevel(root)
        if top is None or top == root:
            return ""
        try:
            return root.relative_to(top).as_posix() + "/"
        except ValueError:
            return ""

    def _coloured(self, diff: str) -> str:
        from pytest_flywheel.fix.patch import colour

        return colour(diff) if self.out.colour else diff

    def _loud(self, text: str) -> str:
        return f"{_LOUD}{text}{_RESET}" if self.out.colour else text


class Output:
    """Where the human-readable parts go: stdout, or stderr when stdout carries JSON."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.stream = sys.stderr if json_mode else sys.stdout
        self.colour = (
            not json_mode
            and sys.stdout.isatty()
            and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb"
        )

    def line(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """A progress note: always on stderr, so stdout holds only the outcome."""
        print(f"flywheel: {text}", file=sys.stderr, flush=True)

    def wrapped(self, text: str, indent: str = "  ") -> None:
        for paragraph in text.strip().splitlines() or [""]:
            self.line(
                textwrap.fill(paragraph, width=100, initial_indent=indent, subsequent_indent=indent) or ""
            )

    def ask(self, question: str) -> str | None:
        """The answer read from stdin, or None at its end."""
        print(question, end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline()
        if not sys.stdin.isatty():
            print(answer.strip(), file=sys.stderr, flush=True)  # a piped answer shows in the log
        elif not answer:
            print(file=sys.stderr)
        return answer.strip() if answer else None

    def result(self, value: dict[str, Any]) -> None:
        if self.json_mode:
            json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
            sys.stdout.write("\n")


def check_patch_destination(destination: str) -> Path:
    """The patch file's path, or an error when writing there could do harm or cannot work."""
    path = Path(destination).expanduser()
    if path.is_dir():
        raise FlywheelError(
            f"--patch-only {destination}: that is a folder; name a file to write the patch to."
        )
    if not path.parent.is_dir():
        raise FlywheelError(f"--patch-only {destination}: the folder {path.parent} does not exist.")
    if path.exists():
        try:
            with path.open("rb") as handle:
                head = handle.read(16)
        except OSError as exc:
            raise FlywheelError(
                f"--patch-only {destination}: cannot be read ({exc.strerror or exc})."
            ) from None
        if head and not head.startswith(b"diff --git "):
            raise FlywheelError(
                f"--patch-only {destination}: that file exists and is not a patch; name a new file."
            )
    return path


def write_patch(destination: str, patch: str) -> str:
    """Write the patch to a file (atomically) or, for '-', to stdout; returns where it went."""
    if destination == "-":
        sys.stdout.write(patch)
        sys.stdout.flush()
        return "stdout"
    from pytest_flywheel.files import write_atomic

    path = check_patch_destination(destination)
    try:
        write_atomic(path, patch)
    except OSError as exc:
        raise FlywheelError(
            f"--patch-only {destination}: the patch could not be written ({exc.strerror or exc})."
        ) from None
    return str(path)
