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

from pytest_flywheel.pytest_plugin.options import add_options
from pytest_flywheel.pytest_plugin.session import SESSION_KEY, FlywheelSession, get_session

if TYPE_CHECKING:
    from pytest_flywheel.pytest_plugin.fixtures import JudgeFixture

SUITE_SUFFIXES = (".yaml", ".yml")
OWN_MARKER = "flywheel_assertion"
SHORT_MARKER = "assertion"
_MARKER_HELP = "(*sentences): judge the test's return value against natural-language assertions (pytest-flywheel)"


class MarkerClashWarning(pytest.PytestWarning):
    """The project registers its own ``assertion`` marker; pytest-flywheel leaves it alone."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_flywheel import hookspecs  # body-less specs: cheap to import

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def _project_has_own_assertion_marker(config: pytest.Config) -> bool:
    for line in config.getini("markers"):
        name = str(line).split(":", 1)[0].split("(", 1)[0].strip()
        if name == SHORT_MARKER:
            return True
    return False


@pytest.hookimpl(trylast=True)  # after conftest files registered their own markers
def pytest_configure(config: pytest.Config) -> None:
    from pytest_flywheel.pytest_plugin.settings import read_session_settings

    owns_short_marker = not _project_has_own_assertion_marker(config)
    config.addinivalue_line("markers", OWN_MARKER + _MARKER_HELP)
    if owns_short_marker:
        config.addinivalue_line("markers", SHORT_MARKER + _MARKER_HELP)
    else:
        config.issue_config_time_warning(
            MarkerClashWarning(
                "this project registers its own 'assertion' marker, so pytest-flywheel leaves it alone; "
                "mark tests for the LLM judge with @pytest.mark.flywheel_assertion(...) instead"
            ),
            stacklevel=2,
        )
    flywheel = FlywheelSession(config, read_session_settings(config))
    flywheel.owns_assertion_marker = owns_short_marker
    config.stash[SESSION_KEY] = flywheel
    if flywheel.options.uses_suites:
        from pytest_flywheel.pytest_plugin.collect import select_suites

        select_suites(flywheel)
    if flywheel.options.min_agreement is not None:
        from pytest_flywheel.pytest_plugin.collect import require_judge_agreement

        require_judge_agreement(flywheel)
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_flywheel.pytest_plugin.xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(flywheel), "flywheel-xdist")
    config.pluginmanager.register(_ReportListener(flywheel), "flywheel-reports")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    flywheel = config.stash.get(SESSION_KEY, None)
    if flywheel is None or flywheel.options.shard is None:
        return
    from pytest_flywheel.pytest_plugin.collect import shard_items

    kept, dropped = shard_items(items, flywheel.options.shard)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in SUITE_SUFFIXES:
        return None
    flywheel = parent.config.stash.get(SESSION_KEY, None)
    if flywheel is None or not _wants_suite_file(flywheel, file_path, parent.session):
        return None
    from pytest_flywheel.pytest_plugin.collect import SuiteFile

    return SuiteFile.from_parent(parent, path=file_path)


def _wants_suite_file(flywheel: FlywheelSession, path: Path, session: pytest.Session) -> bool:
    """A selected suite, or a file in the suites folder named on the command line
    (``pytest flywheel/suites/qa.yaml::case-1``)."""
    resolved = path.resolve()
    if resolved in flywheel.suite_paths:
        return True
    if not session.isinitpath(path):
        return False
    return resolved.is_relative_to(flywheel.settings.suites_dir.resolve())


def _marked(item: pytest.Item, flywheel: FlywheelSession) -> bool:
    if item.get_closest_marker(OWN_MARKER) is not None:
        return True
    return flywheel.owns_assertion_marker and item.get_closest_marker(SHORT_MARKER) is not None


def _touched(item: pytest.Item, flywheel: FlywheelSession) -> bool:
    """Whether the plugin takes part in ``item``: a suite case, a marked test, a ``judge`` user."""
    from pytest_flywheel.pytest_plugin.case_spec import CASE_SPEC

    return (
        CASE_SPEC in item.stash
        or _marked(item, flywheel)
        or "judge" in getattr(item, "fixturenames", ())
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    from pytest_flywheel.pytest_plugin.case_spec import CASE_SPEC, NEXT_ITEM

    if CASE_SPEC not in item.stash:
        # Not a suite case: the transport patches suite cases keep in between them come out first.
        flywheel = item.config.stash.get(SESSION_KEY, None)
        if flywheel is not None:
            flywheel.release_transport_patches()
        return
    # Under xdist a worker knows only the item it runs next; a case item may start that one ahead.
    item.stash[NEXT_ITEM] = nextitem


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> object | None:
    flywheel = get_session(pyfuncitem.config)
    if _marked(pyfuncitem, flywheel):
        from pytest_flywheel.pytest_plugin.marked import run_marked_test

        run_marked_test(pyfuncitem, flywheel)
        return True
    if "judge" in pyfuncitem.fixturenames:
        from pytest_flywheel.pytest_plugin.marked import run_test_in_cassette

        run_test_in_cassette(pyfuncitem, flywheel)
        return True
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    flywheel = item.config.stash.get(SESSION_KEY, None)
    if flywheel is not None and _touched(item, flywheel):
        from pytest_flywheel.pytest_plugin.touched import attach_result

        attach_result(item, report, flywheel)
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    # A hand-written test whose judge could not answer (or whose cassette missed) is an error, not a
    # failure, although it happened while the test function ran.
    if report.when == "call" and report.failed and getattr(report, "flywheel_error", False):
        return "error", "E", "ERROR"
    return None


class _ReportListener:
    """Collects the flywheel results carried by test reports (from this process or xdist workers)."""

    def __init__(self, flywheel: FlywheelSession) -> None:
        self.flywheel = flywheel

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = getattr(report, "flywheel", None)
        if result is not None:
            self.flywheel.results.record(report, result)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.flywheel.collection.partial_files.add(report.nodeid.partition("::")[0])

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.flywheel.collection.add_items(item.nodeid for item in items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from pytest_flywheel.pytest_plugin.verdicts import record_collection

        record_collection(self.flywheel.collection, session)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    flywheel = session.config.stash.get(SESSION_KEY, None)
    if flywheel is not None:
        flywheel.finish(session)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    flywheel = config.stash.get(SESSION_KEY, None)
    if flywheel is None or flywheel.end is None:
        return
    from pytest_flywheel.pytest_plugin.reporting import write_terminal_summary

    write_terminal_summary(flywheel.end, terminalreporter, flywheel.redact)


def pytest_unconfigure(config: pytest.Config) -> None:
    flywheel = config.stash.get(SESSION_KEY, None)
    if flywheel is not None:
        flywheel.close()


@pytest.fixture
def judge(request: pytest.FixtureRequest) -> JudgeFixture:
    """The flywheel LLM judge, with the session's verdict cache.

    ``judge(output, assertion, *, input=None, trajectory=None) -> Verdict`` (passed, reason,
    confidence, cached); ``judge.expect(output, *assertions)`` raises ``AssertionError`` listing every
    failing assertion with the judge's reason. A judge that cannot answer raises ``JudgeError``. The
    test runs inside its own cassette (``flywheel/cassettes/<test file>/<test name>.yaml``), so the
    agent calls it makes replay like a marked test's.
    """
    from pytest_flywheel.pytest_plugin.fixtures import JudgeFixture

    return JudgeFixture(get_session(request.config), request.node)
