"""The session's judging: one caching judge per model over the session's verdict cache, and the
plugin hooks around it (``pytest_flywheel_make_judge``, ``pytest_flywheel_check``,
``pytest_flywheel_verdicts``).

The verdict cache appends each new verdict to ``flywheel/verdicts.jsonl`` as its judge call returns
and is merged into the file once at session end (:mod:`pytest_flywheel.judge.cache`); under
pytest-xdist each worker appends its own verdicts and hands its used keys to the controller
(:mod:`pytest_flywheel.pytest_plugin.xdist`), which writes the merged file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from pytest_flywheel.config import Settings
    from pytest_flywheel.judge.cache import VerdictCache
    from pytest_flywheel.judge.checks import CheckResult
    from pytest_flywheel.judge.service import CachedJudge
    from pytest_flywheel.judge.types import Judge, Verdict
    from pytest_flywheel.pytest_plugin.options import FlywheelOptions

_NO_HOOK_JUDGE = object()


class Judging:
    """Judges and the verdict cache of one session, each built on first use."""

    def __init__(
        self,
        *,
        hook: Any,
        settings: Settings,
        options: FlywheelOptions,
        config: pytest.Config,
        redact: Callable[[str], str],
        redact_value: Callable[[Any], Any] | None = None,
    ) -> None:
        self._hook = hook
        self._config = config
        self.settings = settings
        self.options = options
        self._redact = redact
        self._redact_value = redact_value
        self._cache: VerdictCache | None = None
        self._services: dict[str, CachedJudge] = {}
        self._hook_judge: Any = None
        self._label_map: dict[str, Any] | None = None

    @property
    def cache(self) -> VerdictCache:
        """The verdict cache, read from the file on first use."""
        if self._cache is None:
            from pytest_flywheel.judge.cache import VerdictCache

            self._cache = VerdictCache.load(self.settings.verdicts_path, redact=self._redact)
        return self._cache

    @property
    def cache_loaded(self) -> bool:
        return self._cache is not None

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
                repeats=self.options.judge_repeats,
                override=self.apply_labels,
                redact=self._redact_value,
            )
            self._services[model] = service
        return service

    def apply_labels(self, verdicts: list[Verdict]) -> list[Verdict]:
        """People's labels (``flywheel/labels.jsonl``) decide the verdicts they label, and say so."""
        labels = self._labels()
        if not labels:
            return verdicts
        from dataclasses import replace

        decided: list[Verdict] = []
        for verdict in verdicts:
            label = labels.get(verdict.key) if verdict.key else None
            if label is None:
                decided.append(verdict)
                continue
            said = "pass" if verdict.passed else "fail"
            note = f": {label.note}" if label.note else ""
            decided.append(
                replace(
                    verdict,
                    passed=label.passed,
                    labelled=True,
                    judge_passed=verdict.passed,
                    reason=f"labelled {'pass' if label.passed else 'fail'} by a person{note} "
                    f"(the judge said {said}: {verdict.reason})",
                )
            )
        return decided

    def _labels(self) -> dict[str, Any]:
        if self._label_map is None:
            from pytest_flywheel.trust.labels import LabelFile, labels_path

            path = labels_path(self.settings)
            self._label_map = {label.key: label for label in LabelFile.load(path)} if path.exists() else {}
        return self._label_map

    def _make_judge(self, model: str) -> Judge:
        if self._hook_judge is None:
            answer = self._hook.pytest_flywheel_make_judge(config=self._config, settings=self.settings)
            self._hook_judge = answer if answer is not None else _NO_HOOK_JUDGE
        if self._hook_judge is not _NO_HOOK_JUDGE:
            judge: Judge = self._hook_judge
            return judge
        from pytest_flywheel.judge.anthropic_judge import make_default_judge

        return make_default_judge(self.settings, model=model)

    def custom_check(self, output: Any, trajectory: list[dict[str, Any]]) -> Callable[..., Any]:
        """``run_check``'s ``custom`` argument: the ``pytest_flywheel_check`` hook for kinds the
        checks do not know (a suite file's ``{custom: {kind: ..., ...}}`` or any unknown key)."""

        def answer(kind: str, spec: dict[str, Any]) -> CheckResult | None:
            result: CheckResult | None = self._hook.pytest_flywheel_check(
                name=kind, spec=spec, output=output, trajectory=trajectory
            )
            return result

        return answer

    def verdicts_judged(self, item: pytest.Item, verdicts: list[Verdict]) -> None:
        """Tell ``pytest_flywheel_verdicts`` implementations about a test's verdicts."""
        if verdicts:
            self._hook.pytest_flywheel_verdicts(item=item, verdicts=verdicts)

    def close(self) -> None:
        """Wait for judge calls still running and release the judges' threads."""
        for service in self._services.values():
            service.close()
