"""A pytest session's flywheel state, kept in ``config.stash[SESSION_KEY]`` (never in module globals).

:class:`FlywheelSession` holds separate pieces, each built on first use so that a run touching no
flywheel feature imports none of them, and each with a narrow job of its own:

* :class:`~pytest_flywheel.pytest_plugin.results.ResultsCollector`: the touched tests' outcomes;
* :class:`~pytest_flywheel.pytest_plugin.judging.Judging`: the judges and the verdict cache;
* :class:`~pytest_flywheel.pytest_plugin.runner.CaseReplay`: cassettes, transport patches, redaction;
* :class:`~pytest_flywheel.pytest_plugin.pipeline.CasePipeline`: the run-ahead of suite cases.

None of them knows the session; :meth:`FlywheelSession.finish` hands them to the functions that end a
session (verdicts, gate, report, run record), which work on values. Only the plugin's hooks, items
and fixtures reach the session, through :func:`get_session`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flywheel.pytest_plugin.options import FlywheelOptions
from pytest_flywheel.pytest_plugin.settings import SessionSettings
from pytest_flywheel.pytest_plugin.verdicts import CollectionRecord

if TYPE_CHECKING:
    from pytest_flywheel.config import Settings
    from pytest_flywheel.pytest_plugin.judging import Judging
    from pytest_flywheel.pytest_plugin.pipeline import CasePipeline
    from pytest_flywheel.pytest_plugin.reporting import SessionEnd
    from pytest_flywheel.pytest_plugin.results import ResultsCollector
    from pytest_flywheel.pytest_plugin.runner import CaseReplay
    from pytest_flywheel.redaction import Redactor

WORKER_OUTPUT_KEY = "flywheel_verdicts"


class FlywheelSession:
    """What one pytest session holds for pytest-flywheel (see the module docstring)."""

    def __init__(self, config: pytest.Config, settings: SessionSettings) -> None:
        self.config = config
        self.root: Path = settings.root
        self.section = settings.section
        self.options: FlywheelOptions = settings.options
        self.started_at = time.time()
        self.collection = CollectionRecord()
        #: Suite files selected by --flywheel-suite, resolved, with their suite names.
        self.suite_paths: dict[Path, str] = {}
        #: Case tags already registered as markers this session.
        self.registered_markers: set[str] = set()
        #: Whether ``@pytest.mark.assertion`` means ours (False when the project registers its own).
        self.owns_assertion_marker = True
        self.end: SessionEnd | None = None
        self._results: ResultsCollector | None = None
        self._settings: Settings | None = None
        self._redactor: Redactor | None = None
        self._judging: Judging | None = None
        self._replay: CaseReplay | None = None
        self._pipeline: CasePipeline | None = None

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    # -- the pieces, each built on first use ----------------------------------------------------------

    @property
    def results(self) -> ResultsCollector:
        if self._results is None:
            from pytest_flywheel.pytest_plugin.results import ResultsCollector

            self._results = ResultsCollector()
        return self._results

    @property
    def has_results(self) -> bool:
        return self._results is not None and bool(self._results)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from pytest_flywheel.config import load_settings

            self._settings = load_settings(self.root)
        return self._settings

    @property
    def redactor(self) -> Redactor:
        if self._redactor is None:
            from pytest_flywheel.redaction import build_redactor

            self._redactor = build_redactor(self.settings, _PluginRedactHook(self.config))
        return self._redactor

    def redact(self, text: str) -> str:
        """``text`` with secrets scrubbed; the identity until redaction is needed for real."""
        return self.redactor.text(text) if text else text

    @property
    def judging(self) -> Judging:
        if self._judging is None:
            from pytest_flywheel.pytest_plugin.judging import Judging

            self._judging = Judging(
                hook=self.config.hook,
                config=self.config,
                settings=self.settings,
                options=self.options,
                redact=self.redactor.text,
                redact_value=self.redactor.value,
            )
        return self._judging

    @property
    def replay(self) -> CaseReplay:
        if self._replay is None:
            from pytest_flywheel.pytest_plugin.runner import CaseReplay
            from pytest_flywheel.replay.transport import TransportPatches

            fast = os.environ.get("FLYWHEEL_REPLAY_FAST_PATH", "").strip().lower() not in ("0", "off", "no")
            self._replay = CaseReplay(
                record_mode=self.options.record,
                redactor=self.redactor,
                patches=TransportPatches(fast=None if fast else False),
                live_tools=self.options.live_tools,
            )
        return self._replay

    @property
    def pipeline(self) -> CasePipeline:
        if self._pipeline is None:
            from pytest_flywheel.pytest_plugin.pipeline import CasePipeline

            self._pipeline = CasePipeline(
                replay=self.replay, judging=self.judging, root=self.settings.root, is_worker=self.is_worker
            )
        return self._pipeline

    def release_transport_patches(self) -> None:
        """Take the transport patches out before a test that is not a suite case runs."""
        if self._replay is not None:
            self._replay.release()

    # -- session end -----------------------------------------------------------------------------------

    def finish(self, session: pytest.Session) -> None:
        """Worker: hand the verdicts to the controller. Controller: merge and write the verdict file,
        apply the pass-rate gate, write the JSON report, record the run."""
        self.release_transport_patches()
        if self._pipeline is not None:
            self._pipeline.drain()
        if self._judging is not None:
            self._judging.close()
        if self.is_worker:
            if self._judging is not None and self._judging.cache_loaded:
                workeroutput: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
                workeroutput[WORKER_OUTPUT_KEY] = self._judging.cache.export_session()
            return
        wants_report = self.options.report is not None or self.options.uses_suites
        if not self.has_results and (self._judging is None or not self._judging.cache_loaded) and not wants_report:
            return
        from pytest_flywheel.pytest_plugin.ending import EndInputs, end_session

        cache = self.judging.cache if self.has_results or self._judging is not None else None
        self.end = end_session(
            EndInputs(
                results=self.results.snapshot(),
                cache=cache,
                collection=self.collection,
                settings=self.settings,
                options=self.options,
                redactor=self.redactor,
                started_at=self.started_at,
                invocation_dir=Path(self.config.invocation_params.dir),
                environ={
                    name: os.environ[name] for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY") if name in os.environ
                },
            ),
            session,
        )

    def merge_worker(self, payload: dict[str, Any]) -> None:
        """Merge one xdist worker's new verdicts and used keys (controller side)."""
        self.judging.cache.merge_session(payload)

    def close(self) -> None:
        self.release_transport_patches()
        if self._judging is not None:
            self._judging.close()


class _PluginRedactHook:
    """The ``pytest_flywheel_redact`` hook as the redactor's last step; ``active()`` tells the redactor
    whether any plugin implements it (when none does, the redactor skips the call for every piece of
    text)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._active: bool | None = None

    def active(self) -> bool:
        # Asked for every piece of text redacted; the plugins implementing the hook are known once
        # collection is done (the redactor is first needed when a test runs), so asked once.
        if self._active is None:
            hook = getattr(self.config.hook, "pytest_flywheel_redact", None)
            self._active = hook is not None and bool(hook.get_hookimpls())
        return self._active

    def __call__(self, text: str) -> str | None:
        answer = self.config.hook.pytest_flywheel_redact(text=text)
        return answer if isinstance(answer, str) else None


SESSION_KEY = pytest.StashKey[FlywheelSession]()


def get_session(config: pytest.Config) -> FlywheelSession:
    return config.stash[SESSION_KEY]
