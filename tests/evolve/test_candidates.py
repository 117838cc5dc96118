"""``flywheel candidates``: propose from the example's simulated production, the file's round trip,
accept (a case and its cassette, red under the production agent), reject and its memory, --edit,
and a broken file's errors. The commands run in subprocesses, in a copy of the example, as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_flywheel.config import load_settings
from pytest_flywheel.evolve.candidates import CandidatesFileError, candidates_schema, read_candidates
from pytest_flywheel.suites import load_suite

from .helpers import clean_env, run_cli, simulated_example

SUITE = "customer-support-qa"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_example(tmp_path_factory.mktemp("candidates"))


@pytest.fixture
def example(simulated: Path, tmp_path: Path) -> Path:
    """A copy of the simulated example with no suite yet: every failure cluster is uncovered."""
    copy = tmp_path / "example_project"
    shutil.copytree(simulated, copy)
    (copy / "flywheel" / "suites" / f"{SUITE}.yaml").unlink()
    shutil.rmtree(copy / "flywheel" / "cassettes" / SUITE)
    return copy


def cli(project: Path, *argv: str, code: int = 0, env: dict[str, str] | None = None) -> str:
    done = run_cli(project, *argv, env=env)
    assert done.returncode == code, done.stderr + done.stdout
    return done.stdout if code == 0 else done.stderr


def test_propose_accept_reject_and_remember(example: Path) -> None:
    proposed = json.loads(cli(example, "candidates", "propose", SUITE, "--json"))
    assert proposed["target"] == "support_agent.agent:answer" and len(proposed["added"]) == 5
    assert proposed["llm"]["status"] == "skipped"
    settings = load_settings(example)
    file = read_candidates(settings, SUITE, must_exist=True)
    assert [c.id for c in file.candidates] == proposed["added"]
    text = file.path.read_text(encoding="utf-8")
    assert text.startswith("# Cases proposed for suite customer-support-qa") and "pytest does not run this file" in text
    assert file.dumps() == text  # the round trip: read back and written again, the same text
    loop = next(c for c in file.candidates if "tool_repeated" in c.cluster["labels"])
    assert loop.cluster["signature"] == "lookup_order: error_result (customer_id, order_id)"
    assert loop.input == {"question": "Can you check order BL-10299 for me?", "customer_id": "C-1004"}
    assert "The agent calls lookup_order with the same arguments at most once." in loop.assertions
    assert loop.status == "proposed" and loop.tags == ["triage"]

    listed = [json.loads(line) for line in cli(example, "candidates", "list", "--json").splitlines()]
    assert [(c["suite"], c["id"], c["status"]) for c in listed] == [(SUITE, c.id, "proposed") for c in file.candidates]
    shown = json.loads(cli(example, "candidates", "show", loop.id[:7], "--json"))
    assert shown["id"] == loop.id and shown["line"] == file.lines[loop.id]

    gift = next(c for c in file.candidates if "gift card" in c.input["question"])
    rejected = cli(example, "candidates", "reject", gift.id, "--reason", "Gift cards are a policy question for the shop")
    assert rejected.startswith(f"Rejected {gift.id} (Gift cards are a policy question for the shop)")
    accepted = cli(example, "candidates", "accept", loop.id)
    assert accepted.splitlines()[0] == f"Accepted {loop.id}: case {loop.case_id} in flywheel/suites/{SUITE}.yaml"
    case = load_suite(example / "flywheel" / "suites" / f"{SUITE}.yaml").suite.case(loop.case_id)
    assert case is not None and case.source is not None and case.source.trace_id == loop.trace_id
    assert case.assertions[0] == loop.assertions[0] and case.tags == ["triage"]
    assert (example / "flywheel" / "cassettes" / SUITE / f"{loop.case_id}.yaml").is_file()
    assert "was accepted already, as case customer-support-qa::" in cli(example, "candidates", "accept", loop.id, code=1)
    assert f"candidate {gift.id} was rejected (Gift cards" in cli(example, "candidates", "accept", gift.id, code=1)

    # proposing again: the rejected and the accepted are remembered, the others keep their edits
    before = read_candidates(settings, SUITE)
    again = json.loads(cli(example, "candidates", "propose", SUITE, "--json"))
    assert again["added"] == []
    assert {(r["id"], r["status"]) for r in again["remembered"]} == {(gift.id, "rejected")}
    after = read_candidates(settings, SUITE)
    assert [c.to_data() for c in after.candidates] == [c.to_data() for c in before.candidates]
    by_id = {c.id: c for c in after.candidates}
    assert by_id[gift.id].status == "rejected" and by_id[loop.id].accepted_case == f"{SUITE}::{loop.case_id}"
    triage = json.loads(cli(example, "triage", "--json"))
    assert next(c for c in triage["clusters"] if c["id"] == loop.id)["covered_by"] == [f"{SUITE}::{loop.case_id}"]

    # the accepted case replays the production agent's answer and fails: red before the fix
    red = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--flywheel-suite={SUITE}", "-k", loop.case_id,
         "--standin"],
        cwd=example, env=clean_env(SUPPORT_AGENT_VERSION="v1"), text=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert red.returncode == 1, red.stdout + red.stderr
    assert "1 failed" in red.stdout and "FAIL  The agent calls lookup_order with the same arguments" in red.stdout
    # pytest never collects the candidates file
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "--flywheel-suite=all"],
        cwd=example, env=clean_env(), text=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert "candidates" not in collected.stdout and f"{SUITE}.yaml::{loop.case_id}" in collected.stdout


EDITOR = """\
import sys, pathlib
path = pathlib.Path(sys.argv[1])
text = path.read_text()
mode = pathlib.Path(__file__).with_suffix(".mode").read_text()
if mode == "good":
    start = text.index("assertions:")
    end = text.index("tags:")
    text = text[:start] + "assertions:\\n  - The reply must say that it cannot find order BL-10299.\\n  - contains: BL-10299\\n" + text[end:]
    text = text.replace("case_id: ", "case_id: reviewed-loop #", 1)
else:
    text = text.replace("assertions:", "assertions: []\\nunused:", 1)
path.write_text(text)
"""


def test_accept_with_edit(example: Path) -> None:
    cli(example, "candidates", "propose", SUITE)
    settings = load_settings(example)
    loop = next(c for c in read_candidates(settings, SUITE).candidates if "tool_repeated" in c.cluster["labels"])
    editor = example / "editor.py"
    editor.write_text(EDITOR)
    env = clean_env(EDITOR=f"{sys.executable} {editor}")
    editor.with_suffix(".mode").write_text("bad")
    error = cli(example, "candidates", "accept", loop.id, "--edit", code=1, env=env)
    assert "the edited candidate" in error or "--edit:" in error
    assert not (example / "flywheel" / "suites" / f"{SUITE}.yaml").exists()  # nothing added

    editor.with_suffix(".mode").write_text("good")
    out = cli(example, "candidates", "accept", loop.id, "--edit", env=env)
    assert f"case reviewed-loop in flywheel/suites/{SUITE}.yaml" in out
    case = load_suite(example / "flywheel" / "suites" / f"{SUITE}.yaml").suite.case("reviewed-loop")
    assert case is not None and case.sentences == ["The reply must say that it cannot find order BL-10299."]
    stored = read_candidates(settings, SUITE).get(loop.id)
    assert stored is not None and stored.case_id == "reviewed-loop" and stored.status == "accepted"
    # no editor set: a clear error
    error = cli(example, "candidates", "accept", next(
        c.id for c in read_candidates(settings, SUITE).candidates if c.status == "proposed"), "--edit", code=1)
    assert "--edit opens $VISUAL or $EDITOR, and neither is set" in error


def test_a_broken_candidates_file_is_reported_by_line(example: Path) -> None:
    folder = example / "flywheel" / "candidates"
    folder.mkdir(parents=True)
    (folder / f"{SUITE}.yaml").write_text(textwrap.dedent("""\
        version: 1
        suite: customer-support-qa
        candidates:
          - id: cl-000000000000
            status: maybe
            cluster: {entrypoint: a:b, labels: [], signature: s, count: 1}
            trace_id: t
            case_id: c
            input: {question: q}
            assertions: [{regex: "("}]
        """))
    error = cli(example, "candidates", "list", code=1)
    assert error.startswith("flywheel: error: flywheel/candidates/customer-support-qa.yaml:5: candidates[0].status: ")
    assert ":10: candidates[0].assertions[0].regex: not a valid regular expression" in error
    proposed = cli(example, "candidates", "propose", SUITE, code=1)  # never written over
    assert "candidates[0].status" in proposed
    assert "status: maybe" in (folder / f"{SUITE}.yaml").read_text()
    assert "no candidates for suite 'other'" in cli(example, "candidates", "show", "cl-nope", "--suite", "other", code=1)


def test_a_suite_name_never_leaves_the_candidates_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_flywheel.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.flywheel]\n")
    outside = tmp_path / "outside.yaml"
    outside.write_text("version: 1\nsuite: outside\ncandidates: []\n")
    for argv in (["candidates", "show", "cl-1", "--suite", "../../outside"], ["candidates", "list", "../../outside"],
                 ["candidates", "reject", "cl-1", "--reason", "x", "--suite", "../../outside"]):  # fmt: skip
        assert main(argv) == 2  # a usage error, before any file is read
        assert "'../../outside' is not a suite name" in capsys.readouterr().err
    assert outside.read_text() == "version: 1\nsuite: outside\ncandidates: []\n"


def test_a_reason_that_is_not_utf8_is_refused_and_nothing_changes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_flywheel.cli.main import main

    assert main(["candidates", "propose", "s", "--json"]) == 0
    added = json.loads(capsys.readouterr().out)["added"]
    path = project / "flywheel" / "candidates" / "s.yaml"
    before = path.read_text()
    assert main(["candidates", "reject", added[0], "--reason", "bad \udcff reason"]) == 2
    err = capsys.readouterr().err
    assert "argument --reason: b'bad \\xff reason' is not UTF-8 text" in err
    assert path.read_text() == before


def test_the_schema_is_shipped_and_valid() -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(candidates_schema())
    with pytest.raises(CandidatesFileError):
        from pytest_flywheel.evolve.candidates import parse_candidates

        parse_candidates("version: 2\nsuite: x\ncandidates: []\n", Path("x.yaml"), expected_suite="x")
