"""A suite run freezes what collection built out of the cyclic GC's sight, and releases it after."""

from __future__ import annotations

import gc

from tests.plugin.conftest import Project


def test_collected_objects_are_frozen_during_a_suite_run_and_released_after(project: Project) -> None:
    project.pytester.makepyfile(
        test_frozen="""
        import gc

        def test_frozen_while_suites_run():
            assert gc.get_freeze_count() > 0
        """
    )
    assert gc.get_freeze_count() == 0
    result = project.pytester.runpytest("--flywheel-suite=qa", "-k", "refund or frozen")
    result.assert_outcomes(passed=2, deselected=1)
    assert gc.get_freeze_count() == 0  # unfrozen at unconfigure: nothing leaks past the session

    plain = project.pytester.runpytest("test_frozen.py")  # no suite: no freezing
    plain.assert_outcomes(failed=1)


def test_the_agent_s_modules_are_frozen_too_once_its_first_case_ran(project: Project) -> None:
    """The target is imported when its first case runs (after collection): what it built is frozen then."""
    project.pytester.makepyfile(
        agent_state="""
        CREATED_AT_IMPORT = [{"a": "container the cyclic GC tracks"}]
        """,
        test_zz_frozen="""
        import gc
        import sys

        def test_the_agent_module_state_is_frozen():
            state = sys.modules["agent_state"].CREATED_AT_IMPORT  # imported by the suite's agent run
            assert not any(item is state for item in gc.get_objects())  # (frozen: in no generation)
        """,
    )
    agent = project.path / "agent.py"
    agent.write_text("import agent_state\n" + agent.read_text())
    result = project.pytester.runpytest("--flywheel-suite=qa", "-k", "refund or frozen", "-p", "no:randomly")
    result.assert_outcomes(passed=2, deselected=1)


def test_what_is_alive_before_collection_is_frozen_before_suite_files_are_read(project: Project) -> None:
    project.pytester.makeconftest(
        """
        import gc

        FROZEN_WHEN_COLLECTING = []

        def pytest_collect_file(file_path, parent):
            if file_path.suffix == ".yaml":
                FROZEN_WHEN_COLLECTING.append(gc.get_freeze_count())
        """
    )
    project.pytester.makepyfile(
        test_zz_frozen="""
        import sys

        def test_the_suite_file_was_read_with_the_heap_frozen():
            counts = sys.modules["conftest"].FROZEN_WHEN_COLLECTING
            assert counts and all(count > 0 for count in counts)
        """
    )
    result = project.pytester.runpytest("--flywheel-suite=qa", "-k", "refund or frozen", "-p", "no:randomly")
    result.assert_outcomes(passed=2, deselected=1)
