"""Suite cases as pytest items: collection, node ids, -k and markers, outcomes, failure text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.plugin.conftest import Project


def test_cases_run_as_items_and_failures_show_each_assertion(project: Project) -> None:
    result = project.pytester.runpytest("--flywheel-suite=qa", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "flywheel/suites/qa.yaml::refund PASSED*",
            "flywheel/suites/qa.yaml::shipping FAILED*",
            "*1 of 2 assertions failed:*",
            "*FAIL  The reply must mention 'tracking' (judged)*",
            "*The output does not mention tracking.*",
            "*PASS  The reply must mention 'parcel' (judged)*",
            "output:*",
            "*About my parcel: we will refund you within 5 days.*",
        ]
    )
    assert project.judge_calls() == 2  # one call per case, all its sentences at once


def test_k_matches_case_ids_and_tags_and_tags_are_markers(project: Project) -> None:
    by_tag = project.pytester.runpytest("--flywheel-suite=qa", "-k", "billing", "-v")
    by_tag.assert_outcomes(passed=1, deselected=1)
    by_tag.stdout.fnmatch_lines(["flywheel/suites/qa.yaml::refund PASSED*"])

    by_id = project.pytester.runpytest("--flywheel-suite=qa", "-k", "shipping")
    by_id.assert_outcomes(failed=1, deselected=1)

    by_marker = project.pytester.runpytest("--flywheel-suite=qa", "-m", "smoke", "--strict-markers")
    by_marker.assert_outcomes(passed=1, deselected=1)


def test_deselect_and_last_failed(project: Project) -> None:
    deselected = project.pytester.runpytest(
        "--flywheel-suite=qa", "--deselect", "flywheel/suites/qa.yaml::shipping"
    )
    deselected.assert_outcomes(passed=1, deselected=1)

    project.pytester.runpytest("--flywheel-suite=qa").assert_outcomes(passed=1, failed=1)
    last_failed = project.pytester.runpytest("--flywheel-suite=qa", "--lf", "-v")
    last_failed.assert_outcomes(failed=1)
    last_failed.stdout.fnmatch_lines(["flywheel/suites/qa.yaml::shipping FAILED*"])


def test_a_node_id_argument_runs_one_case_without_the_option(project: Project) -> None:
    result = project.pytester.runpytest("flywheel/suites/qa.yaml::refund", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["flywheel/suites/qa.yaml::refund PASSED*"])


def test_yaml_files_are_left_alone_without_the_option(project: Project) -> None:
    result = project.pytester.runpytest()
    result.assert_outcomes()
    assert project.judge_calls() == 0


def test_reportinfo_points_at_the_case_line(project: Project) -> None:
    items, _ = project.pytester.inline_genitems("--flywheel-suite=qa")
    lines = (project.path / "flywheel/suites/qa.yaml").read_text().splitlines()
    shipping_line = next(number for number, line in enumerate(lines) if "id: shipping" in line)
    assert [item.nodeid for item in items] == [
        "flywheel/suites/qa.yaml::refund",
        "flywheel/suites/qa.yaml::shipping",
    ]
    assert items[1].location == ("flywheel/suites/qa.yaml", shipping_line, "case shipping of suite qa")


def test_a_bad_suite_file_is_a_collection_error_without_traceback(project: Project) -> None:
    project.write_suite(
        "bad",
        """\
        version: 1
        name: bad
        target: agent:answer
        cases:
          - id: one
            input: {question: "x"}
            assertions: []
        """,
    )
    result = project.pytester.runpytest("--flywheel-suite=bad")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting flywheel/suites/bad.yaml*", "*bad.yaml:7: *assertions*"])
    assert "Traceback" not in result.stdout.str()


def test_a_cassette_link_that_leads_out_is_an_error_on_its_case_alone(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A cassette that resolves outside the flywheel folder (a symbolic link left in a pull request)
    makes its own case an error, named plainly; the suite's other cases still run, and a recording run
    writes nothing through the link."""
    outside = tmp_path_factory.mktemp("outside") / "passwd"
    outside.write_text("root:x:0:0\n")
    folder = project.path / "flywheel" / "cassettes" / "qa"
    folder.mkdir(parents=True)
    (folder / "shipping.yaml").symlink_to(outside)
    for mode in ("none", "all"):
        result = project.pytester.runpytest("--flywheel-suite=qa", f"--flywheel-record={mode}")
        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines(
            [
                "*ERROR at setup of case shipping of suite qa*",
                f"*its default cassette * resolves to {outside}, outside the flywheel folder*",
            ]
        )
        assert "Traceback" not in result.stdout.str() and "collect.py" not in result.stdout.str()
    assert outside.read_text() == "root:x:0:0\n"


def test_an_unknown_suite_is_a_usage_error_naming_the_suites(project: Project) -> None:
    result = project.pytester.runpytest("--flywheel-suite=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--flywheel-suite nope*no suite named 'nope'*qa*"])


def test_all_runs_every_suite(project: Project) -> None:
    project.write_suite(
        "more",
        """\
        version: 1
        name: more
        target: agent:answer
        cases:
          - id: extra
            input: {question: "an extra"}
            assertions: [{contains: "extra"}]
        """,
    )
    result = project.pytester.runpytest("--flywheel-suite=all", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["flywheel/suites/more.yaml::extra PASSED*"])


def test_a_target_that_raises_fails_and_shows_the_exception(project: Project) -> None:
    project.write_suite(
        "crash",
        """\
        version: 1
        name: crash
        target: agent:answer
        cases:
          - id: boom
            input: {question: "please crash"}
            assertions: ["The reply must mention 'refund'"]
        """,
    )
    result = project.pytester.runpytest("--flywheel-suite=crash", "--junitxml=out.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the target raised an exception, so no assertion was checked:*",
            "*RuntimeError: the agent crashed on purpose*",
            "  SKIP  The reply must mention 'refund' (not judged)",
        ]
    )
    assert project.judge_calls() == 0
    # Nothing was judged, so neither the terminal nor JUnit may say it was.
    assert "(judged)" not in result.stdout.str()
    properties = {p.get("name"): p.get("value") for p in ET.parse(project.path / "out.xml").iter("property")}
    assert properties["flywheel.verdict.1"] == "unchecked"
    assert properties["flywheel.source.1"] == "none"


def test_an_import_error_is_an_error_outcome(project: Project) -> None:
    project.write_suite(
        "broken",
        """\
        version: 1
        name: broken
        target: missing_module:answer
        cases:
          - id: one
            input: {question: "x"}
            assertions: ["The reply must mention 'x'"]
        """,
    )
    result = project.pytester.runpytest("--flywheel-suite=broken")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*importing module 'missing_module' failed with ModuleNotFoundError*"])
    assert "Traceback" not in result.stdout.str()


def test_an_async_target_is_awaited(project: Project) -> None:
    project.write_suite(
        "aio",
        """\
        version: 1
        name: aio
        target: agent:answer_async
        cases:
          - id: one
            input: {question: "money back"}
            assertions: ["The reply must mention 'refund approved'"]
        """,
    )
    project.pytester.runpytest("--flywheel-suite=aio").assert_outcomes(passed=1)
