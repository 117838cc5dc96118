"""The pytest plugin (entry point ``pytest11: flywheel``).

Thin on purpose: options, ini keys, markers, the ``judge`` fixture and hooks that delegate to
``pytest_flywheel.pytest_plugin``. Each hook does a cheap check first and imports the heavy pieces
(suites, replay, the judge, the Anthropic SDK) only once a flywheel feature is in use, so installing
the package costs a pytest run that does not use it next to nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flywheel.pytest_plugin.options import STATE_KEY, FlywheelState, add_options, get_state

if TYPE_CHECKING:
    from pytest_flywheel.pytest_plugin.fixtures import JudgeFixture

SUITE_SUFFIXES = (".yaml", ".yml")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_flywheel import hookspecs  # body-less specs: cheap to import

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "assertion(*sentences): judge the test's return value against natural-language assertions",
    )
    from pytest_flywheel.pytest_plugin.settings import build_state

    state = build_state(config)
    config.stash[STATE_KEY] = state
    if state.options.uses_suites:
        from pytest_flywheel.pytest_plugin.collect import select_suites

        select_suites(state)
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_flywheel.pytest_plugin.xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(state), "flywheel-xdist")
    config.pluginmanager.register(_ReportListener(state), "flywheel-reports")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in SUITE_SUFFIXES:
        return None
    state = get_state(parent.config)
    if not state.wants_suite_file(file_path, parent.session):
        return None
    from pytest_flywheel.pytest_plugin.collect import SuiteFile

    return SuiteFile.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if not hasattr(item, "flywheel_next"):
        # Not a suite case: the transport patches suite cases keep in between them come out first.
        state = item.config.stash.get(STATE_KEY, None)
        if state is not None and state.runtime is not None:
            state.runtime.release_transport_patches()
        return
    # Under xdist a worker knows only the item it runs next; a case item may start that one ahead.
    if nextitem is not None:
        item.flywheel_next = nextitem


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object | None:
    if pyfuncitem.get_closest_marker("assertion") is None:
        return None
    from pytest_flywheel.pytest_plugin.marked import run_marked_test

    run_marked_test(pyfuncitem, get_state(pyfuncitem.config))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    result = getattr(item, "flywheel_result", None)
    if result is not None:
        from pytest_flywheel.pytest_plugin.reporting import attach_result

        attach_result(item, report, result)
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    # A hand-written test whose judge could not answer (or whose cassette missed) is an error, not a
    # failure, although it happened while the test function ran.
    if report.when == "call" and report.failed and getattr(report, "flywheel_error", False):
        return "error", "E", "ERROR"
    return None


class _ReportListener:
    """Collects the flywheel results carried by test reports (from this process or xdist workers)."""

    def __init__(self, state: FlywheelState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = getattr(report, "flywheel", None)
        if result is not None:
            self.state.get_runtime().record_report(report, result)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is None:
        return
    if state.runtime is None and (state.options.report is not None or state.options.uses_suites):
        state.get_runtime()  # a report was asked for: write it even when no case ran
    if state.runtime is not None:
        state.runtime.finish_session(session)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.runtime is None:
        return
    from pytest_flywheel.pytest_plugin.reporting import write_terminal_summary

    write_terminal_summary(state.runtime, terminalreporter)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        state.freeze_long_lived()  # pytest and the plugins, before suite files are read


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        state.freeze_long_lived()  # the collected items and the suite models


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # Last, so that pytest's own end-of-run garbage collections (unraisableexception's) still skip the
    # frozen objects: those are alive until here anyway, and walking them twice costs a large run
    # a noticeable part of a second.
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.unfreeze()
    if state is not None and state.runtime is not None:
        state.runtime.close()


@pytest.fixture
def judge(request: pytest.FixtureRequest) -> JudgeFixture:
    """The flywheel LLM judge, with the session's verdict cache.

    ``judge(output, assertion, *, input=None, trajectory=None) -> Verdict`` (passed, reason,
    confidence, cached); ``judge.expect(output, *assertions)`` raises ``AssertionError`` listing every
    failing assertion with the judge's reason. A judge that cannot answer raises ``JudgeError``.
    """
    from pytest_flywheel.pytest_plugin.fixtures import JudgeFixture

    return JudgeFixture(get_state(request.config), request.node)
