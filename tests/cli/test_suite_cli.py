"""``flywheel suite add | list | show | validate``, through ``main([...])`` and once as a real process."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.suites import ContainsCheck, ToolCalledCheck, load_suite
from tests.suites.projects import SECRET_KEY, Project, make_project, write_trace


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    made = make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return made


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["suite", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, bytes]:
    folder = root / "flywheel"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_add_captures_a_trace_with_sentences_and_checks_in_order(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_id = write_trace(project.settings, module=project.module)
    code, out, err = run(
        capsys, "add", "support", "--trace", trace_id[:8],
        "--assert", "The response must give the delivery date.",
        "--check", '{"contains": "Monday"}',
        "--assert", "The response must not apologise.",
        "--check", '{"tool_called": "lookup_order", "args": {"order_id": "1234"}}',
        "--tag", "orders", "--tag", "p1", "--notes", "Invented a date.", "--id", "late-order",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Added case late-order in flywheel/suites/support.yaml",
        "Cassette: flywheel/cassettes/support/late-order.yaml",
        "Run it: pytest --flywheel-suite=support",
    ]
    case = load_suite(project.suites_dir / "support.yaml").suite.cases[0]
    assert case.assertions == [
        "The response must give the delivery date.",
        ContainsCheck(contains="Monday"),
        "The response must not apologise.",
        ToolCalledCheck(tool_called="lookup_order", args={"order_id": "1234"}),
    ]
    assert case.tags == ["orders", "p1"] and case.notes == "Invented a date."
    assert case.source is not None and case.source.trace_id == trace_id
    assert not any(SECRET_KEY.encode() in content for content in snapshot(project.root).values())


def test_list_and_show(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "list")
    assert code == 1 and out == "" and err.startswith(
        "flywheel: error: no suites in flywheel/suites: add one with `flywheel suite add SUITE"
    )
    trace_id = write_trace(project.settings, module=project.module)
    assert run(capsys, "add", "support", "--trace", trace_id, "--assert", "Be right.", "--id", "a")[0] == 0
    # the same trace again is the same case: refused unless asked for
    code, _, err = run(capsys, "add", "support", "--trace", trace_id, "--assert", "Be kind.", "--id", "b")
    assert code == 1 and "case 'b' was not added to suite 'support': it looks like case 'a' (line 7" in err
    assert "the same input; --allow-duplicate" in err
    assert run(capsys, "add", "support", "--trace", trace_id, "--assert", "Be kind.", "--id", "b",
               "--allow-duplicate")[0] == 0  # fmt: skip
    (project.root / "flywheel" / "cassettes" / "support" / "b.yaml").unlink()
    (project.suites_dir / "broken.yaml").write_text("version: 1\nname: broken\ncases: 3\n")

    code, out, _ = run(capsys, "list")
    assert code == 0
    assert out.splitlines() == [
        "broken   invalid (1 problem)  flywheel/suites/broken.yaml",
        "support  2 cases              flywheel/suites/support.yaml",
    ]
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"name": "broken", "path": "flywheel/suites/broken.yaml", "valid": False, "cases": None,
         "problems": 1, "target": None},
        {"name": "support", "path": "flywheel/suites/support.yaml", "valid": True, "cases": 2,
         "problems": 0, "target": project.target},
    ]  # fmt: skip
    code, out, _ = run(capsys, "show", "support")
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == [
        "Suite support (flywheel/suites/support.yaml)",
        f"  target: {project.target}",
        "  2 cases",
    ]
    assert "a  (line 7)" in lines
    assert "    - Be right." in lines
    assert any(line.startswith(f"  source: trace {trace_id}, project default, captured 20") for line in lines)
    assert "  cassette: flywheel/cassettes/support/a.yaml (present)" in lines
    assert (
        "  cassette: flywheel/cassettes/support/b.yaml (missing (recorded on the first run with "
        "--flywheel-record=once))" in lines
    )
    code, out, _ = run(capsys, "show", "support", "--json")
    shown = json.loads(out)
    assert (code, shown["name"], shown["target"], shown["path"]) == (
        0,
        "support",
        project.target,
        "flywheel/suites/support.yaml",
    )
    assert [(c["id"], c["line"], c["cassette_present"], c["assertions"]) for c in shown["cases"]] == [
        ("a", 7, True, ["Be right."]),
        ("b", 17, False, ["Be kind."]),
    ]
    assert shown["cases"][1]["cassette_path"] == "flywheel/cassettes/support/b.yaml"


def test_validate_every_suite_or_the_given_paths(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "validate")
    assert (code, out) == (0, "No suite files in flywheel/suites: nothing to validate.\n")
    project.suites_dir.mkdir(parents=True)
    (project.suites_dir / "good.yaml").write_text("version: 1\nname: good\ncases: []\n")
    code, out, _ = run(capsys, "validate")
    assert (code, out) == (0, "1 suite file valid.\n")
    (project.suites_dir / "bad.yaml").write_text(
        "version: 1\nname: bad\ncases:\n  - id: a\n    input: {}\n    assertions: [{contain: x}]\n  - id: a\n"
    )
    code, out, _ = run(capsys, "validate")
    assert code == 1
    assert out.splitlines() == [
        "flywheel/suites/bad.yaml:6: cases[0].assertions[0].contain: unknown check 'contain'; expected one of "
        "contains, not_contains, regex, json_schema, tool_called, max_latency_ms, max_cost_usd, custom, or a sentence",
        "flywheel/suites/bad.yaml:7: cases[1].assertions: required field is missing",
        "flywheel/suites/bad.yaml:7: cases[1].id: duplicate case id 'a' (first at line 4); give one of them "
        "another id",
        "flywheel/suites/bad.yaml:7: cases[1].input: required field is missing",
        "4 problems in 1 of 2 suite files.",
    ]
    code, out, _ = run(capsys, "validate", "flywheel/suites/good.yaml", "missing.yaml")
    assert code == 1
    assert out.splitlines() == ["missing.yaml:1: suite: no such file", "1 problem in 1 of 2 suite files."]


def test_validate_takes_a_suite_name_like_the_other_suite_commands(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`suite add`, `suite show` and `--flywheel-suite` take a suite's name; `suite validate NAME` checks
    that suite's file instead of saying 'NAME:1: suite: no such file'."""
    project.suites_dir.mkdir(parents=True)
    (project.suites_dir / "good.yaml").write_text("version: 1\nname: good\ncases: []\n")
    (project.suites_dir / "bad.yaml").write_text("version: 1\nname: bad\ncases: 3\n")
    code, out, _ = run(capsys, "validate", "good")
    assert (code, out) == (0, "1 suite file valid.\n")
    code, out, _ = run(capsys, "validate", "bad")
    assert code == 1
    assert out.splitlines()[0].startswith("flywheel/suites/bad.yaml:3: cases: ")
    code, out, _ = run(capsys, "validate", "nope")
    assert code == 1
    assert out.splitlines() == [
        "nope:1: suite: no such file, and no suite named 'nope' (the suites are: bad, good)",
        "1 problem in 1 of 1 suite file.",
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--check", '{"regex": "("}'], "is not valid, nothing was written: assertions[0].regex: not a valid "
         "regular expression: missing ), unterminated subpattern at position 0"),
        (["--check", '{"max_latency_ms": "fast"}'], "nothing was written: assertions[0].max_latency_ms: "
         "expected a number, found the text 'fast'"),
        ([], "a case needs at least one assertion: add --assert \"The response must ...\" or --check"),
        (["--assert", "ok", "--id", "bad id"], "case 'bad id' is not valid, nothing was written: id: expected an "
         "id of letters"),
    ],
)  # fmt: skip
def test_add_errors_are_one_line_and_write_nothing(
    project: Project, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    trace_id = write_trace(project.settings, module=project.module)
    code, out, err = run(capsys, "add", "support", "--trace", trace_id, *extra)
    assert code == 1 and out == ""
    assert err.startswith("flywheel: error: ") and err.count("\n") == 1
    assert message in err
    assert not (project.root / "flywheel").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--check", "{contains: x}"], "argument --check: '{contains: x}' is not valid JSON (Expecting "
         "property name enclosed in double quotes at character 1); write it like '{\"contains\": \"Settings\"}'"),
        (["--check", '{"contain": "x"}'], "argument --check: '{\"contain\": \"x\"}': 'contain' is not a known "
         "check; expected one of contains, not_contains, regex, json_schema, tool_called, max_latency_ms, "
         "max_cost_usd"),
        (["--check", "[1]"], "argument --check: '[1]' is not a check: expected a JSON object with one of "
         "contains, not_contains, regex, json_schema, tool_called, max_latency_ms, max_cost_usd"),
        (["--check", '{"max_cost_usd": NaN}'], "argument --check: NaN is not a JSON value"),
        (["--assert", ""], "argument --assert: an empty value"),
        (["--assert", "ok", "--tag", " "], "argument --tag: an empty value"),
    ],
)  # fmt: skip
def test_add_values_that_cannot_be_right_are_usage_errors(
    project: Project, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    trace_id = write_trace(project.settings, module=project.module)
    code, out, err = run(capsys, "add", "support", "--trace", trace_id, *extra)
    assert code == 2 and out == ""
    assert err.startswith("usage: flywheel suite add ") and message in err
    assert not (project.root / "flywheel").exists()


def test_add_refusals_for_traces_and_duplicates(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "add", "support", "--trace", "nope", "--assert", "ok")
    assert code == 1 and err.startswith("flywheel: error: cannot capture trace 'nope': no trace store at ")
    trace_id = write_trace(project.settings, module=project.module)
    code, _, err = run(capsys, "add", "support", "--trace", "nope", "--assert", "ok")
    assert code == 1 and err.startswith("flywheel: error: no trace 'nope' in the store ")
    local = write_trace(project.settings, module=project.module, qualname="make.<locals>.answer")
    code, _, err = run(capsys, "add", "support", "--trace", local, "--assert", "ok")
    assert code == 1 and "is defined inside another function, so a test cannot import it" in err
    marked = write_trace(
        project.settings, module=project.module, case_input={"q": {"__flywheel_repr__": "<X>"}}
    )
    code, _, err = run(capsys, "add", "support", "--trace", marked, "--assert", "ok")
    assert code == 1 and "input.q was not JSON-serialisable when traced (stored as the repr <X>)" in err
    assert not (project.root / "flywheel").exists()

    assert run(capsys, "add", "support", "--trace", trace_id, "--assert", "one", "--id", "x")[0] == 0
    before = snapshot(project.root)
    code, _, err = run(capsys, "add", "support", "--trace", trace_id, "--assert", "two", "--id", "x")
    assert code == 1 and err == (
        "flywheel: error: suite 'support' already has a case 'x' (line 7 of flywheel/suites/support.yaml); "
        "pass --replace (replace=True) to overwrite it\n"
    )
    assert snapshot(project.root) == before
    code, out, _ = run(
        capsys, "add", "support", "--trace", trace_id, "--assert", "two", "--id", "x", "--replace"
    )
    assert code == 0 and out.startswith("Replaced case x in flywheel/suites/support.yaml")
    assert load_suite(project.suites_dir / "support.yaml").suite.cases[0].assertions == ["two"]


def test_replace_keeps_the_tags_and_notes_it_is_not_given(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_id = write_trace(project.settings, module=project.module)
    assert run(capsys, "add", "support", "--trace", trace_id, "--assert", "one", "--id", "x",
               "--tag", "orders", "--tag", "p1", "--notes", "Production promised a refund.")[0] == 0  # fmt: skip
    path = project.suites_dir / "support.yaml"
    # a reviewer's hand edit: a comment on the notes survives too
    path.write_text(path.read_text().replace("notes: Production promised a refund.",
                                             "notes: Production promised a refund.  # see ticket 12"))  # fmt: skip

    code, _, _ = run(capsys, "add", "support", "--trace", trace_id, "--assert", "two", "--id", "x", "--replace")
    assert code == 0
    (case,) = load_suite(path).suite.cases
    assert case.assertions == ["two"]  # what the command sets is replaced
    assert case.tags == ["orders", "p1"] and case.notes == "Production promised a refund."  # the rest is kept
    assert "# see ticket 12" in path.read_text()

    code, _, _ = run(capsys, "add", "support", "--trace", trace_id, "--assert", "three", "--id", "x",
                     "--replace", "--tag", "billing", "--notes", "Now about billing.")  # fmt: skip
    assert code == 0
    (case,) = load_suite(path).suite.cases
    assert case.tags == ["billing"] and case.notes == "Now about billing."  # given: replaced


def test_show_of_an_unknown_suite_names_the_suites(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.suites_dir.mkdir(parents=True)
    (project.suites_dir / "alpha.yaml").write_text("version: 1\nname: alpha\n")
    code, out, err = run(capsys, "show", "beta")
    assert (code, out) == (1, "")
    assert err == (
        "flywheel: error: no suite named 'beta': there is no beta.yaml in flywheel/suites; the suites are: alpha\n"
    )


def test_the_console_script_validates_in_a_real_process(project: Project) -> None:
    project.suites_dir.mkdir(parents=True)
    (project.suites_dir / "qa.yaml").write_text("version: 1\nname: qa\ntarget: nope\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.cli", "suite", "validate"],
        cwd=project.root, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "flywheel/suites/qa.yaml:3: target: expected an entrypoint as module:qualname, such as "
        "support.agent:answer, found the text 'nope'",
        "1 problem in 1 of 1 suite file.",
    ]


def test_add_reads_the_trace_from_the_store_given_with_store(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    other_store = tmp_path_factory.mktemp("elsewhere") / "prod.db"
    trace_id = write_trace(dataclasses.replace(project.settings, store=other_store), module=project.module)
    code, _, err = run(capsys, "add", "support", "--trace", trace_id, "--assert", "ok")
    assert code == 1 and "no trace store at" in err
    code, out, err = run(
        capsys, "add", "support", "--trace", trace_id, "--assert", "ok", "--store", str(other_store)
    )
    assert (code, err) == (0, "") and out.startswith("Added case where-is-my-order-1234-")


def test_add_keeps_the_comments_and_order_of_a_hand_edited_suite(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.suites_dir.mkdir(parents=True)
    path = project.suites_dir / "support.yaml"
    original = (
        "# Reviewed weekly by the support team.\n"
        "name: support   # name before version, on purpose\n"
        "version: 1\n"
        f"target: {project.target}\n"
        "cases:\n"
        "  # the first one we caught\n"
        "  - id: hand-written\n"
        '    assertions: ["The response must be polite."]  # assertions before input\n'
        "    input: {question: Hello?, user_id: null}\n"
        "    notes: null\n"
    )
    path.write_text(original)
    trace_id = write_trace(project.settings, module=project.module)
    code, _, err = run(
        capsys, "add", "support", "--trace", trace_id, "--assert", "Give the date.", "--id", "new"
    )
    assert (code, err) == (0, "")
    text = path.read_text()
    assert text.startswith(original)
    assert text[len(original) :].startswith(
        "  - id: new\n    input:\n      question: Where is my order 1234?\n"
    )
    assert [case.id for case in load_suite(path).suite.cases] == ["hand-written", "new"]
