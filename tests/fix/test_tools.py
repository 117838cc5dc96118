"""The fixer's confined tools, one call at a time, on real files (nothing is ever written)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_flywheel.fix.area import ProjectArea
from pytest_flywheel.fix.tools import MAX_MATCHES, FixerTools
from pytest_flywheel.redaction import Redactor

from .shop import SECRET, git, tree_digest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    files = {
        "pyproject.toml": "[tool.flywheel]\n",
        "agent/prompt.py": 'PROMPT = """Be kind."""\n\n\ndef prompt() -> str:\n    return PROMPT\n',
        "agent/long.py": "".join(f"LINE_{n} = {n}\n" for n in range(1, 501)),
        "agent/keys.py": f'KEY = "{SECRET}"\nNAME = "shop"\n',
        "agent/dos.py": 'A = 1\r\nB = "two"\r\n',
        "agent/same.py": "x = 1\nx = 1\n",
        "flywheel/verdicts.jsonl": "{}\n",
        "conftest.py": "",
        "src/test_thing.py": "",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    (root / "agent/blob.bin").write_bytes(b"\x00\x01\x02")
    (root / "agent/latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    return root


def tools_for(root: Path, patterns: tuple[str, ...] = ()) -> FixerTools:
    redactor = Redactor(patterns)
    area = ProjectArea.build(root, corpus_dir=root / "flywheel", redact_patterns=redactor.patterns)
    return FixerTools(area, redact=redactor.text)


def test_read_file_numbers_lines_pages_and_sees_proposed_edits(project: Path) -> None:
    tools = tools_for(project)
    text, error = tools.call("read_file", {"path": "agent/long.py"})
    assert not error
    assert text.startswith(
        "agent/long.py (lines 1-400 of 500); read on with start_line=401:\n    1| LINE_1 = 1\n"
    )
    assert text.endswith("  400| LINE_400 = 400")
    text, _ = tools.call("read_file", {"path": "./agent/long.py", "start_line": 499})
    assert text == "agent/long.py (lines 499-500 of 500):\n  499| LINE_499 = 499\n  500| LINE_500 = 500"
    assert tools.call("read_file", {"path": "agent/long.py", "start_line": 501}) == (
        "agent/long.py has 500 lines; start_line 501 is past its end.",
        True,
    )
    before = tree_digest(project)
    tools.call(
        "edit_file",
        {"path": "agent/prompt.py", "old_text": "Be kind.", "new_text": "Be exact.", "reason": "r"},
    )
    assert 'PROMPT = """Be exact."""' in tools.call("read_file", {"path": "agent/prompt.py"})[0]
    assert tree_digest(project) == before  # recorded, never written


def test_edit_file_needs_the_old_text_exactly_once(project: Path) -> None:
    tools = tools_for(project)
    missing = tools.call(
        "edit_file", {"path": "agent/prompt.py", "old_text": "Be nice.", "new_text": "x", "reason": "r"}
    )
    assert missing == (
        "old_text was not found in agent/prompt.py: read the file again and copy the text exactly, with its "
        "indentation.",
        True,
    )
    twice = tools.call(
        "edit_file", {"path": "agent/same.py", "old_text": "x = 1", "new_text": "x = 2", "reason": "r"}
    )
    assert twice == ("old_text occurs 2 times in agent/same.py: include more lines to make it unique.", True)
    same = tools.call(
        "edit_file", {"path": "agent/prompt.py", "old_text": "kind", "new_text": "kind", "reason": "r"}
    )
    assert same[1] and "nothing would change" in same[0]
    assert tools.edits == {}
    # two edits of one file compose; the diff is taken from the first read
    tools.call(
        "edit_file",
        {"path": "agent/prompt.py", "old_text": "Be kind.", "new_text": "Be exact.", "reason": "a"},
    )
    tools.call(
        "edit_file",
        {
            "path": "agent/prompt.py",
            "old_text": "return PROMPT",
            "new_text": "return PROMPT.strip()",
            "reason": "b",
        },
    )
    (edit,) = tools.changed_edits
    assert edit.before == (project / "agent/prompt.py").read_text()
    assert edit.after == 'PROMPT = """Be exact."""\n\n\ndef prompt() -> str:\n    return PROMPT.strip()\n'
    assert edit.reasons == ["a", "b"]


def test_a_crlf_file_is_edited_with_its_own_line_ends(project: Path) -> None:
    tools = tools_for(project)
    text, error = tools.call(
        "edit_file",
        {"path": "agent/dos.py", "old_text": 'A = 1\nB = "two"', "new_text": "A = 1\nB = 2", "reason": "r"},
    )
    assert not error, text
    assert tools.edits["agent/dos.py"].after == "A = 1\r\nB = 2\r\n"


def test_secrets_never_reach_the_model_and_are_never_edited(project: Path) -> None:
    tools = tools_for(project)
    text, _ = tools.call("read_file", {"path": "agent/keys.py"})
    assert SECRET not in text and 'KEY = "[REDACTED]"' in text
    found, _ = tools.call("search_code", {"regex": "KEY"})
    assert found == 'agent/keys.py:1: KEY = "[REDACTED]"'
    refused = tools.call(
        "edit_file", {"path": "agent/keys.py", "old_text": SECRET, "new_text": "x", "reason": "r"}
    )
    assert refused[1] and "holds a secret or matches a redact pattern" in refused[0]
    planted = tools.call(
        "edit_file", {"path": "agent/keys.py", "old_text": '"shop"', "new_text": f'"{SECRET}"', "reason": "r"}
    )
    assert planted[1] and "holds a secret" in planted[0]
    assert tools.edits == {}
    assert [refusal.path for refusal in tools.refusals] == ["agent/keys.py", "agent/keys.py"]


def test_the_redact_patterns_hide_paths_and_text(project: Path) -> None:
    tools = tools_for(project, patterns=("shop",))
    assert tools.call("read_file", {"path": "agent/keys.py"})[0].endswith('NAME = "[REDACTED]"')
    (project / "agent/shop_notes.txt").write_text("notes\n")
    tools = tools_for(project, patterns=("shop",))
    assert "agent/shop_notes.txt" not in tools.call("list_files", {"pattern": "*"})[0]
    refused = tools.call("read_file", {"path": "agent/shop_notes.txt"})
    assert refused == (
        "Refused: agent/shop_notes.txt: its path matches the redact pattern 'shop' of [tool.flywheel].",
        True,
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("agent/blob.bin", "agent/blob.bin is a binary file."),
        ("agent/latin.txt", "agent/latin.txt is not UTF-8 text."),
        ("agent", "Refused: agent: it is a folder; list_files shows what is in it."),
        (
            "agent/nope.py",
            "Refused: agent/nope.py: there is no such file in the project (list_files shows the files).",
        ),
        (
            "agent/\udcff.py",
            "Refused: agent/\\udcff.py: its name is not valid UTF-8, so it cannot be named to the model.",
        ),
        ("agent/a\0b.py", "Refused: 'agent/a\\x00b.py': the path holds a NUL character."),
        ("", "Refused: '': no path was given."),
        (".", "Refused: .: it is the project root, not a file."),
    ],
)
def test_files_that_cannot_be_read_are_said_so(project: Path, path: str, message: str) -> None:
    assert tools_for(project).call("read_file", {"path": path}) == (message, True)


def test_edits_of_the_corpus_tests_and_config_are_refused_reads_are_not(project: Path) -> None:
    tools = tools_for(project)
    for path in ("flywheel/verdicts.jsonl", "conftest.py", "src/test_thing.py", "pyproject.toml"):
        assert not tools.call("read_file", {"path": path})[1]
        text, error = tools.call("edit_file", {"path": path, "old_text": "x", "new_text": "y", "reason": "r"})
        assert error and text.startswith(f"Refused: {path}: ")
    assert len(tools.refusals) == 4


def test_bad_arguments_are_told_to_the_model(project: Path) -> None:
    tools = tools_for(project)
    assert tools.call("read_file", {"path": "agent/prompt.py", "start_line": "3"}) == (
        "read_file: start_line must be a whole number of 1 or more.",
        True,
    )
    assert tools.call("read_file", {}) == ("read_file needs path.", True)
    assert tools.call("list_files", {"pattern": "*", "deep": True}) == (
        "list_files takes no argument deep.",
        True,
    )
    assert tools.call("rm_rf", {}) == ("There is no tool named 'rm_rf'.", True)
    text, error = tools.call("search_code", {"regex": "("})
    assert error and text.startswith("'(' is not a valid Python regular expression")


def test_search_is_bounded(project: Path) -> None:
    text, _ = tools_for(project).call("search_code", {"regex": "LINE", "path_pattern": "*.py"})
    lines = text.splitlines()
    assert len(lines) == MAX_MATCHES + 1
    assert lines[-1] == f"... stopped at {MAX_MATCHES} matches: narrow the regex or the paths."


def test_in_git_ignored_files_and_dot_git_are_out_of_sight(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/code.py").write_text("A = 1\n")
    (root / "pkg/cache.py").write_text("B = 2\n")
    (root / ".gitignore").write_text("pkg/cache.py\n")
    git(root, "init", "-q")
    tools = tools_for(root)
    listing = tools.call("list_files", {})[0].splitlines()
    assert listing == [".gitignore", "pkg/code.py"]
    assert tools.call("read_file", {"path": "pkg/cache.py"}) == (
        "Refused: pkg/cache.py: git ignores it.",
        True,
    )
    assert tools.call("read_file", {"path": ".git/config"}) == (
        "Refused: .git/config: it is inside .git/, which the fixer never reads.",
        True,
    )


def test_a_file_name_that_is_not_utf8_is_left_out_and_never_breaks_a_request(project: Path) -> None:
    """Found in the stranger's run: such a name in a search result made the SDK fail to encode the request."""
    (project / os.fsdecode(b"agent/\xff.py")).write_text("PROMPT = 1\n")
    tools = tools_for(project)
    listing, _ = tools.call("list_files", {"pattern": "agent/*"})
    found, _ = tools.call("search_code", {"regex": "PROMPT"})
    for text in (listing, found):
        text.encode("utf-8")  # what the SDK does with every request
    assert "\udcff" not in listing and "agent/prompt.py" in listing
    assert found.splitlines()[0] == 'agent/prompt.py:1: PROMPT = """Be kind."""'
    refused = tools.call("read_file", {"path": os.fsdecode(b"agent/\xff.py")})
    assert refused[1] and "its name is not valid UTF-8" in refused[0]
    refused[0].encode("utf-8")
