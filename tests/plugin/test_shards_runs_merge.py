"""The run records of 4 CI shards (``--flywheel-shard I/N``, each job with its own store), combined with
``flywheel runs merge --combine``, give the same run summary as one unsharded run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.runs import list_runs, load_run
from pytest_flywheel.store import Store
from tests.plugin.conftest import Project
from tests.plugin.test_shards import CASES, forty


def test_four_shards_run_records_combined_give_the_unsharded_summary(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_suite("big", forty())
    project.verdicts.parent.mkdir(parents=True, exist_ok=True)
    pristine = tmp_path / "pristine"
    shutil.copytree(project.path, pristine)

    whole_store = tmp_path / "whole.db"
    monkeypatch.setenv("FLYWHEEL_STORE", str(whole_store))
    project.pytester.runpytest_subprocess("--flywheel-suite=big", "-p", "no:xdist").assert_outcomes(passed=CASES)
    with Store(whole_store) as store:
        (whole,) = [load_run(store, run.id) for run in list_runs(store)]

    shard_stores = []
    for index in range(1, 5):
        job = tmp_path / f"job{index}"
        shutil.copytree(pristine, job)
        monkeypatch.chdir(job)
        shard_stores.append(job / ".flywheel" / "flywheel.db")  # each job's store, kept as its artifact
        monkeypatch.setenv("FLYWHEEL_STORE", str(shard_stores[-1]))
        result = project.pytester.runpytest_subprocess("--flywheel-suite=big", f"--flywheel-shard={index}/4",
                                                       "-p", "no:xdist")
        assert result.ret == 0, result.stdout.str()

    merged_store = tmp_path / "merged.db"
    capsys.readouterr()  # (pytester echoed the shards' output)
    assert main(["runs", "merge", *map(str, shard_stores), "--combine", "--store", str(merged_store), "--json"]) == 0
    combined = json.loads(capsys.readouterr().out)["combined"]
    assert (combined["total"], combined["passed"], combined["failed"], combined["errors"]) == (
        whole.total, whole.count("passed"), whole.count("failed"), whole.count("error"))
    assert combined["pass_rate"] == whole.pass_rate
    with Store(merged_store) as store:
        run = load_run(store, combined["id"])
        assert [r.id for r in list_runs(store, limit=10)] == [run.id]  # one run, as if unsharded
    assert sorted(c.nodeid for c in run.cases) == sorted(c.nodeid for c in whole.cases)
    assert {c.nodeid: [a.passed for a in c.assertions] for c in run.cases} == {
        c.nodeid: [a.passed for a in c.assertions] for c in whole.cases}
    assert run.suites == whole.suites == ["big"]
