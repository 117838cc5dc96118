"""``flywheel verdicts label CASE INDEX pass|fail``: which verdict a label goes on, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.judge.cache import VerdictCache
from pytest_flywheel.trust import LabelFile

from .builders import Project, entry, key_for, write_verdicts

NO_PROMISE = "The reply must not promise a refund."
CITES = "The reply must cite the refund article."


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    project = Project(tmp_path / "shop")
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("FLYWHEEL_STORE", str(project.store))
    return project


def test_a_label_goes_on_the_verdict_of_the_newest_recorded_reply(
    shop: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.record({"refund": "old reply"}, {("refund", 0): True, ("refund", 2): True})
    shop.record({"refund": "new reply"}, {("refund", 0): True, ("refund", 2): False})
    write_verdicts(shop.verdicts, [entry(CITES, "old reply", True), entry(CITES, "new reply", False)])

    assert main(["verdicts", "label", "qa::refund", "3", "pass", "--note", "the source line is there"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == (
        f"Labelled qa::refund assertion 3 ({CITES}) PASS; the judge said FAIL: the label disagrees with the judge."
    )
    (label,) = LabelFile.load(shop.labels)
    assert label.key == key_for(CITES, "new reply")
    assert (label.passed, label.judge_passed, label.judge_model, label.note) == (
        True, False, "judge-a", "the source line is there"
    )
    assert (label.suite, label.case) == ("qa", "flywheel/suites/qa.yaml::refund")

    # A bare case id that one suite has is enough; --json prints the label written.
    assert main(["verdicts", "label", "refund", "1", "fail", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["key"] == key_for(NO_PROMISE, "new reply") and data["passed"] is False
    assert data["judge_passed"] is True


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["qa::refund", "2", "pass"], "is a deterministic check"),
        (["qa::refund", "4", "pass"], "has 3 assertions in its newest run"),
        (["qa::nowhere", "1", "pass"], "no suite file has the case qa::nowhere"),
        (["nowhere", "1", "pass"], "no suite has a case 'nowhere'"),
        (["tests/test_x.py::test_y", "1", "pass"], "no recorded run holds tests/test_x.py::test_y"),
    ],
)
def test_a_case_index_that_names_no_verdict_is_refused(
    shop: Project, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    shop.record({"refund": "reply"}, {("refund", 0): True, ("refund", 2): True})
    assert main(["verdicts", "label", *args]) == 1
    assert says in capsys.readouterr().err
    assert not shop.labels.exists()


def test_usage_errors_exit_2(shop: Project, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["qa::refund", "one", "pass"], ["qa::refund", "1", "maybe"], ["qa::refund"], ["qa::refund", "0", "pass"]):
        assert main(["verdicts", "label", *args]) == 2
    assert "argument INDEX: '0' is out of range: expected a whole number from 1" in capsys.readouterr().err


def test_with_no_recorded_run_the_verdict_file_decides_when_it_can(
    shop: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    write_verdicts(shop.verdicts, [entry(NO_PROMISE, "one reply", True)])
    assert main(["verdicts", "label", "refund", "1", "fail"]) == 0
    assert LabelFile.load(shop.labels).get(key_for(NO_PROMISE, "one reply")) is not None

    write_verdicts(shop.verdicts, [entry(CITES, "reply a", True), entry(CITES, "reply b", False)])
    assert main(["verdicts", "label", "refund", "3", "fail"]) == 1
    err = capsys.readouterr().err
    assert "2 verdicts (on different replies)" in err and "pytest --flywheel-suite=qa" in err


def test_a_hand_written_test_is_named_by_its_node_id(shop: Project, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_flywheel.runs import run_from_report, save_run
    from pytest_flywheel.store import Store

    key = key_for(CITES, "marked reply")
    report = {
        "started_at": 5000.0, "ended_at": 5001.0, "suites": [],
        "cases": [{"nodeid": "tests/test_agent.py::test_cites", "suite": None, "case_id": None,
                   "outcome": "passed", "output": "marked reply",
                   "assertions": [{"assertion": CITES, "kind": "sentence", "passed": True, "key": key}]}],
    }
    with Store(shop.store) as store:
        save_run(store, run_from_report(report))
    assert main(["verdicts", "label", "tests/test_agent.py::test_cites", "1", "pass"]) == 0
    (label,) = LabelFile.load(shop.labels)
    assert (label.key, label.suite, label.case, label.judge_passed) == (
        key, None, "tests/test_agent.py::test_cites", True
    )
    assert VerdictCache.load(shop.verdicts).get(key) is None  # the run record gave the judge's verdict


def test_a_note_that_is_not_utf8_is_refused_and_nothing_is_written(shop: Project) -> None:
    import os
    import subprocess
    import sys

    shop.record({"refund": "reply"}, {("refund", 0): True, ("refund", 2): True})
    done = subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.cli.main", "verdicts", "label", "refund", "1", "fail",
         "--note", b"bad \xff byte"],
        cwd=shop.root, env=dict(os.environ), capture_output=True, timeout=60, check=False,
    )
    assert done.returncode == 2, done.stderr  # a usage error, before anything is read
    assert b"Traceback" not in done.stderr
    assert b"argument --note: b'bad \\xff byte' is not UTF-8 text" in done.stderr
    assert not shop.labels.exists()


def test_a_store_named_on_the_command_line_must_exist(
    shop: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_verdicts(shop.verdicts, [entry(NO_PROMISE, "one reply", True)])
    missing = tmp_path / "elsewhere" / ".." / "nowhere.db"
    for command in (["verdicts", "label", "refund", "1", "fail"], ["verdicts", "review"]):
        assert main([*command, "--store", str(missing)]) == 1
        assert f"no store at {missing}" in capsys.readouterr().err
    assert not shop.labels.exists()  # it did not fall back to the verdict file's guess
