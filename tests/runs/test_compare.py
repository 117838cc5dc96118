from __future__ import annotations

from pathlib import Path

from pytest_flywheel.runs import compare_runs, list_runs, load_run, run_from_report, save_run
from pytest_flywheel.store import Store

from .helpers import case, report

CITE = "The response must cite the help article"
POLITE = "The response must be polite"


def test_every_change_class_is_found_per_case_and_per_assertion() -> None:
    before = run_from_report(
        report(
            case("refund", "failed", (CITE, False), (POLITE, True)),
            case("reset", "passed", (CITE, True)),
            case("order", "failed", (CITE, False)),
            case("gone", "passed", (CITE, True)),
            case("steady", "passed", (POLITE, True)),
            started_at=1000.0,
        )
    )
    after = run_from_report(
        report(
            case("refund", "passed", (CITE, True), (POLITE, True)),
            case("reset", "failed", (CITE, False)),
            case("order", "error"),
            case("brand-new", "passed", (POLITE, True)),
            case("steady", "passed", (POLITE, True)),
            started_at=2000.0,
        )
    )
    comparison = compare_runs(before, after)
    changes = {c.key: c.change for c in comparison.cases}
    assert changes == {
        "qa::refund": "fixed",
        "qa::reset": "regressed",
        "qa::order": "still failing",
        "qa::gone": "removed",
        "qa::brand-new": "new",
        "qa::steady": "still passing",
    }
    assert comparison.regressed
    refund = next(c for c in comparison.cases if c.key == "qa::refund")
    assert [(a.assertion, a.change) for a in refund.assertions] == [
        (CITE, "fixed"),
        (POLITE, "still passing"),
    ]
    assert [c.change for c in comparison.cases][:2] == ["regressed", "fixed"]  # worst news first
    assert before.pass_rate == 3 / 5 and after.pass_rate == 3 / 5


def test_an_assertion_regressing_inside_a_still_failing_case_counts_as_a_regression() -> None:
    a = run_from_report(report(case("x", "failed", (CITE, False), (POLITE, True)), started_at=1.0))
    b = run_from_report(report(case("x", "failed", (CITE, False), (POLITE, False)), started_at=2.0))
    comparison = compare_runs(a, b)
    assert comparison.cases[0].change == "still failing"
    assert comparison.regressed


def test_runs_round_trip_through_a_real_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "flywheel.db"
    original = run_from_report(
        report(case("refund", "failed", (CITE, False)), case("reset", "passed"), started_at=1700000000.0)
    )
    with Store(path) as store:
        save_run(store, original)
    with Store(path) as store:
        loaded = load_run(store, original.id[:8])
        listed = list_runs(store, suite="qa")
        assert list_runs(store, suite="other") == []
    assert loaded.cases == original.cases
    assert loaded.judge_tokens == 900 and loaded.suites == ["qa"]
    assert [run.id for run in listed] == [original.id]
