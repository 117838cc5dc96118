from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.config import load_settings
from pytest_flywheel.runs import record_run, run_from_report, save_run
from pytest_flywheel.store import Store

from .helpers import case, report

CITE = "The response must cite the help article"


@pytest.fixture
def store_with_two_runs(tmp_path: Path) -> Path:
    path = tmp_path / "flywheel.db"
    with Store(path) as store:
        save_run(
            store,
            run_from_report(
                report(
                    case("refund", "failed", (CITE, False)),
                    case("reset", "passed", (CITE, True)),
                    started_at=1000.0,
                )
            ),
        )
        save_run(
            store,
            run_from_report(
                report(
                    case("refund", "passed", (CITE, True)),
                    case("reset", "passed", (CITE, True)),
                    started_at=2000.0,
                )
            ),
        )
    return path


def test_list_shows_newest_first_with_pass_rates(
    store_with_two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "list", "--store", str(store_with_two_runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("RUN")
    assert "100.0% (2/2)" in lines[1] and "50.0% (1/2)" in lines[2]

    assert main(["runs", "list", "--json", "--store", str(store_with_two_runs)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["passed"] for row in rows] == [2, 1]
    assert rows[0]["suites"] == ["qa"] and rows[0]["judge_tokens"] == 900


def test_compare_defaults_to_the_last_two_runs_and_reports_the_fix(
    store_with_two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "compare", "--store", str(store_with_two_runs)]) == 0
    out = capsys.readouterr().out
    assert "FIXED (1)" in out
    assert "qa::refund   failed → passed" in out
    assert f"FAIL → PASS  {CITE}" in out
    assert "Nothing regressed." in out


def test_the_validation_runs_of_a_fix_not_applied_are_never_compared_by_default(
    store_with_two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a stranger's run: a declined `flywheel fix` left its validation run (code the project
    does not have) as the newest run, and `runs compare` and the budget gates compared with it."""
    from pytest_flywheel.fix.record import FixRecord, save_fix
    from pytest_flywheel.runs.queries import previous_run

    validation = run_from_report(
        report(case("refund", "failed", (CITE, False)), case("reset", "failed", (CITE, False)), started_at=3000.0)
    )
    with Store(store_with_two_runs) as store:
        save_fix(store, FixRecord(target="qa", status="declined"), [validation])
        before = previous_run(store, suite="qa", started_before=4000.0)
    assert before is not None and before.id != validation.id and before.started_at == 2000.0

    assert main(["runs", "compare", "--store", str(store_with_two_runs)]) == 0
    out = capsys.readouterr().out
    assert validation.id not in out and "FIXED (1)" in out

    # runs list still shows it, marked, so nobody takes it for a run of the project's code
    assert main(["runs", "list", "--store", str(store_with_two_runs)]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith(validation.id)]
    assert line.endswith("qa (validation of a fix not applied)")
    assert main(["runs", "list", "--store", str(store_with_two_runs), "--json"]) == 0
    listed = {row["id"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert listed[validation.id]["unapplied_fix"] is True
    assert [row["unapplied_fix"] for key, row in listed.items() if key != validation.id] == [False, False]


def test_compare_reads_a_store_from_before_flywheel_fix(
    store_with_two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    with sqlite3.connect(store_with_two_runs) as conn:  # as a store written before fixes were recorded
        conn.execute("DROP TABLE fixes")
    assert main(["runs", "compare", "--store", str(store_with_two_runs)]) == 0
    assert "FIXED (1)" in capsys.readouterr().out


def test_compare_exits_1_on_a_regression_so_ci_can_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "flywheel.db"
    with Store(path) as store:
        first = run_from_report(report(case("reset", "passed", (CITE, True)), started_at=1000.0))
        second = run_from_report(report(case("reset", "failed", (CITE, False)), started_at=2000.0))
        save_run(store, first)
        save_run(store, second)
    assert main(["runs", "compare", first.id, second.id, "--json", "--store", str(path)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["regressed"] is True and data["counts"]["regressed"] == 1
    assert data["cases"][0]["assertions"][0]["reason_after"].startswith("because")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runs", "compare", "nope", "nada"], "no recorded run has an id starting with 'nope'"),
        (["runs", "compare", "only-one"], "name both runs"),
        (["runs", "list", "--suite", "missing"], "no recorded runs of suite 'missing'"),
    ],
)
def test_bad_requests_are_one_clear_line(
    store_with_two_runs: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([*argv, "--store", str(store_with_two_runs)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("flywheel: error: ") and message in err and err.count("\n") == 1


def test_missing_store_says_how_to_get_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--store", str(tmp_path / "none.db")]) == 1
    assert "no trace store at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_record_run_stamps_the_git_commit(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "pyproject.toml").write_text("[tool.flywheel]\n")
    subprocess.run(["git", "init", "-q", "-b", "work"], cwd=tmp_path, check=True)
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x"],
        cwd=tmp_path,
        check=True,
    )
    settings = load_settings(tmp_path, environ={})
    run_id = record_run(settings, report(case("reset", "passed"), started_at=1000.0))
    with Store(settings.store) as store:
        row = store.conn.execute("SELECT git_commit, git_branch FROM runs WHERE id = ?", (run_id,)).fetchone()
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    assert row["git_commit"] == head and row["git_branch"] == "work"


def test_compare_shows_an_assertion_never_checked_as_unchecked_not_as_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The target raised (or a cassette missed), so no assertion was checked: pytest shows SKIP, the JSON
    report ``passed: null`` and JUnit ``unchecked``; the comparison must not turn that into a FAIL."""
    path = tmp_path / "flywheel.db"
    with Store(path) as store:
        first = run_from_report(report(case("reset", "passed", (CITE, True)), started_at=1000.0))
        second = run_from_report(report(case("reset", "failed", (CITE, None)), started_at=2000.0))
        third = run_from_report(report(case("reset", "error", (CITE, None)), started_at=3000.0))
        for run in (first, second, third):
            save_run(store, run)
    assert main(["runs", "compare", first.id, second.id, "--store", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"PASS → UNCHECKED  {CITE}" in out and "FAIL" not in out
    assert main(["runs", "compare", second.id, third.id, "--json", "--store", str(path)]) == 0
    item = json.loads(capsys.readouterr().out)["cases"][0]["assertions"][0]
    assert item["before"] is None and item["after"] is None
    assert item["unchecked_before"] is True and item["unchecked_after"] is True


def test_a_case_that_errored_before_any_assertion_shows_them_unchecked_not_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stranger's run: a case erroring on a cassette miss records no assertion at all, and the
    comparison showed `PASS → —`, which reads as an assertion taken out of the suite."""
    path = tmp_path / "flywheel.db"
    with Store(path) as store:
        first = run_from_report(report(case("reset", "passed", (CITE, True), ("Be brief.", True)), started_at=1000.0))
        second = run_from_report(report(case("reset", "error"), started_at=2000.0))
        third = run_from_report(report(case("reset", "passed", (CITE, True)), started_at=3000.0))
        for run in (first, second, third):
            save_run(store, run)
    assert main(["runs", "compare", first.id, second.id, "--store", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"PASS → UNCHECKED  {CITE}" in out and "PASS → UNCHECKED  Be brief." in out and "→ —" not in out
    # an assertion taken out of a case that did check its others is removed, not unchecked
    assert main(["runs", "compare", first.id, third.id, "--json", "--store", str(path)]) == 0
    (removed,) = [a for a in json.loads(capsys.readouterr().out)["cases"][0]["assertions"] if a["assertion"] == "Be brief."]
    assert removed["after"] is None and removed["unchecked_after"] is False
