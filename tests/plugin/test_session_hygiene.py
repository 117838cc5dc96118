"""A flywheel session leaves the user's world as it found it: no garbage-collector tricks that change
their tests, no test-run spans among production traces; and the verdict file keeps only what a run
can still use."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_flywheel.config import load_settings
from pytest_flywheel.store import Store
from tests.plugin.conftest import Project

WEAKREF_TEST = """
import gc
import weakref


class Node:
    pass


def test_a_freed_cycle_is_collected():
    node = Node()
    node.self = node  # a reference cycle: only the cyclic collector frees it
    ref = weakref.ref(node)
    del node
    gc.collect()
    assert ref() is None
"""


def test_a_plain_test_relying_on_gc_collect_passes_next_to_suite_cases(project: Project) -> None:
    project.pytester.makepyfile(test_weakref=WEAKREF_TEST)
    alone = project.pytester.runpytest("test_weakref.py")
    alone.assert_outcomes(passed=1)
    project.verdicts.parent.mkdir(parents=True, exist_ok=True)
    # suite cases first, then the plain test, in one session
    together = project.pytester.runpytest(
        "flywheel/suites/qa.yaml", "test_weakref.py", "--flywheel-suite=qa", "-p", "no:randomly", "-p", "no:xdist"
    )
    together.assert_outcomes(passed=2, failed=1)
    assert "test_weakref.py::test_a_freed_cycle_is_collected" not in together.stdout.str().split("short test")[-1]


TRACED_UNIT_TEST = """
from pytest_flywheel import track


@track(entrypoint=True, project_name="support-agent")
def answer(question):
    return "answer to " + question


def test_calls_the_traced_agent():
    assert answer("x") == "answer to x"
"""


def test_spans_made_in_a_test_session_stay_out_of_the_store_unless_asked(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_flywheel.cli.main import main

    monkeypatch.delenv("FLYWHEEL_TRACE_TESTS")  # the user's default
    store = load_settings(project.path).store
    project.pytester.makepyfile(test_unit=TRACED_UNIT_TEST)

    def traces() -> int:
        if not store.exists():
            return 0
        with Store(store) as opened:
            return int(opened.conn.execute("SELECT COUNT(*) FROM traces").fetchone()[0])

    before = traces()
    project.pytester.runpytest_subprocess("test_unit.py").assert_outcomes(passed=1)
    assert traces() == before
    monkeypatch.chdir(project.path)
    assert main(["stats", "--json"]) in (0, 1)

    # asked for with the documented setting, the same run stores its spans
    monkeypatch.setenv("FLYWHEEL_TRACE_TESTS", "1")
    project.pytester.runpytest_subprocess("test_unit.py").assert_outcomes(passed=1)
    assert traces() == before + 1


TWO_CASES = """\
version: 1
name: qa
target: agent:answer
cases:
  - id: refund
    input: {question: "a refund"}
    assertions: ["The reply must mention 'refund'"]
  - id: renamed-later
    input: {question: "my parcel"}
    assertions: ["The reply must mention 'parcel'"]
"""


def test_verdicts_of_a_renamed_case_and_a_deleted_test_file_are_listed_and_pruned(project: Project) -> None:
    project.write_suite("qa", TWO_CASES)
    project.pytester.makepyfile(
        test_marked=textwrap.dedent(
            """
            import pytest
            from agent import answer

            @pytest.mark.assertion("The reply must mention 'days'")
            def test_days():
                return answer("x")
            """
        )
    )
    project.pytester.runpytest("--flywheel-suite=qa", "test_marked.py").assert_outcomes(passed=3)
    assert len(project.verdicts.read_text().splitlines()) == 3

    # renamed, and asked differently (a renamed case asked the same way keeps its verdict: the key
    # holds what was judged, not the case's name)
    project.write_suite("qa", TWO_CASES.replace("renamed-later", "parcel").replace("my parcel", "my parcel, please"))
    (project.path / "test_marked.py").unlink()
    # a run of the suite alone: the renamed case's old verdict and the deleted file's are unused
    result = project.pytester.runpytest("--flywheel-suite=qa", "flywheel/suites/qa.yaml")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["verdicts: 1 cached, 1 newly judged, 2 unused (--flywheel-prune removes them)*"])
    result.stdout.fnmatch_lines(["  unused sha256:* flywheel/suites/qa.yaml::renamed-later: The reply must mention 'parcel'"])
    result.stdout.fnmatch_lines(["  unused sha256:* test_marked.py::test_days: The reply must mention 'days'"])
    pruned = project.pytester.runpytest("--flywheel-suite=qa", "flywheel/suites/qa.yaml", "--flywheel-prune")
    pruned.stdout.fnmatch_lines(["verdicts: 2 cached, 0 newly judged, 0 unused; wrote * (2 pruned)"])
    cases = sorted(json.loads(line)["case"] for line in project.verdicts.read_text().splitlines())
    assert cases == ["flywheel/suites/qa.yaml::parcel", "flywheel/suites/qa.yaml::refund"]


def test_deselected_cases_keep_their_verdicts(project: Project) -> None:
    project.pytester.runpytest("--flywheel-suite=qa").assert_outcomes(passed=1, failed=1)
    before = project.verdicts.read_text()
    result = project.pytester.runpytest("--flywheel-suite=qa", "-k", "refund", "--flywheel-prune")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["verdicts: 1 cached, 0 newly judged, 0 unused"])
    assert project.verdicts.read_text() == before
