"""No duplicate cases: the SDK and ``flywheel suite add`` refuse a case that fails like one the suite
has, or whose input is near-identical to one; ``flywheel suite validate`` reports those already there."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.evolve.duplicates import CaseFacts, FailureKey, find_duplicate, input_similarity
from pytest_flywheel.store import Store
from pytest_flywheel.suites import Client, DuplicateCaseError
from tests.suites.projects import make_project

AGENT = '''
import re
from pytest_flywheel import track

@track(type="tool")
def lookup_order(order_id: str) -> dict:
    if order_id.startswith("X"):
        return {"error": f"No order {order_id} was found."}
    return {"status": "shipped"}

@track(entrypoint=True)
def answer(question: str) -> str:
    lookup_order(re.search(r"[A-Z]-[0-9]+", question).group(0))
    return "Your order has shipped."
'''
QUESTIONS = ["Where is X-1?", "Has X-2 left the warehouse yet, please?", "Where is A-3?"]


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Client, list[str]]:
    """A project whose agent ran three requests for real (@track, in a process of its own): two fail the
    same way on different orders, one succeeds."""
    project = make_project(tmp_path)
    (project.root / "shop_agent.py").write_text(AGENT)
    store = project.settings.store
    script = "import shop_agent, pytest_flywheel as f\n" + "".join(
        f"shop_agent.answer({question!r})\n" for question in QUESTIONS
    ) + "assert f.flush(10.0)\n"
    subprocess.run([sys.executable, "-c", script], cwd=project.root, check=True,
                   env={"PATH": "/usr/bin:/bin", "FLYWHEEL_STORE": str(store), "PYTHONPATH": str(project.root)})  # fmt: skip
    with Store(store, readonly=True) as db:
        ids = [row[0] for row in db.conn.execute("SELECT id FROM traces ORDER BY start_time")]
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("FLYWHEEL_STORE", str(store))
    return Client(project.root), ids


def test_the_sdk_refuses_a_case_that_fails_the_same_way(traced: tuple[Client, list[str]]) -> None:
    client, (missing_1, missing_2, found) = traced
    suite = client.get_or_create_test_suite("support")
    suite.add_test_case(trace_id=missing_1, assertions=["It says the order was not found."], id="missing-order")
    with pytest.raises(DuplicateCaseError) as refused:
        suite.add_test_case(trace_id=missing_2, assertions=["It says so."], id="missing-again")
    message = str(refused.value)
    assert message.startswith("case 'missing-again' was not added to suite 'support': it looks like case "
                              "'missing-order' (line ")  # fmt: skip
    assert "the same failure: tool_error_result at lookup_order: error_result (order_id)" in message
    assert message.endswith("--allow-duplicate (allow_duplicate=True) to add it anyway")
    assert refused.value.existing == "missing-order"
    assert [case.id for case in suite.test_cases] == ["missing-order"]  # nothing written
    assert not (suite.path.parent.parent / "cassettes" / "support" / "missing-again.yaml").exists()

    suite.add_test_case(trace_id=missing_2, assertions=["It says so."], id="missing-again", allow_duplicate=True)
    suite.add_test_case(trace_id=found, assertions=["It gives the status."], id="found")  # another failure: fine
    with pytest.raises(DuplicateCaseError, match="a near-identical input: 100% of the words shared"):
        suite.add_test_case(input={"question": "Where is  A-3 ?"}, assertions=["x"], id="by-hand")
    with pytest.raises(DuplicateCaseError, match=r"it looks like case 'found' .*: the same input"):
        suite.add_test_case(input={"question": "Where is A-3?"}, assertions=["x"], id="by-hand")
    # replacing a case is not a duplicate of itself
    suite.add_test_case(trace_id=found, assertions=["It gives the status again."], id="found", replace=True)
    assert [case.id for case in suite.test_cases] == ["missing-order", "missing-again", "found"]


def test_validate_reports_near_duplicates_already_in_a_suite(
    traced: tuple[Client, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    client, (missing_1, missing_2, _) = traced
    suite = client.get_or_create_test_suite("support")
    suite.add_test_case(trace_id=missing_1, assertions=["It says so."], id="first")
    suite.add_test_case(trace_id=missing_2, assertions=["It says so."], id="second", allow_duplicate=True)
    suite.add_test_case(input={"question": "What is your refund policy?"}, assertions=["x"], id="policy")
    suite.add_test_case(input={"question": "What is your refund policy ?"}, assertions=["x"], id="policy-2",
                        allow_duplicate=True)  # fmt: skip
    code = main(["suite", "validate"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0  # warnings, not errors
    assert out[0].startswith("flywheel/suites/support.yaml:") and out[0].endswith(
        ": cases[1]: warning: case 'second' looks like case 'first' (line "
        f"{out[0].split('(line ')[1].split(')')[0]}): the same failure: tool_error_result at lookup_order: "
        "error_result (order_id)"
    )
    assert "cases[3]: warning: case 'policy-2' looks like case 'policy'" in out[1]
    assert out[2] == "1 suite file valid. 2 near-duplicate cases (warnings)."


def test_the_cli_refuses_and_then_allows(traced: tuple[Client, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    _, (missing_1, missing_2, _) = traced
    assert main(["suite", "add", "support", "--trace", missing_1, "--assert", "It says so.", "--id", "a"]) == 0
    capsys.readouterr()
    code = main(["suite", "add", "support", "--trace", missing_2, "--assert", "It says so.", "--id", "b"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("flywheel: error: case 'b' was not added to suite 'support'")
    assert main(["suite", "add", "support", "--trace", missing_2, "--assert", "It says so.", "--id", "b",
                 "--allow-duplicate"]) == 0  # fmt: skip


def test_what_counts_as_the_same() -> None:
    step = FailureKey("agent:answer", ("tool_error_result",), "lookup: error_result (order_id)", True)
    answer = FailureKey("agent:answer", ("unsupported_figures",), "answer: in the answer (no step failed)", False)
    old = [CaseFacts("old-step", {"q": "Where is X-1?"}, step), CaseFacts("old-answer", {"q": "Do you ship?"}, answer)]
    assert find_duplicate(CaseFacts("new", {"q": "Totally other"}, step), old) is not None
    # two answers that both state unsupported figures, about different questions: not one failure
    assert find_duplicate(CaseFacts("new", {"q": "Is there a discount?"}, answer), old) is None
    assert input_similarity({"q": "order 1 question 2"}, {"q": "order 2 question 1"}) < 0.9  # the same words, swapped
    assert input_similarity({"q": "Where is my order?"}, {"q": "where is my ORDER"}) == 1.0
    assert input_similarity({"a": 1}, {"a": 1}) == 1.0
    assert find_duplicate(CaseFacts("same-id", {"q": "x"}), [CaseFacts("same-id", {"q": "x"})]) is None


def test_a_case_whose_trace_left_the_store_is_compared_by_input(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    suites = project.suites_dir
    suites.mkdir(parents=True)
    (suites / "s.yaml").write_text(textwrap.dedent(f"""\
        version: 1
        name: s
        target: {project.target}
        cases:
          - id: gone
            input: {{question: Where is my order?}}
            assertions: [It answers]
            source: {{trace_id: no-such-trace}}
        """))
    client = Client(project.root)
    with pytest.raises(DuplicateCaseError, match="the same input"):
        client.get_test_suite("s").add_test_case(input={"question": "Where is my order?"}, assertions=["x"])
    client.get_test_suite("s").add_test_case(input={"question": "Where is my parcel to Lisbon?"}, assertions=["x"])


SEARCHING_AGENT = '''
from pytest_flywheel import log_feedback, current_trace_id, track

@track(type="retrieval")
def search_help_center(query: str) -> list:
    return [{"title": "Shipping"}] if "ship" in query else []   # most questions find no article

@track(type="tool")
def check_stock(product: str) -> dict:
    return {"product": product, "units": 3}

@track(entrypoint=True)
def answer(question: str) -> str:
    search_help_center(question)
    if "stock" in question:
        return f"We have {check_stock('sencha')['units']} left."
    if "angry" in question:
        log_feedback(current_trace_id(), "thumbs_up", False)
    return "Please contact us."
'''


def test_a_search_that_found_nothing_does_not_make_good_traces_one_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retrieval that returns nothing is a weak finding (often the right answer). Two traces that went
    fine otherwise, on different questions, are no "same failure": found by capturing a tea shop's
    traffic, where every question without a help article was refused as a duplicate of the first."""
    project = make_project(tmp_path)
    (project.root / "shop_agent.py").write_text(SEARCHING_AGENT)
    store = project.settings.store
    questions = ["Is sencha in stock?", "Do you sell gift cards?", "I am angry about my tea", "I am angry: cold tea"]
    script = "import shop_agent, pytest_flywheel as f\n" + "".join(
        f"shop_agent.answer({question!r})\n" for question in questions
    ) + "assert f.flush(10.0)\n"
    subprocess.run([sys.executable, "-c", script], cwd=project.root, check=True,
                   env={"PATH": "/usr/bin:/bin", "FLYWHEEL_STORE": str(store), "PYTHONPATH": str(project.root)})  # fmt: skip
    with Store(store, readonly=True) as db:
        stock, gift_cards, angry, angry_again = [
            row[0] for row in db.conn.execute("SELECT id FROM traces ORDER BY start_time")
        ]
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("FLYWHEEL_STORE", str(store))
    suite = Client(project.root).get_or_create_test_suite("support")
    suite.add_test_case(trace_id=stock, assertions=["It gives the units."], id="stock")
    suite.add_test_case(trace_id=gift_cards, assertions=["It says to contact us."], id="gift-cards")
    # a failure (negatively rated) still compares by its failure: the same empty search, the same rating
    suite.add_test_case(trace_id=angry, assertions=["It apologises."], id="angry")
    with pytest.raises(DuplicateCaseError, match="the same failure: tool_empty_result at search_help_center"):
        suite.add_test_case(trace_id=angry_again, assertions=["It apologises."], id="angry-again")
    assert [case.id for case in suite.test_cases] == ["stock", "gift-cards", "angry"]
