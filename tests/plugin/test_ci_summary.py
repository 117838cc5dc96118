"""CI run pages: the Markdown summary (``--flywheel-markdown`` or ``$GITHUB_STEP_SUMMARY``) and GitHub's
``::error`` annotations at the failing case's line, checked by parsing what was written."""

from __future__ import annotations

import re

import pytest

from tests.plugin.conftest import Project


def table_rows(markdown: str) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("suite", "---"):
            rows[cells[0]] = cells[1:]
    return rows


def test_the_markdown_summary_shows_rates_changes_and_failing_assertions(project: Project) -> None:
    # first run: only the refund case passes
    project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-markdown=summary.md")
    first = (project.path / "summary.md").read_text()
    assert table_rows(first)["qa"] == ["1", "1", "0", "50.0%", "-", "-"]  # no previous run to compare with
    assert "- **shipping**: The reply must mention 'tracking' — The output does not mention tracking." in first

    # the agent is fixed for shipping and broken for refund: one fixed, one regressed
    (project.path / "agent.py").write_text(
        "def answer(question):\n    return f'About {question}: tracking sent.'\n"
    )
    result = project.pytester.runpytest("--flywheel-suite=qa", "--flywheel-markdown=summary.md")
    result.stdout.fnmatch_lines(["markdown summary: *summary.md"])
    second = (project.path / "summary.md").read_text()
    assert table_rows(second)["qa"] == ["1", "1", "0", "50.0%", "1", "1"]
    assert re.search(r"Regressed since run `\w+`: refund", second)
    assert re.search(r"Fixed since run `\w+`: shipping", second)
    assert "Judge: " in second and "The run failed (exit status 1)." in second


def test_on_github_actions_the_step_summary_is_appended_and_failures_are_annotated(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    step_summary = project.path / "step-summary.md"
    step_summary.write_text("earlier step's summary\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result = project.pytester.runpytest("--flywheel-suite=qa")
    text = step_summary.read_text()
    assert text.startswith("earlier step's summary\n## pytest-flywheel")
    (annotation,) = [line for line in result.stdout.lines if line.startswith("::error ")]
    match = re.fullmatch(r"::error file=([^,]+),line=(\d+),title=([^:]+)::(.*)", annotation)
    assert match is not None, annotation
    path, line, title, message = match.groups()
    assert path == "flywheel/suites/qa.yaml"
    suite_lines = (project.path / path).read_text().splitlines()
    assert suite_lines[int(line) - 1].strip() == "- id: shipping"
    assert title == "qa%3A%3Ashipping failed"
    assert message == "The reply must mention 'tracking': The output does not mention tracking."


def test_markdown_cells_cannot_break_the_table(project: Project) -> None:
    from pytest_flywheel.pytest_plugin.ci_summary import markdown_summary

    report = {
        "passed": False,
        "exit_status": 1,
        "suites": {"a|b": {"passed": 0, "failed": 1, "errors": 0, "pass_rate": 0.0}},
        "cases": [
            {
                "suite": "a|b",
                "case_id": "c1",
                "outcome": "failed",
                "assertions": [{"assertion": "x | y\nz", "passed": False, "reason": "<b>no</b>"}],
            }
        ],
        "judge": {},
    }
    text = markdown_summary(report, {})
    assert "| a\\|b | 0 | 1 | 0 | 0.0% | - | - |" in text
    assert "x \\| y z" in text and "\\<b\\>no\\</b\\>" in text


def test_erroring_cases_are_capped_like_failing_assertions() -> None:
    """A prompt change that makes every case of a big suite error must not list them all on the run page."""
    from pytest_flywheel.pytest_plugin.ci_summary import SHOWN_FAILURES, markdown_summary

    count = SHOWN_FAILURES + 5
    report = {
        "passed": False,
        "exit_status": 1,
        "suites": {"qa": {"passed": 0, "failed": 0, "errors": count, "pass_rate": 0.0}},
        "cases": [
            {
                "suite": "qa",
                "case_id": f"c{n}",
                "outcome": "error",
                "message": "The cassette ... holds no response to POST ...",
                "summary": "cassette miss at system: the system prompt changed",
                "assertions": [],
            }
            for n in range(count)
        ],
        "judge": {},
    }
    items = [line for line in markdown_summary(report, {}).splitlines() if line.startswith("- ")]
    assert len(items) == SHOWN_FAILURES + 1
    assert items[0] == "- **c0** (error): cassette miss at system: the system prompt changed"
    assert items[-1] == "- ... and 5 more"


def test_the_regressed_and_fixed_lines_are_capped_too() -> None:
    """A stranger's run: after a prompt change every case id of the suite went into one 'Regressed since'
    line."""
    from pytest_flywheel.pytest_plugin.ci_summary import SHOWN_FAILURES, SuiteHistory, markdown_summary

    ids = tuple(f"c{n}" for n in range(SHOWN_FAILURES + 7))
    history = SuiteHistory(previous_id="01a2b3c4d5e6f7", previous_started_at=1.0, regressed=ids, fixed=ids[:2])
    report = {"passed": False, "exit_status": 1, "judge": {},
              "suites": {"qa": {"passed": 0, "failed": len(ids), "errors": 0, "pass_rate": 0.0}}, "cases": []}  # fmt: skip
    lines = markdown_summary(report, {"qa": history}).splitlines()
    (regressed,) = [line for line in lines if line.startswith("Regressed since")]
    assert regressed.endswith(", ".join(ids[:SHOWN_FAILURES]) + " and 7 more")
    (fixed,) = [line for line in lines if line.startswith("Fixed since")]
    assert fixed.endswith(": c0, c1")
