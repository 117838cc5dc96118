"""Capture: a trace in the store becomes a case (target, redacted input, source) and a cassette."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_flywheel.suites import CaptureError, CaseError, SuiteFileError, add_case, load_suite
from tests.suites.projects import SECRET_KEY, Project, make_project, write_trace


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    made = make_project(
        tmp_path, pyproject_extra='redact = ["\\\\b\\\\d{4}-\\\\d{4}-\\\\d{4}-\\\\d{4}\\\\b"]'
    )
    monkeypatch.chdir(tmp_path)
    return made


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


def test_a_trace_becomes_a_case_with_its_cassette(project: Project) -> None:
    settings = project.settings
    trace_id = write_trace(
        settings,
        module=project.module,
        case_input={"question": "Where is my order? Card 4111-1111-1111-1111", "user_id": 7},
    )
    added = add_case(settings, "support", trace_id=trace_id, assertions=["The response must give a date."])

    loaded = load_suite(project.suites_dir / "support.yaml")
    assert loaded.suite.target == project.target  # the suite takes the trace's entrypoint
    case = loaded.suite.cases[0]
    assert case == added.case
    assert case.input == {"question": "Where is my order? Card [REDACTED]", "user_id": 7}
    assert case.id.startswith("where-is-my-order-card-redacted-")
    assert case.source is not None and case.source.trace_id == trace_id
    assert case.source.project == "default" and case.source.captured_at is not None
    assert case.assertions == ["The response must give a date."]

    cassette = project.root / "flywheel" / "cassettes" / "support" / f"{case.id}.yaml"
    assert added.cassette_path == cassette == case.cassette_path(settings, "support")
    recorded = yaml.safe_load(cassette.read_text())
    assert [item["request"]["uri"] for item in recorded["interactions"]] == ["http://127.0.0.1:9/v1/messages"]
    assert [item["tool"] for item in recorded["tool_interactions"]] == ["lookup_order"]
    written = files_under(project.root / "flywheel")
    assert not any(SECRET_KEY.encode() in content for content in written.values())
    assert not any(b"4111-1111" in content for content in written.values())
    assert sorted(written) == [
        f"cassettes/support/{case.id}.yaml",
        "suites/support.yaml",
    ]  # no temp files left


def test_a_trace_id_prefix_is_enough_but_an_ambiguous_one_is_an_error(project: Project) -> None:
    settings = project.settings
    write_trace(settings, module=project.module, trace_id="abc111")
    write_trace(settings, module=project.module, trace_id="abc222", case_input={"question": "other"})
    added = add_case(settings, "support", trace_id="abc2", assertions=["ok"])
    assert added.case.source is not None and added.case.source.trace_id == "abc222"
    with pytest.raises(CaptureError, match=r"trace id prefix 'abc' matches 2 traces .* give more of the id"):
        add_case(settings, "support", trace_id="abc", assertions=["ok"])


def test_an_unknown_trace_is_one_clear_error_and_writes_nothing(project: Project) -> None:
    settings = project.settings
    write_trace(settings, module=project.module)
    with pytest.raises(CaptureError, match=r"^no trace 'nope' in the store .*flywheel traces list"):
        add_case(settings, "support", trace_id="nope", assertions=["ok"])
    assert not (project.root / "flywheel").exists()


def test_no_store_at_all_is_a_clear_error(project: Project) -> None:
    with pytest.raises(CaptureError, match=r"cannot capture trace 'x': no trace store at .*@track first"):
        add_case(project.settings, "support", trace_id="x", assertions=["ok"])


@pytest.mark.parametrize(
    "qualname, message",
    [
        ("outer.<locals>.answer", r"is defined inside another function, so a test cannot import it"),
        ("missing_function", r"cannot be found: agent_\w+ has no missing_function"),
        (None, r"records no code location"),
    ],
)
def test_an_entrypoint_that_cannot_be_imported_is_refused(
    project: Project, qualname: str | None, message: str
) -> None:
    trace_id = write_trace(project.settings, module=project.module, qualname=qualname)
    with pytest.raises(CaptureError, match=message):
        add_case(project.settings, "support", trace_id=trace_id, assertions=["ok"])
    assert not (project.root / "flywheel").exists()


def test_a_module_that_fails_to_import_or_main_is_refused(project: Project) -> None:
    (project.root / "broken_agent.py").write_text("raise RuntimeError('no config')\n")
    trace_id = write_trace(project.settings, module="broken_agent")
    with pytest.raises(CaptureError, match=r"importing broken_agent raised RuntimeError: no config"):
        add_case(project.settings, "support", trace_id=trace_id, assertions=["ok"])
    trace_id = write_trace(project.settings, module="__main__")
    with pytest.raises(CaptureError, match=r"lives in a script run as __main__"):
        add_case(project.settings, "support", trace_id=trace_id, assertions=["ok"])


@pytest.mark.parametrize(
    "case_input, message",
    [
        ({"user": {"__flywheel_repr__": "<User 7>"}}, r"input.user was not JSON-serialisable when traced"),
        (
            {"question": {"__flywheel_truncated__": {"bytes": 99999, "limit": 65536}, "preview": "..."}},
            r"input.question was cut short when traced .*max_payload_bytes",
        ),
        ({"items": [1, {"__flywheel_repr__": "<set>"}]}, r"input.items\[1\] was not JSON-serialisable"),
        (["positional"], r"input is list, not the arguments by parameter name"),
    ],
)
def test_an_input_that_cannot_be_replayed_is_refused(
    project: Project, case_input: object, message: str
) -> None:
    trace_id = write_trace(project.settings, module=project.module, case_input=case_input)
    with pytest.raises(CaptureError, match=message):
        add_case(project.settings, "support", trace_id=trace_id, assertions=["ok"])
    assert not (project.root / "flywheel").exists()


def test_a_trace_of_another_entrypoint_is_refused(project: Project) -> None:
    settings = project.settings
    add_case(settings, "support", trace_id=write_trace(settings, module=project.module), assertions=["ok"])
    before = files_under(project.root / "flywheel")
    other = write_trace(settings, module=project.module, qualname="other", case_input={"question": "x"})
    with pytest.raises(
        CaseError, match=rf"ran {project.module}:other, but suite 'support' tests {project.target}"
    ):
        add_case(settings, "support", trace_id=other, assertions=["ok"])
    assert files_under(project.root / "flywheel") == before


def test_a_duplicate_id_is_refused_unless_replace(project: Project) -> None:
    settings = project.settings
    trace_id = write_trace(settings, module=project.module)
    first = add_case(settings, "support", trace_id=trace_id, assertions=["first"])
    before = files_under(project.root / "flywheel")
    with pytest.raises(CaseError, match=rf"already has a case '{first.case.id}' \(line 7 of .*--replace"):
        add_case(settings, "support", trace_id=trace_id, assertions=["second"])
    assert files_under(project.root / "flywheel") == before
    again = add_case(settings, "support", trace_id=trace_id, assertions=["second"], replace=True)
    assert again.replaced
    cases = load_suite(project.suites_dir / "support.yaml").suite.cases
    assert [(case.id, case.assertions) for case in cases] == [(first.case.id, ["second"])]


def test_a_bad_check_with_a_trace_leaves_no_cassette_behind(project: Project) -> None:
    settings = project.settings
    trace_id = write_trace(settings, module=project.module)
    with pytest.raises(CaseError, match=r"nothing was written: assertions\[1\].contains: must not be empty"):
        add_case(settings, "support", trace_id=trace_id, assertions=["ok", {"contains": ""}])
    assert not (project.root / "flywheel").exists()


def test_a_cassette_that_cannot_be_written_leaves_the_suite_unchanged(project: Project) -> None:
    settings = project.settings
    add_case(settings, "support", trace_id=write_trace(settings, module=project.module), assertions=["ok"])
    suite_before = (project.suites_dir / "support.yaml").read_bytes()
    blocker = project.root / "flywheel" / "cassettes" / "support"
    for path in blocker.iterdir():
        path.unlink()
    blocker.rmdir()
    blocker.write_text("a file where the cassette folder should be")
    other = write_trace(settings, module=project.module, case_input={"question": "Second question here"})
    with pytest.raises(
        CaseError, match=r"could not write flywheel/suites/support.yaml or its cassette .*nothing"
    ):
        add_case(settings, "support", trace_id=other, assertions=["ok"])
    assert (project.suites_dir / "support.yaml").read_bytes() == suite_before
    assert sorted(files_under(project.root / "flywheel")) == ["cassettes/support", "suites/support.yaml"]


def test_a_broken_suite_file_is_reported_and_never_written_over(project: Project) -> None:
    project.suites_dir.mkdir(parents=True)
    broken = project.suites_dir / "support.yaml"
    broken.write_text("version: 1\nname: support\ncases:\n  - id: a\n")
    with pytest.raises(
        SuiteFileError,
        match=r"^flywheel/suites/support.yaml:4: cases\[0\].assertions: required field is missing\n.*input: required",
    ):
        add_case(
            project.settings,
            "support",
            trace_id=write_trace(project.settings, module=project.module),
            assertions=["ok"],
        )
    assert broken.read_text() == "version: 1\nname: support\ncases:\n  - id: a\n"
    assert not (project.root / "flywheel" / "cassettes").exists()


@pytest.mark.parametrize(
    "qualname, case_input, message",
    [
        ("answer", {"user_id": 7}, r"its input does not fit agent_\w+:answer\(question, user_id=0\) \(missing a "
         r"required argument: 'question'\); was an argument left out with @track\(ignore_arguments=...\)"),
        ("answer", {"question": "q", "colour": "red"}, r"got an unexpected keyword argument 'colour'"),
        ("Agent.run", {"question": "q"}, r"it is a method, and a case calls its target without an instance"),
    ],
)  # fmt: skip
def test_an_input_that_does_not_fit_the_signature_is_refused(
    project: Project, qualname: str, case_input: dict[str, object], message: str
) -> None:
    trace_id = write_trace(project.settings, module=project.module, qualname=qualname, case_input=case_input)
    with pytest.raises(CaptureError, match=message):
        add_case(project.settings, "support", trace_id=trace_id, assertions=["ok"])
    assert not (project.root / "flywheel").exists()
