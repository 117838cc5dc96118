"""The session's flywheel runtime: the judge services, the verdict cache, the redactor, the run-ahead
pipeline, and the results gathered from test reports. Built on first use (see ``FlywheelState``).

The verdict cache is read once per session and written once, at session end, by the controller only:
xdist workers send their new verdicts and used keys through ``config.workeroutput`` and the controller
merges them (``xdist.py``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flywheel.pytest_plugin.options import FlywheelOptions, FlywheelState
from pytest_flywheel.pytest_plugin.outcome import CaseOutcome, outcome_from_result
from pytest_flywheel.pytest_plugin.pipeline import CasePipeline

if TYPE_CHECKING:
    from pytest_flywheel.config import Settings
    from pytest_flywheel.judge.cache import VerdictCache, WriteResult
    from pytest_flywheel.judge.checks import CheckResult
    from pytest_flywheel.judge.service import CachedJudge
    from pytest_flywheel.judge.types import Judge
    from pytest_flywheel.replay import Redactor
    from pytest_flywheel.replay.patching import PatchHold

WORKER_OUTPUT_KEY = "flywheel_verdicts"

_NO_HOOK_JUDGE = object()


class FlywheelWarning(pytest.PytestWarning):
    """Something went wrong around the tests (recording the run, writing a file) without failing them."""


class FlywheelRuntime:
    """Everything a flywheel session holds once a flywheel feature is used."""

    def __init__(self, state: FlywheelState) -> None:
        self.state = state
        self.config = state.config
        self.started_at = state.started_at
        self.outcomes: dict[str, CaseOutcome] = {}
        self.write_result: WriteResult | None = None
        self.unused_keys: list[str] = []
        self.report: dict[str, Any] | None = None
        #: Failed suite cases that --flywheel-min-pass-rate let pass the run (0: none, or not set).
        self.tolerated_failures = 0
        #: Problems around the tests (the verdict file or the run not written), also shown in the summary.
        self.problems: list[str] = []
        self._cache: VerdictCache | None = None
        self._services: dict[str, CachedJudge] = {}
        self._hook_judge: Any = None
        self._redactor: Redactor | None = None
        self._pipeline: CasePipeline | None = None
        self._patch_hold: PatchHold | None = None

    @property
    def options(self) -> FlywheelOptions:
        return self.state.options

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def is_worker(self) -> bool:
        return self.state.is_worker

    # -- the pieces, each built on first use ----------------------------------------------------------

    @property
    def redactor(self) -> Redactor:
        if self._redactor is None:
            from pytest_flywheel.replay import build_redactor

            self._redactor = build_redactor(self.settings, _PluginRedactHook(self.config))
        return self._redactor

    @property
    def cache(self) -> VerdictCache:
        if self._cache is None:
            from pytest_flywheel.judge.cache import VerdictCache

            self._cache = VerdictCache.load(self.settings.verdicts_path, redact=self.redactor.text)
        return self._cache

    @property
    def pipeline(self) -> CasePipeline:
        if self._pipeline is None:
            self._pipeline = CasePipeline(self)
        return self._pipeline

    def hold_transport_patches(self) -> None:
        """Keep vcrpy's transport patches in from one suite case to the next (the plugin releases them
        before any other test runs, and at session end), instead of patching them in and out for
        every case."""
        if self._patch_hold is None:
            from pytest_flywheel.replay.patching import PatchHold

            self._patch_hold = PatchHold()
        self._patch_hold.acquire()

    def release_transport_patches(self) -> None:
        """Take vcrpy's transport patches out (unless a replay session is open right now)."""
        if self._patch_hold is not None:
            self._patch_hold.release()

    def model_for(self, requested: str | None) -> str:
        """The judge model: the option (command line / ini) > the suite file's > [tool.flywheel] / env."""
        return self.options.judge_model or requested or self.settings.judge_model

    def service_for(self, requested_model: str | None = None) -> CachedJudge:
        """The caching judge for a model, created on first use (one per model per session)."""
        from pytest_flywheel.judge.service import CachedJudge

        model = self.model_for(requested_model)
        service = self._services.get(model)
        if service is None:
            service = CachedJudge(
                self._make_judge(model),
                self.cache,
                offline=self.options.offline,
                update=self.options.update_verdicts,
            )
            self._services[model] = service
        return service

    def _make_judge(self, model: str) -> Judge:
        if self._hook_judge is None:
            hook = getattr(self.config.hook, "pytest_flywheel_make_judge", None)
            answer = hook(config=self.config, settings=self.settings) if hook is not None else None
            self._hook_judge = answer if answer is not None else _NO_HOOK_JUDGE
        if self._hook_judge is not _NO_HOOK_JUDGE:
            judge: Judge = self._hook_judge
            return judge
        from pytest_flywheel.judge.anthropic_judge import make_default_judge

        return make_default_judge(self.settings, model=model)

    def custom_check(self, output: Any, trajectory: list[dict[str, Any]]) -> Any:
        """``run_check``'s ``custom`` argument: the ``pytest_flywheel_check`` hook for unknown kinds."""
        hook = getattr(self.config.hook, "pytest_flywheel_check", None)
        if hook is None:
            return None

        def answer(kind: str, spec: dict[str, Any]) -> CheckResult | None:
            result: CheckResult | None = hook(name=kind, spec=spec, output=output, trajectory=trajectory)
            return result

        return answer

    def verdicts_judged(self, item: pytest.Item, verdicts: list[Any]) -> None:
        hook = getattr(self.config.hook, "pytest_flywheel_verdicts", None)
        if hook is not None and verdicts:
            hook(item=item, verdicts=verdicts)

    # -- results ---------------------------------------------------------------------------------------

    def record_report(self, report: pytest.TestReport, result: dict[str, Any]) -> None:
        """Keep the outcome a test report carries (reports from xdist workers arrive here too); called
        for each phase, so the durations add up and the status is the test's overall one."""
        outcome = outcome_from_result(result)
        previous = self.outcomes.get(report.nodeid)
        outcome.duration_ms = (previous.duration_ms if previous else 0.0) + _duration_ms(report)
        outcome.status = _status(previous.status if previous else None, report)
        self.outcomes[report.nodeid] = outcome

    def stats(self) -> dict[str, Any]:
        """Verdicts cached / newly judged and the judge's usage, over every recorded outcome."""
        totals = {"cached": 0, "new": 0, "calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
        for outcome in self.outcomes.values():
            judge = outcome.judge
            totals["cached"] += judge.cached
            totals["new"] += judge.new
            totals["calls"] += judge.calls
            totals["input_tokens"] += judge.input_tokens
            totals["output_tokens"] += judge.output_tokens
            totals["cost_usd"] += judge.cost_usd
        totals["tokens"] = totals["input_tokens"] + totals["output_tokens"]
        totals["cost_usd"] = round(totals["cost_usd"], 6)
        return totals

    # -- session end -----------------------------------------------------------------------------------

    def finish_session(self, session: pytest.Session) -> None:
        """Worker: hand the verdicts to the controller. Controller: write the verdict file once, the JSON
        report, record the run, and fail the session when a pass rate is below the minimum."""
        self.release_transport_patches()
        if self._pipeline is not None:
            self._pipeline.drain()
        for service in self._services.values():
            service.close()
        if self.is_worker:
            if self._cache is not None:
                workeroutput: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
                workeroutput[WORKER_OUTPUT_KEY] = self._cache.export_session()
            return
        self._write_verdicts()
        from pytest_flywheel.pytest_plugin.report import build_report, write_report

        report = self.redactor.value(build_report(self))  # no secret reaches the report or the store
        self.report = report
        if self.options.report is not None:
            try:
                write_report(report, self._report_path())
            except OSError as exc:
                self._warn(f"the report was not written to {self._report_path()}: {exc}")
        self._record_run(report)
        if self.options.min_pass_rate is not None:
            self._apply_min_pass_rate(session, met=bool(report["passed_min_pass_rate"]))

    def _apply_min_pass_rate(self, session: pytest.Session, *, met: bool) -> None:
        """With ``--flywheel-min-pass-rate`` the suites' pass rates gate the run.

        Below the minimum, the run fails even when pytest saw no failure. At or above it, failed suite
        cases are tolerated (an LLM agent's suite is allowed its known failures), but nothing else is:
        an error (a case that could not be checked), a failed hand-written test or any other failing
        test still fails the run.
        """
        if not met:
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        if session.exitstatus != pytest.ExitCode.TESTS_FAILED:
            return
        outcomes = self.outcomes.values()
        tolerated = sum(1 for o in outcomes if o.suite and o.status == "failed")
        if tolerated and tolerated == session.testsfailed and not any(o.status == "error" for o in outcomes):
            self.tolerated_failures = tolerated
            session.exitstatus = pytest.ExitCode.OK

    def merge_worker(self, payload: dict[str, Any]) -> None:
        """Merge one xdist worker's new verdicts and used keys (controller side)."""
        self.cache.merge_session(payload)

    def ran_cases(self) -> list[str]:
        """Labels (node ids) of the tests whose every assertion got an answer in this run."""
        return sorted(nodeid for nodeid, outcome in self.outcomes.items() if outcome.judged)

    def _write_verdicts(self) -> None:
        if self._cache is None and not self.outcomes:
            return
        cache = self.cache
        ran = self.ran_cases()
        self.unused_keys = cache.unused_keys(ran)
        if not cache.new_entries and not (self.options.prune and (self.unused_keys or cache.corrupt_lines)):
            return
        try:
            self.write_result = cache.write(prune=self.options.prune, ran_cases=ran)
        except Exception as exc:  # the tests ran; say so loudly, but keep their result
            self._warn(f"the verdict file was not written: {exc}")
            return
        if self.options.prune:
            self.unused_keys = []

    def _report_path(self) -> Any:
        path = self.options.report
        assert path is not None
        return path if path.is_absolute() else self.config.invocation_params.dir / path

    def _record_run(self, report: dict[str, Any]) -> None:
        try:
            from pytest_flywheel import runs
        except ImportError:
            return
        record_run = getattr(runs, "record_run", None)
        if not callable(record_run) or not self.outcomes:
            return
        try:
            record_run(self.settings, report)
        except Exception as exc:  # recording is a convenience: it must never break the test run
            self._warn(f"this run was not recorded in {self.settings.store}: {type(exc).__name__}: {exc}")

    def _warn(self, message: str) -> None:
        self.problems.append(message)
        warnings.warn(FlywheelWarning(message), stacklevel=2)

    def close(self) -> None:
        self.release_transport_patches()
        for service in self._services.values():
            service.close()


class _PluginRedactHook:
    """The ``pytest_flywheel_redact`` hook as the redactor's last step; ``active()`` tells the redactor
    whether any plugin implements it (when none does, the redactor skips the call for every piece of
    text)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def active(self) -> bool:
        hook = getattr(self.config.hook, "pytest_flywheel_redact", None)
        return hook is not None and bool(hook.get_hookimpls())

    def __call__(self, text: str) -> str | None:
        answer = self.config.hook.pytest_flywheel_redact(text=text)
        return answer if isinstance(answer, str) else None


def _duration_ms(report: pytest.TestReport) -> float:
    return float(getattr(report, "duration", 0.0) or 0.0) * 1000.0


def _status(previous: str | None, report: pytest.TestReport) -> str:
    """The test's status after ``report``: passed, failed, error or skipped."""
    if report.when == "setup":
        return "error" if report.failed else "skipped" if report.skipped else "passed"
    if report.when == "call":
        if report.failed:
            return "error" if getattr(report, "flywheel_error", False) else "failed"
        return "skipped" if report.skipped else "passed"
    if report.failed and previous in (None, "passed"):
        return "error"
    return previous or "passed"
