"""``flywheel runs merge``: runs of several stores in one, without loss or duplicates; shards combined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.runs import list_runs, load_run, run_from_report, save_run
from pytest_flywheel.store import Store

from .helpers import case, report

CITE = "The response must cite the help article"


def _cases(count: int) -> list[dict[str, object]]:
    return [case(f"c{i:02d}", "failed" if i % 7 == 0 else "passed", (CITE, i % 7 != 0)) for i in range(count)]


def _store(path: Path, *reports: dict[str, object]) -> Path:
    with Store(path) as store:
        for data in reports:
            save_run(store, run_from_report(data))
    return path


def _shards(tmp_path: Path, cases: list[dict[str, object]], count: int) -> list[Path]:
    return [
        _store(tmp_path / f"shard{index}.db", report(*cases[index::count], started_at=1000.0 + index))
        for index in range(count)
    ]


def test_merge_copies_every_run_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shards = _shards(tmp_path, _cases(12), 3)
    target = tmp_path / "main.db"
    assert main(["runs", "merge", *map(str, shards), "--store", str(target), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["added"]) == 3 and first["already_present"] == []
    assert main(["runs", "merge", *map(str, shards), "--store", str(target), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["added"] == [] and sorted(again["already_present"]) == sorted(first["added"])
    with Store(target) as store:
        runs = list_runs(store, limit=10)
        assert len(runs) == 3
        assert sum(load_run(store, run.id).total for run in runs) == 12


def test_four_shards_combined_give_the_unsharded_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _cases(40)
    whole = run_from_report(report(*cases, started_at=1000.0))
    target = tmp_path / "main.db"
    shards = _shards(tmp_path, cases, 4)
    assert main(["runs", "merge", *map(str, shards), "--combine", "--store", str(target), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["combined"]
    assert (result["total"], result["passed"], result["failed"], result["errors"]) == (
        whole.total, whole.count("passed"), whole.count("failed"), whole.count("error"))
    assert result["pass_rate"] == pytest.approx(whole.pass_rate)
    with Store(target) as store:
        combined = load_run(store, result["id"])
    assert sorted(c.nodeid for c in combined.cases) == sorted(c.nodeid for c in whole.cases)
    assert {c.nodeid: [a.passed for a in c.assertions] for c in combined.cases} == {
        c.nodeid: [a.passed for a in c.assertions] for c in whole.cases}
    assert combined.judge_calls == 4 * whole.judge_calls  # each shard's judge calls are summed
    # combining the same shards again adds nothing: the combined run's id comes from the shards' ids
    assert main(["runs", "merge", *map(str, shards), "--combine", "--store", str(target), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["added"] == [] and again["already_present"] == [result["id"]]


def test_shards_that_disagree_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _store(tmp_path / "a.db", report(case("x", "passed", (CITE, True)), started_at=1.0))
    b = _store(tmp_path / "b.db", report(case("x", "failed", (CITE, False)), started_at=2.0))
    assert main(["runs", "merge", str(a), str(b), "--combine", "--store", str(tmp_path / "t.db")]) == 1
    assert "ran in two of the runs with different outcomes" in capsys.readouterr().err


def test_a_run_already_stored_with_other_results_is_a_conflict(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "source.db"
    run = run_from_report(report(case("x", "passed", (CITE, True)), started_at=5.0))
    _store(source)
    with Store(source) as store:
        save_run(store, run)
    target = tmp_path / "target.db"
    other = run_from_report(report(case("x", "failed", (CITE, False)), started_at=5.0), run_id=run.id)
    with Store(target) as store:
        save_run(store, other)
    assert main(["runs", "merge", str(source), "--store", str(target)]) == 1
    assert "already in the store with other results" in capsys.readouterr().err
    with Store(target) as store:
        assert load_run(store, run.id).cases[0].outcome == "failed"  # left as it was


def test_merging_a_store_into_itself_or_a_missing_one_is_a_clear_error(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    target = _store(tmp_path / "t.db", report(case("x", "passed"), started_at=1.0))
    assert main(["runs", "merge", str(target), "--store", str(target)]) == 1
    assert "is the store being merged into" in capsys.readouterr().err
    assert main(["runs", "merge", str(tmp_path / "nope.db"), "--store", str(target)]) == 1
    assert "no store at" in capsys.readouterr().err
