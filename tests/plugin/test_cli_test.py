"""``flywheel test run --suite NAME [pytest args]``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pytest_flywheel.cli.main import main
from tests.plugin.conftest import Project


def test_test_run_runs_the_suite_through_pytest(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project.pytester.makepyfile(test_other="def test_other():\n    assert False\n")
    monkeypatch.chdir(project.path)
    code = main(["test", "run", "--suite", "qa", "--", "-p", "no:cacheprovider", "-k", "refund"])
    out = capsys.readouterr().out
    assert code == 0
    assert "flywheel/suites/qa.yaml ." in out
    assert "test_other" not in out  # only the suite runs
    assert project.judge_calls() == 1

    assert main(["test", "run", "--suite", "qa", "--", "-p", "no:cacheprovider"]) == 1


def test_pytest_arguments_follow_the_suite_without_a_separator(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.path)
    code = main(["test", "run", "--suite=qa", "-p", "no:cacheprovider", "-k", "refund", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1 passed, 1 deselected" in out


def test_test_run_names_the_suites_when_one_is_missing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.path)
    assert main(["test", "run", "--suite", "nope"]) == 1
    assert "flywheel: error: no suite named 'nope'" in capsys.readouterr().err


def test_test_run_in_a_real_subprocess(project: Project) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_flywheel.cli",
            "test",
            "run",
            "--suite",
            "qa",
            "--",
            "-p",
            "no:cacheprovider",
        ],
        cwd=project.path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "suite qa: 1/2 passed (50.0%)" in done.stdout
