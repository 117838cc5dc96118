"""Budget gates: a case whose re-recorded cassette doubles its tokens is a regression under
``--max-tokens-increase``; figures, limits and the plugin's "against the previous run" entry point."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

# Imported in the outer session so that in-process pytester runs never import them twice (see
# tests/plugin/conftest.py: ruamel's C extension does not survive a second import).
import pytest_flywheel.replay.session
import pytest_flywheel.suites.loading  # noqa: F401
from pytest_flywheel.cli.main import main
from pytest_flywheel.runs import RunRecord, load_run, run_from_report, save_run
from pytest_flywheel.runs.budget import (
    BudgetError,
    BudgetGates,
    FigureChange,
    budget_against_previous,
    compare_budgets,
    parse_increase,
)
from pytest_flywheel.store import Store
from pytest_flywheel.testing import MessagesAPIServer, RecordedRequest, text_message

from .helpers import case, report

AGENT = """
import os

import anthropic

from pytest_flywheel import track_anthropic


def answer(question):
    client = track_anthropic(
        anthropic.Anthropic(api_key="placeholder", base_url=os.environ["AGENT_BASE_URL"], max_retries=0)
    )
    message = client.messages.create(
        model="claude-haiku-5-5", max_tokens=100, messages=[{"role": "user", "content": question}]
    )
    return message.content[0].text
"""

SUITE = """\
version: 1
name: shop
target: agent:answer
cases:
  - id: refund
    input: {question: "Where is my refund?"}
    assertions:
      - contains: refund
  - id: parcel
    input: {question: "Where is my parcel?"}
    assertions:
      - contains: parcel
"""

PYPROJECT = """\
[tool.pytest.ini_options]
filterwarnings = ["ignore::pytest.PytestAssertRewriteWarning"]

[tool.flywheel]
store = ".flywheel/flywheel.db"

[tool.flywheel.prices.claude-haiku-5-5]
input = 1.0
output = 5.0
"""


class Usage:
    """What the agent's model reports per call: the refund answer's tokens can be doubled."""

    def __init__(self) -> None:
        self.refund_tokens = (400, 100)


@pytest.fixture
def usage() -> Usage:
    return Usage()


@pytest.fixture
def agent_api(usage: Usage) -> Iterator[MessagesAPIServer]:
    def reply(request: RecordedRequest) -> dict[str, object]:
        question = request.body["messages"][0]["content"]
        if "refund" in question:
            tokens_in, tokens_out = usage.refund_tokens
            return text_message("Your refund was sent.", model="claude-haiku-5-5",
                                input_tokens=tokens_in, output_tokens=tokens_out)
        return text_message("Your parcel is on its way.", model="claude-haiku-5-5",
                            input_tokens=300, output_tokens=60)

    with MessagesAPIServer(reply) as server:
        yield server


@pytest.fixture
def shop(pytester: pytest.Pytester, agent_api: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENT_BASE_URL", agent_api.base_url)
    monkeypatch.delenv("FLYWHEEL_STORE")  # the project's own store, as pyproject.toml names it
    pytester.makefile(".toml", pyproject=PYPROJECT)
    pytester.makepyfile(agent=AGENT)
    suite = pytester.path / "flywheel" / "suites" / "shop.yaml"
    suite.parent.mkdir(parents=True)
    suite.write_text(SUITE)
    monkeypatch.chdir(pytester.path)
    return pytester.path


def _runs(store_path: Path) -> list[str]:
    with Store(store_path, readonly=True) as store:
        return [row[0] for row in store.conn.execute("SELECT id FROM runs ORDER BY started_at")]


def test_a_rerecorded_cassette_that_doubles_a_cases_tokens_fails_the_tokens_gate(
    shop: Path, pytester: pytest.Pytester, usage: Usage, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.runpytest("--flywheel-suite=shop", "--flywheel-record=once").assert_outcomes(passed=2)
    usage.refund_tokens = (800, 200)  # the model now spends twice as much on the refund question
    pytester.runpytest("--flywheel-suite=shop", "--flywheel-record=all").assert_outcomes(passed=2)
    cassette = (shop / "flywheel/cassettes/shop/refund.yaml").read_text()
    assert "800" in cassette  # the re-recorded cassette holds the doubled usage
    store = shop / ".flywheel" / "flywheel.db"
    first, second = _runs(store)

    code = main(["runs", "compare", first, second, "--max-tokens-increase", "20%", "--store", str(store)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "OVER BUDGET (1)" in out
    assert "shop::refund   tokens 500 → 1,000 (+100.0%, limit +20.0%)" in out
    assert "shop::parcel" not in out.split("OVER BUDGET")[1]
    assert "Something regressed: over budget." in out

    # The same two runs pass a gate the rise stays within, and a gate on another figure.
    assert main(["runs", "compare", first, second, "--max-tokens-increase", "150%", "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["runs", "compare", first, second, "--json", "--store", str(store),
                 "--max-cost-increase", "20%"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["over_budget"] is True and data["outcome_regressed"] is False
    refund = next(item for item in data["budget"]["cases"] if item["key"] == "shop::refund")
    cost = next(figure for figure in refund["figures"] if figure["metric"] == "cost_usd")
    # 400 in + 100 out at $1/$5 per million, then twice that
    assert cost["before"] == pytest.approx(0.0009) and cost["after"] == pytest.approx(0.0018)
    assert cost["increase"] == pytest.approx(1.0) and cost["over"] is True

    # Replaying the re-recorded cassette spends what it recorded: no rise against the re-recording.
    pytester.runpytest("--flywheel-suite=shop").assert_outcomes(passed=2)
    third = _runs(store)[-1]
    assert main(["runs", "compare", second, third, "--max-tokens-increase", "0%", "--max-cost-increase", "0%",
                 "--store", str(store)]) == 0


def test_the_plugin_entry_point_gates_against_the_previous_run_of_the_suite(tmp_path: Path) -> None:
    path = tmp_path / "flywheel.db"
    older = run_from_report(report(case("refund", "passed", suite="qa"), started_at=1000.0))
    other_suite = run_from_report(report(case("refund", "passed", suite="other"), started_at=1500.0,
                                         suites=("other",)))
    for run, tokens in ((older, 500), (other_suite, 5)):
        run.cases[0].tokens = tokens
    current = run_from_report(report(case("refund", "passed", suite="qa"), started_at=2000.0))
    current.cases[0].tokens = 1000
    with Store(path) as store:
        save_run(store, older)
        save_run(store, other_suite)
        assert budget_against_previous(store, older, BudgetGates(max_tokens_increase=0.2), suite="qa") is None
        found = budget_against_previous(store, current, BudgetGates(max_tokens_increase=0.2), suite="qa")
        assert found is not None
        previous, budget = found
        assert previous.id == older.id  # the other suite's newer run is not "the previous run"
        assert [case.key for case in budget.over_budget] == ["qa::refund"]
        save_run(store, current)  # once saved, the current run is still not compared with itself,
        again = budget_against_previous(store, current, BudgetGates(max_tokens_increase=0.2), suite="qa")
        assert again is not None and again[0].id == older.id
        # nor with its stored copy when the plugin builds the run again from the same report
        rebuilt = run_from_report(report(case("refund", "passed", suite="qa"), started_at=2000.0))
        third = budget_against_previous(store, rebuilt, BudgetGates(max_tokens_increase=0.2), suite="qa")
        assert third is not None and third[0].id == older.id


def test_latency_comes_back_from_the_stored_report(tmp_path: Path) -> None:
    item = case("refund", "passed")
    item["latency_ms"] = 640.5
    run = run_from_report(report(item, started_at=1000.0))
    assert run.cases[0].latency_ms == 640.5
    with Store(tmp_path / "flywheel.db") as store:
        save_run(store, run)
        assert load_run(store, run.id).cases[0].latency_ms == 640.5


def _run(**figures: float | None) -> RunRecord:
    run = run_from_report(report(case("refund", "passed"), started_at=1000.0))
    for name, value in figures.items():
        setattr(run.cases[0], name, value)
    return run


def test_figures_missing_on_one_side_are_not_compared_and_a_rise_from_zero_is_unbounded() -> None:
    gates = BudgetGates(max_cost_increase=0.2, max_tokens_increase=0.2, max_latency_increase=0.2)
    budget = compare_budgets(
        _run(cost_usd=None, tokens=0, latency_ms=100.0), _run(cost_usd=0.5, tokens=10, latency_ms=90.0), gates
    )
    figures = {figure.metric: figure for figure in budget.cases[0].figures}
    assert figures["cost_usd"].increase is None and not figures["cost_usd"].over
    assert figures["tokens"].increase == math.inf and figures["tokens"].over
    assert figures["latency_ms"].increase == pytest.approx(-0.1) and not figures["latency_ms"].over
    assert figures["tokens"].to_json()["from_zero"] is True and figures["tokens"].to_json()["increase"] is None
    assert budget.totals()["cost_usd"] == (None, None)


def test_a_rise_equal_to_the_limit_is_within_it() -> None:
    assert not FigureChange("tokens", 100.0, 120.0, 0.2).over
    assert FigureChange("tokens", 100.0, 121.0, 0.2).over
    assert not FigureChange("tokens", 100.0, 500.0, None).over  # no gate, no regression


def test_skipped_cases_and_cases_in_one_run_only_are_left_out() -> None:
    a = run_from_report(report(case("refund", "passed"), case("gone", "passed"), started_at=1.0))
    b = run_from_report(report(case("refund", "skipped"), case("new", "passed"), started_at=2.0))
    assert compare_budgets(a, b, BudgetGates(max_tokens_increase=0.0)).cases == []


@pytest.mark.parametrize(
    ("text", "expected"), [("20%", 0.2), (" 2.5% ", 0.025), ("0%", 0.0), ("300%", 3.0)]
)
def test_limits_are_percentages(text: str, expected: float) -> None:
    assert parse_increase(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["0.2", "20", "-5%", "abc%", "nan%", "inf%", "%"])
def test_a_limit_that_is_not_a_percentage_is_refused(text: str) -> None:
    with pytest.raises(BudgetError, match="percentage"):
        parse_increase(text)


def test_the_cli_refuses_a_bad_limit_as_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "compare", "a", "b", "--max-cost-increase", "0.2", "--store", str(tmp_path / "x.db")]) == 2
    assert "as a percentage, as in 20%" in capsys.readouterr().err
