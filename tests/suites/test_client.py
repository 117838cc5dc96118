"""The SDK (``pytest_flywheel.Client``) and round-trip editing: hand edits survive adding cases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_flywheel
from pytest_flywheel.suites import (
    CaseError,
    Client,
    ContainsCheck,
    SuiteNotFoundError,
    derive_case_id,
    load_suite,
)
from tests.suites.projects import Project, make_project, write_trace


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    made = make_project(tmp_path, pyproject_extra='redact = ["[\\\\w.]+@[\\\\w.]+"]')
    monkeypatch.chdir(tmp_path)
    return made


HAND_EDITED = """\
# Support answers that went wrong in production.
# Reviewed by the support team every Monday.
version: 1
name: support
description: Order questions   # keep this short
target: {module}:answer
judge:
    model: claude-sonnet-5-5   # the judge we trust
cases:
    # The first failure we ever caught.
    -   id: late-order
        input: {{question: "Where is my order?", user_id: 7}}
        notes: hand-written case, notes before assertions
        assertions:
            -   "The response must not invent a date."   # quoted on purpose
            -   contains: order
        tags: [orders]

    # A second one, tags before input on purpose.
    -   id: refund
        tags: [refunds]
        input:
            question: Can I get a refund?
        assertions:
            -   The response must explain the policy.
# trailing comment at the end of the file
"""


def test_the_lazy_top_level_export_is_the_client() -> None:
    assert pytest_flywheel.Client is Client


def test_get_or_create_makes_the_file_once_and_then_reads_it(project: Project) -> None:
    client = Client(project.root)
    suite = client.get_or_create_test_suite(
        name="customer-support-qa", target=project.target, description="QA"
    )
    assert suite.path == project.suites_dir / "customer-support-qa.yaml"
    text = suite.path.read_text()
    assert text.startswith(
        "# pytest-flywheel suite. Run it with: pytest --flywheel-suite=customer-support-qa\n"
    )
    assert suite.test_cases == [] and suite.target == project.target and suite.description == "QA"
    again = client.get_or_create_test_suite(name="customer-support-qa")
    assert again.path.read_text() == text
    assert client.list_test_suites() == ["customer-support-qa"]
    with pytest.raises(CaseError, match=rf"tests {project.target}, not other:fn; use another suite name"):
        client.get_or_create_test_suite(name="customer-support-qa", target="other:fn")
    with pytest.raises(CaseError, match=r"'bad name' is not a suite name"):
        client.get_or_create_test_suite(name="bad name")
    with pytest.raises(
        CaseError, match=r"suite 'x' not written, .* is unchanged: target: expected an entrypoint"
    ):
        client.get_or_create_test_suite(name="x", target="not a target")
    assert not (project.suites_dir / "x.yaml").exists()


def test_a_case_without_a_trace_has_no_cassette_and_a_derived_redacted_id(project: Project) -> None:
    suite = Client(project.root).get_or_create_test_suite(name="support", target=project.target)
    case = suite.add_test_case(
        input={"question": "Why was I charged twice? mail me at jo@example.com", "user_id": 3},
        assertions=["The response must apologise.", {"not_contains": "refund denied"}],
        tags=["billing"],
    )
    assert case.input == {"question": "Why was I charged twice? mail me at [REDACTED]", "user_id": 3}
    assert case.id == derive_case_id(case.input)
    assert case.id.startswith("why-was-i-charged-twice-mail-")
    assert case.source is None and case.cassette is None
    assert not case.cassette_path(project.settings, "support").exists()
    assert not (project.root / "flywheel" / "cassettes").exists()
    assert suite.test_cases == [case]
    assert suite.get_test_case(case.id) == case


def test_case_ids_are_stable_and_differ_for_different_inputs() -> None:
    first = derive_case_id({"question": "Where is my order?", "user_id": 7})
    assert first == derive_case_id({"user_id": 7, "question": "Where is my order?"})  # key order is not data
    assert first != derive_case_id({"question": "Where is my order?", "user_id": 8})
    assert first.startswith("where-is-my-order-") and len(first.rsplit("-", 1)[1]) == 6
    assert derive_case_id({"n": 3}).startswith("case-")
    assert derive_case_id({"a": "short", "b": "the longest words win here"}).startswith(
        "the-longest-words-win-here-"
    )
    assert derive_case_id({"q": "Ünïcode façade — café?"}).startswith("unicode-facade-cafe-")


def test_adding_to_a_hand_edited_file_keeps_comments_order_and_style(project: Project) -> None:
    project.suites_dir.mkdir(parents=True)
    path = project.suites_dir / "support.yaml"
    original = HAND_EDITED.format(module=project.module)
    path.write_text(original)
    suite = Client(project.root).get_or_create_test_suite(name="support")
    trace_id = write_trace(project.settings, module=project.module, case_input={"question": "Is it raining?"})
    case = suite.add_test_case(
        trace_id=trace_id, assertions=["The response must say it cannot know."], id="weather"
    )

    text = path.read_text()
    # Everything that was there is still there, byte for byte, before the new case.
    kept, _, added = text.partition("    -   id: weather\n")
    assert kept == original
    assert added.startswith("        input:\n            question: Is it raining?\n")
    loaded = load_suite(path)
    assert [c.id for c in loaded.suite.cases] == ["late-order", "refund", "weather"]
    assert loaded.suite.cases[2] == case
    assert loaded.line_of("weather") == original.count("\n") + 1
    assert case.cassette_path(project.settings, "support").is_file()


def test_replacing_a_case_keeps_the_other_cases_comments(project: Project) -> None:
    project.suites_dir.mkdir(parents=True)
    path = project.suites_dir / "support.yaml"
    path.write_text(HAND_EDITED.format(module=project.module))
    suite = Client(project.root).get_test_suite("support")
    with pytest.raises(
        CaseError, match=r"already has a case 'refund' \(line 20 of flywheel/suites/support.yaml\)"
    ):
        suite.add_test_case(input={"question": "Refund?"}, assertions=["x"], id="refund")
    suite.add_test_case(
        input={"question": "Refund?"}, assertions=["The response must be polite."], id="refund", replace=True
    )
    text = path.read_text()
    assert "# The first failure we ever caught." in text
    assert '"The response must not invent a date."   # quoted on purpose' in text
    assert "# trailing comment at the end of the file" in text
    assert [c.assertions for c in suite.test_cases] == [
        ["The response must not invent a date.", ContainsCheck(contains="order")],
        ["The response must be polite."],
    ]


def test_an_invalid_case_writes_nothing(project: Project) -> None:
    suite = Client(project.root).get_or_create_test_suite(name="support", target=project.target)
    before = suite.path.read_bytes()
    with pytest.raises(CaseError, match=r"assertions\[0\]: unknown check 'contain'|assertions\[0\].contain"):
        suite.add_test_case(input={"q": "x"}, assertions=[{"contain": "x"}])
    with pytest.raises(CaseError, match=r"assertions: expected a list of at least one assertion"):
        suite.add_test_case(input={"q": "x"}, assertions=[])
    with pytest.raises(CaseError, match=r"id: expected an id of letters"):
        suite.add_test_case(input={"q": "x"}, assertions=["ok"], id="no spaces allowed")
    with pytest.raises(CaseError, match=r"a case needs an input"):
        suite.add_test_case(assertions=["ok"])
    assert suite.path.read_bytes() == before
    assert sorted(p.name for p in project.suites_dir.iterdir()) == ["support.yaml"]  # no temp files


def test_an_unknown_suite_names_the_ones_there_are(project: Project) -> None:
    client = Client(project.root)
    with pytest.raises(
        SuiteNotFoundError, match=r"holds no suites yet; add a case with `flywheel suite add nope"
    ):
        client.get_test_suite("nope")
    client.get_or_create_test_suite(name="alpha")
    client.get_or_create_test_suite(name="beta")
    with pytest.raises(SuiteNotFoundError, match=r"no suite named 'nope'.*the suites are: alpha, beta$"):
        client.get_test_suite("nope")


def test_multi_line_text_is_written_as_a_block_and_read_back_exactly(project: Project) -> None:
    suite = Client(project.root).get_or_create_test_suite(name="support", target=project.target)
    tricky = {
        "question": "line one\nline two\n",
        "padded": "trailing space \nnext",
        "flags": ["no", "yes", "on", "1:20", "010"],
        "nested": {"deep": [{"x": None, "y": 1.5, "z": True}]},
    }
    case = suite.add_test_case(input=tricky, assertions=["ok"])
    assert case.input == tricky
    assert "question: |\n" in suite.path.read_text()


ADD_CASES = """
import sys
from pytest_flywheel import Client

suite = Client().get_or_create_test_suite(name="support")
for number in range(int(sys.argv[2])):
    suite.add_test_case(input={"question": f"worker {sys.argv[1]} question {number}"}, assertions=["ok"])
"""


def test_processes_adding_at_once_lose_no_case(project: Project) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    workers = [
        subprocess.Popen([sys.executable, "-c", ADD_CASES, str(worker), "6"], cwd=project.root, env=env,
                         stderr=subprocess.PIPE, text=True)
        for worker in range(4)
    ]  # fmt: skip
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    cases = load_suite(project.suites_dir / "support.yaml").suite.cases
    assert len(cases) == 24
    assert sorted(p.name for p in project.suites_dir.iterdir()) == ["support.yaml"]
