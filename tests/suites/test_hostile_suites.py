"""Suite files as an attacker or a clumsy hand writes them: alias bombs, paths out of the project, broken
cassettes. Each is a ``path:line:`` problem from ``flywheel suite validate`` and from loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pytest_flywheel.cli.main import main
from pytest_flywheel.config import load_settings
from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import write_case_cassette
from pytest_flywheel.suites import load_suite
from pytest_flywheel.suites.errors import CassettePathError, SuiteFileError
from pytest_flywheel.testing import text_message
from tests.replay.spans import ask, llm_span

SUITE = "version: 1\nname: qa\ncases:\n  - id: c1\n    input: {q: hi}\n    assertions: [ok]\n"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.flywheel]\n")
    (tmp_path / "flywheel" / "suites").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def validate(capsys: pytest.CaptureFixture[str], *paths: str) -> tuple[int, list[str]]:
    code = main(["suite", "validate", *paths])
    out, err = capsys.readouterr()
    assert err == ""
    return code, out.splitlines()


def test_the_issues_alias_bomb_is_a_problem_not_a_memory_error(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = (
        "version: 1\nname: qa\n"
        + "\n".join(levels)
        + "\ncases:\n  - id: c\n    input: {q: *a8}\n    assertions: [x]\n"
    )
    (root / "flywheel" / "suites" / "qa.yaml").write_text(text)
    assert len(text) < 640
    code, lines = validate(capsys)
    assert code == 1
    assert lines == [
        "flywheel/suites/qa.yaml:8: yaml: aliases repeat more than 1,000,000 characters and values in all "
        "(the alias *a4 here repeats 211,111); write the repeated parts out, or fewer aliases, so the file "
        "stands for the data it shows",
        "1 problem in 1 of 1 suite file.",
    ]


def test_a_recursive_alias_is_one_line_not_a_recursion_error(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "flywheel" / "suites" / "qa.yaml").write_text(
        "version: 1\nname: qa\ncases:\n  - &r {id: c, input: {self: *r}, assertions: [x]}\n"
    )
    code, lines = validate(capsys)
    assert (code, lines) == (
        1,
        [
            "flywheel/suites/qa.yaml:4: yaml: the alias *r is inside its own anchor &r (line 4): a value "
            "cannot contain itself; write the value out",
            "1 problem in 1 of 1 suite file.",
        ],
    )


@pytest.mark.parametrize(
    "cassette", ["../../x.yaml", "flywheel/../../x.yaml", "/tmp/x.yaml", "a\\..\\x.yaml"]
)
def test_a_cassette_path_out_of_the_project_is_refused_at_validation(
    root: Path, capsys: pytest.CaptureFixture[str], cassette: str
) -> None:
    (root / "flywheel" / "suites" / "qa.yaml").write_text(SUITE + f"    cassette: '{cassette}'\n")
    code, lines = validate(capsys)
    assert code == 1
    assert lines[0].startswith(
        "flywheel/suites/qa.yaml:7: cases[0].cassette: expected a path relative to the project root, inside "
        "the flywheel folder, with no '..'"
    )


def test_a_cassette_path_that_leaves_through_a_symbolic_link_is_refused_at_validation_and_load(
    root: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    os.symlink(outside, root / "flywheel" / "elsewhere")
    (root / "flywheel" / "suites" / "qa.yaml").write_text(
        SUITE + "    cassette: flywheel/elsewhere/c1.yaml\n"
    )
    code, lines = validate(capsys)
    assert code == 1
    assert lines[0].startswith(
        "flywheel/suites/qa.yaml:7: cases[0].cassette: case 'c1' of suite 'qa': its cassette "
        f"'flywheel/elsewhere/c1.yaml' resolves to {outside / 'c1.yaml'}, outside the flywheel folder"
    )
    case = load_suite(root / "flywheel" / "suites" / "qa.yaml").suite.cases[0]
    with pytest.raises(CassettePathError, match="fix or remove the case's cassette field"):
        case.cassette_path(load_settings(root), "qa")
    # a cassettes folder that is itself a link out: the default path is refused too
    os.symlink(outside, root / "flywheel" / "cassettes")
    (root / "flywheel" / "suites" / "qa.yaml").write_text(SUITE)
    with pytest.raises(
        CassettePathError, match=r"its default cassette .* resolves to .*outside the flywheel"
    ):
        load_suite(root / "flywheel" / "suites" / "qa.yaml").suite.cases[0].cassette_path(
            load_settings(root), "qa"
        )


def test_validate_reads_each_cases_cassette_and_names_its_lines(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "flywheel" / "suites" / "qa.yaml").write_text(
        SUITE
        + "  - id: c2\n    input: {q: ho}\n    assertions: [ok]\n  - id: c3\n    input: {}\n    assertions: [ok]\n"
    )
    folder = root / "flywheel" / "cassettes" / "qa"
    good = write_case_cassette(
        [llm_span(ask("hi"), text_message("Hello."))], folder / "c1.yaml", redactor=Redactor()
    )
    data = yaml.safe_load(good.read_text())
    del data["interactions"][0]["response"]["status"]["code"]
    (folder / "c2.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "c3.yaml").write_text("")  # (c1 is valid; c3 is an empty file; a case with no file is fine)
    code, lines = validate(capsys)
    assert code == 1
    status_line = (folder / "c2.yaml").read_text().splitlines().index("    status:") + 1
    assert lines == [
        f"flywheel/cassettes/qa/c2.yaml:{status_line}: interactions[0].response.status: the response status has "
        "no code (such as code: 200); fix it, or record the cassette again (--flywheel-record=rewrite)",
        "flywheel/cassettes/qa/c3.yaml:1: cassette: the file is empty; delete it and record it again "
        "(--flywheel-record=once), or restore it from version control",
        "2 problems in 1 of 1 suite file.",
    ]
    (folder / "c2.yaml").unlink()
    (folder / "c3.yaml").unlink()
    assert validate(capsys) == (0, ["1 suite file valid."])


def test_a_case_id_with_a_newline_or_a_control_character_is_refused(root: Path) -> None:
    for case_id in ('"c1\\n"', '"c\\u0007"', '"c\\td"'):
        (root / "flywheel" / "suites" / "qa.yaml").write_text(SUITE.replace("id: c1", f"id: {case_id}"))
        with pytest.raises(SuiteFileError, match=r"qa\.yaml:4: cases\[0\]\.id: expected an id of letters"):
            load_suite(root / "flywheel" / "suites" / "qa.yaml")


def test_what_is_not_a_regular_file_or_is_huge_is_refused_without_reading_it(root: Path) -> None:
    fifo = root / "pipe.yaml"
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    huge = root / "huge.yaml"
    with huge.open("wb") as file:
        file.truncate(17 * 1024 * 1024)  # (sparse: no disk used)
    expected = {
        fifo: "pipe.yaml:1: suite: not a regular file (a folder, a device or a pipe); give the path of a suite file",
        Path("/dev/zero"): "/dev/zero:1: suite: not a regular file (a folder, a device or a pipe); give the path",
        root / "flywheel": "flywheel:1: suite: not a regular file",
        huge: "huge.yaml:1: suite: larger than 16 MB, which is more than a suite file should hold; split it",
    }
    for path, message in expected.items():
        with pytest.raises(SuiteFileError) as raised:
            load_suite(path)
        assert str(raised.value).startswith(message)
    (root / "bad.yaml").write_bytes(b"version: 1\nname: bad\ncases: []\n# caf\xe9\n")
    with pytest.raises(SuiteFileError, match=r"^bad\.yaml:4: suite: not UTF-8 text \(byte 36\); save it as UTF-8$"):
        load_suite(root / "bad.yaml")


def test_a_path_that_is_not_utf8_is_shown_so_that_it_can_be_printed(root: Path) -> None:
    path = root / os.fsdecode(b"caf\xe9.yaml")
    path.write_text(SUITE.replace("name: qa", "name: other"))
    with pytest.raises(SuiteFileError) as raised:
        load_suite(path)
    assert str(raised.value).startswith("caf\ufffd.yaml:2: name: expected 'caf")
    str(raised.value).encode("utf-8")  # (a strict UTF-8 terminal can print it)
