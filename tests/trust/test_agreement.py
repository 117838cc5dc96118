"""Agreement figures against a confusion matrix computed by hand, from real label and verdict files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.config import load_settings
from pytest_flywheel.judge.cache import VerdictCache
from pytest_flywheel.trust import (
    AgreementFigures,
    JudgeAgreementError,
    Label,
    LabelFile,
    agreement,
    agreement_report,
    build_agreement,
    require_agreement,
    save_labels,
)

from .builders import entry, write_verdicts

NO_PROMISE = "The reply must not promise a refund."
CITES = "The reply must cite the refund article."

# (judge, person) per label. Suite qa:
#   NO_PROMISE: tp 4, fp 1, fn 0, tn 1        CITES: tp 2, fp 1, fn 1, tn 2
#   whole suite: tp 6, fp 2, fn 1, tn 3 (12 labels)
PAIRS = {
    NO_PROMISE: [(True, True)] * 4 + [(True, False)] + [(False, False)],
    CITES: [(True, True)] * 2 + [(True, False)] + [(False, True)] + [(False, False)] * 2,
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.flywheel]\n")
    entries, labels = [], []
    for assertion, pairs in PAIRS.items():
        for n, (judge, person) in enumerate(pairs):
            verdict = entry(assertion, f"reply {n}", judge)
            entries.append(verdict)
            labels.append(Label(key=verdict.key, passed=person, assertion=assertion, judge_passed=judge,
                                judge_model="judge-a", suite="qa", case=verdict.case))
    # another suite, and a hand-written test, so that per-suite figures must keep them apart
    other = entry(NO_PROMISE, "other reply", False, suite="billing")
    entries.append(other)
    labels.append(Label(key=other.key, passed=True, assertion=NO_PROMISE, suite="billing"))
    marked = entry(CITES, "marked reply", True)
    entries.append(marked)
    labels.append(Label(key=marked.key, passed=True, assertion=CITES, suite=None, case="tests/test_a.py::test_b"))
    write_verdicts(tmp_path / "flywheel" / "verdicts.jsonl", entries)
    save_labels(tmp_path / "flywheel" / "labels.jsonl", labels)
    return tmp_path


def test_figures_match_the_hand_computed_confusion_matrix(project: Path) -> None:
    report = agreement_report(load_settings(project, environ={}))
    qa = report.suites["qa"].figures
    assert (qa.tp, qa.fp, qa.fn, qa.tn, qa.labels) == (6, 2, 1, 3, 12)
    assert qa.agreement == pytest.approx(9 / 12)
    assert qa.true_positive_rate == pytest.approx(6 / 7)
    assert qa.true_negative_rate == pytest.approx(3 / 5)
    # p_o = 9/12; p_e = (8/12)(7/12) + (4/12)(5/12) = 76/144; kappa = (108 - 76) / (144 - 76)
    assert qa.kappa == pytest.approx(32 / 68)

    by_assertion = report.suites["qa"].assertions
    promise, cites = by_assertion[NO_PROMISE], by_assertion[CITES]
    assert (promise.tp, promise.fp, promise.fn, promise.tn) == (4, 1, 0, 1)
    assert promise.agreement == pytest.approx(5 / 6) and promise.true_positive_rate == 1.0
    assert promise.true_negative_rate == pytest.approx(0.5)
    assert promise.kappa == pytest.approx(8 / 14)  # p_e = 22/36
    assert (cites.tp, cites.fp, cites.fn, cites.tn) == (2, 1, 1, 2)
    assert cites.kappa == pytest.approx(1 / 3)  # p_e = 1/2

    assert report.suites["billing"].figures.labels == 1
    assert report.suites["(hand-written tests)"].figures.labels == 1
    assert report.overall.labels == 14
    assert agreement("qa", settings=load_settings(project, environ={})) == qa


def test_figures_that_rest_on_nothing_are_none_not_zero() -> None:
    empty = AgreementFigures()
    assert (empty.labels, empty.agreement, empty.true_positive_rate, empty.true_negative_rate, empty.kappa) == (
        0, None, None, None, None
    )
    all_pass = AgreementFigures(tp=5)
    assert all_pass.agreement == 1.0 and all_pass.true_negative_rate is None
    assert all_pass.kappa is None  # both raters said pass every time: chance agreement is 1
    opposite = AgreementFigures(fp=3, fn=3)
    assert opposite.agreement == 0.0 and opposite.kappa == pytest.approx(-1.0)


def test_the_current_verdict_wins_and_a_pruned_one_falls_back_to_the_label(project: Path) -> None:
    settings = load_settings(project, environ={})
    labels = LabelFile.load(project / "flywheel" / "labels.jsonl")
    verdicts = VerdictCache.load(settings.verdicts_path)
    baseline = build_agreement(labels, verdicts).suites["qa"].figures

    # Judged again (--flywheel-update-verdicts): the judge now fails the reply the person failed.
    flipped = entry(NO_PROMISE, "reply 4", False)
    write_verdicts(settings.verdicts_path, [flipped])  # puts it over the old entry under the same key
    now = agreement_report(settings).suites["qa"].figures
    assert (now.fp, now.tn) == (baseline.fp - 1, baseline.tn + 1)

    # The verdict file pruned to nothing: each label's recorded verdict is used.
    settings.verdicts_path.write_text("")
    pruned = agreement_report(settings).suites["qa"].figures
    assert pruned == baseline


def test_a_label_with_no_verdict_anywhere_is_left_out_and_reported(project: Path) -> None:
    settings = load_settings(project, environ={})
    settings.verdicts_path.write_text("")
    report = agreement_report(settings)
    assert {label.suite for label in report.without_verdict} == {"billing", None}  # neither records it
    assert "billing" not in report.suites


def test_figures_for_one_judge_model(project: Path) -> None:
    settings = load_settings(project, environ={})
    other = entry(NO_PROMISE, "judged by b", True, model="judge-b")
    write_verdicts(settings.verdicts_path, [other])
    save_labels(project / "flywheel" / "labels.jsonl",
                [Label(key=other.key, passed=False, assertion=NO_PROMISE, suite="qa")])
    assert agreement("qa", settings=settings, model="judge-b") == AgreementFigures(fp=1)
    assert agreement("qa", settings=settings, model="judge-a").labels == 12


def test_the_min_agreement_gate_names_the_suite_and_the_figures(project: Path) -> None:
    figures = agreement("qa", settings=load_settings(project, environ={}))
    require_agreement("qa", figures, minimum=0.75, min_labels=12)  # exactly at the minimum: allowed
    with pytest.raises(JudgeAgreementError) as below:
        require_agreement("qa", figures, minimum=0.8)
    message = str(below.value)
    assert "suite 'qa'" in message and "agreement 75.0%" in message and "kappa 0.47" in message
    assert "on 12 labels" in message and "minimum is 80.0%" in message
    with pytest.raises(JudgeAgreementError, match="rests on 12 labels, fewer than the 20 required"):
        require_agreement("qa", figures, minimum=0.5, min_labels=20)
    with pytest.raises(JudgeAgreementError, match="rests on 0 labels"):
        require_agreement("nowhere", AgreementFigures(), minimum=0.5)


def test_judge_agreement_cli_text_and_json(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    assert main(["judge", "agreement", "--suite", "qa"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(": 12 labels")
    suite_row = next(line for line in out.splitlines() if line.startswith("qa "))
    assert suite_row.split()[1:] == ["12", "75.0%", "85.7%", "60.0%", "0.47"]
    assert "    judge pass            6            2" in out
    assert "    judge fail            1            3" in out
    assert "billing" not in out

    assert main(["judge", "agreement", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    qa = next(suite for suite in data["suites"] if suite["suite"] == "qa")
    assert qa["confusion"] == {"judge_pass": {"person_pass": 6, "person_fail": 2},
                               "judge_fail": {"person_pass": 1, "person_fail": 3}}
    assert qa["kappa"] == pytest.approx(32 / 68) and qa["labels"] == 12
    assert {item["assertion"] for item in qa["assertions"]} == {NO_PROMISE, CITES}
    assert data["overall"]["labels"] == 14

    assert main(["judge", "agreement", "--suite", "nowhere"]) == 1
    assert "no labelled verdict for suite 'nowhere'" in capsys.readouterr().err
