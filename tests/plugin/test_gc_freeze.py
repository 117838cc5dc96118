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
