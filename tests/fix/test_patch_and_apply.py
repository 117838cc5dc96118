"""The diff (checked by real ``git apply``), applying all or nothing, and the fixer's budgets."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import anthropic
import pytest

from pytest_flywheel.fix.agent import FixerConfig, run_fixer
from pytest_flywheel.fix.apply import apply_fix
from pytest_flywheel.fix.area import ProjectArea
from pytest_flywheel.fix.errors import FixerError, FixError
from pytest_flywheel.fix.patch import FileEdit, colour, unified_diff
from pytest_flywheel.fix.tools import FixerTools
from pytest_flywheel.testing import MessagesAPIServer
from pytest_flywheel.testing.messages_api import RecordedRequest

from .shop import git, tree_digest

CASES = {
    "plain": ("a = 1\nb = 2\nc = 3\n", "a = 1\nb = 20\nc = 3\n"),
    "no newline at the end": ("a = 1\nb = 2", "a = 1\nb = 20"),
    "newline added at the end": ("a = 1\nb = 2", "a = 1\nb = 2\n"),
    "form feed in a line": ("a = 1\n\x0c\nb = 2\n", "a = 1\n\x0c\nb = 3\n"),
    "crlf": ("a = 1\r\nb = 2\r\n", "a = 1\r\nb = 3\r\n"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_git_applies_the_diff_and_gets_the_after_text(tmp_path: Path, name: str) -> None:
    before, after = CASES[name]
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "mod.py").write_bytes(before.encode())
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    patch = tmp_path / "fix.patch"
    patch.write_bytes(unified_diff([FileEdit("mod.py", before, after)], prefix="sub/").encode())

    git(repo, "apply", "--check", str(patch))
    git(repo, "apply", str(patch))

    assert (repo / "sub" / "mod.py").read_bytes() == after.encode()


def test_an_unchanged_file_makes_no_diff_and_colour_marks_lines() -> None:
    assert unified_diff([FileEdit("same.py", "x\n", "x\n")]) == ""
    diff = unified_diff([FileEdit("m.py", "a\n", "b\n")])
    painted = colour(diff)
    assert "\x1b[31m-a\x1b[0m\n" in painted and "\x1b[32m+b\x1b[0m\n" in painted


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_a_file_changed_since_it_was_read_stops_everything(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "A = 1\n", "b.py": "B = 1\n"})
    edits = [FileEdit("a.py", "A = 1\n", "A = 2\n"), FileEdit("b.py", "B = 0\n", "B = 2\n")]
    before = tree_digest(tmp_path)
    with pytest.raises(FixError, match=r"b.py changed after the fixer read it; nothing was applied"):
        apply_fix(tmp_path, edits)
    assert tree_digest(tmp_path) == before


def test_a_corpus_file_changed_during_validation_stops_everything(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "A = 1\n", "flywheel/verdicts.jsonl": "{}\n"})
    before = tree_digest(tmp_path)
    with pytest.raises(FixError, match=r"flywheel/verdicts\.jsonl changed while the fix was being validated"):
        apply_fix(
            tmp_path,
            [FileEdit("a.py", "A = 1\n", "A = 2\n")],
            artifacts={"flywheel/verdicts.jsonl": b'{"new": 1}\n'},
            originals={"flywheel/verdicts.jsonl": "0" * 64},
        )
    assert tree_digest(tmp_path) == before


def test_a_failed_write_puts_back_what_was_written(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "A = 1\n", "flywheel/cassettes": "a file where a folder must be\n"})
    before = tree_digest(tmp_path)
    with pytest.raises(FixError, match="the files written before it were put back, nothing was applied"):
        apply_fix(
            tmp_path,
            [FileEdit("a.py", "A = 1\n", "A = 2\n")],
            artifacts={"flywheel/cassettes/qa/case.yaml": b"interactions: []\n"},
            originals={"flywheel/cassettes/qa/case.yaml": None},
        )
    assert tree_digest(tmp_path) == before


def test_edits_and_artifacts_are_written_together(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "A = 1\n"})
    (tmp_path / "a.py").chmod(0o640)
    applied = apply_fix(
        tmp_path,
        [FileEdit("a.py", "A = 1\n", "A = 2\n")],
        artifacts={"flywheel/cassettes/qa/new.yaml": b"interactions: []\n"},
        originals={"flywheel/cassettes/qa/new.yaml": None},
    )
    assert applied.sources == ["a.py"] and applied.corpus == ["flywheel/cassettes/qa/new.yaml"]
    assert (tmp_path / "a.py").read_text() == "A = 2\n"
    assert (tmp_path / "a.py").stat().st_mode & 0o777 == 0o640  # the file keeps its mode
    assert (tmp_path / "flywheel/cassettes/qa/new.yaml").read_bytes() == b"interactions: []\n"


def looping(model: str, input_tokens: int) -> Any:
    """A model that lists files forever, each reply billed ``input_tokens``."""

    def reply(request: RecordedRequest) -> dict[str, Any]:
        return {
            "id": "msg_x",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [
                {"type": "tool_use", "id": f"toolu_{id(request)}", "name": "list_files", "input": {}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 10},
        }

    return reply


def fixer_tools(tmp_path: Path) -> FixerTools:
    (tmp_path / "a.py").write_text("A = 1\n")
    return FixerTools(ProjectArea.build(tmp_path, corpus_dir=tmp_path / "flywheel"))


def test_the_cost_budget_forces_the_finish_then_stops(
    tmp_path: Path, messages_api: MessagesAPIServer
) -> None:
    messages_api.respond_with(looping("claude-sonnet-5-5", 100_000))  # $0.20 a turn at $2 per million
    client = anthropic.Anthropic(api_key="test", base_url=messages_api.base_url, max_retries=0)
    config = FixerConfig(model="claude-sonnet-5-5", max_cost_usd=0.5, max_tokens=10_000_000)

    with pytest.raises(FixerError, match=r"spent its cost budget \(\$0\.600\d of \$0\.50\) in 3 turns"):
        run_fixer("Fix it.", fixer_tools(tmp_path), config=config, client=client)

    choices = [request.body["tool_choice"] for request in messages_api.message_requests]
    assert choices == [{"type": "auto"}, {"type": "auto"}, {"type": "tool", "name": "finish"}]


def test_the_token_budget_stops_a_fixer_that_does_not_finish(
    tmp_path: Path, messages_api: MessagesAPIServer
) -> None:
    messages_api.respond_with(looping("unpriced-model", 40_000))
    client = anthropic.Anthropic(api_key="test", base_url=messages_api.base_url, max_retries=0)
    config = FixerConfig(model="unpriced-model", max_tokens=100_000)

    with pytest.raises(FixerError, match=r"used its token budget \(120,030 of 100,000 tokens\) in 3 turns"):
        run_fixer("Fix it.", fixer_tools(tmp_path), config=config, client=client)


def test_an_api_error_is_a_fixer_error_that_changes_nothing(
    tmp_path: Path, messages_api: MessagesAPIServer
) -> None:
    from pytest_flywheel.testing.messages_api import ErrorReply

    messages_api.queue(ErrorReply(529, "overloaded_error", "Overloaded"))
    client = anthropic.Anthropic(api_key="test", base_url=messages_api.base_url, max_retries=0)
    with pytest.raises(FixerError, match=r"failed in turn 1: OverloadedError.*Nothing was changed"):
        run_fixer("Fix it.", fixer_tools(tmp_path), config=FixerConfig(model="m"), client=client)


def test_git_is_not_needed(tmp_path: Path) -> None:
    """Outside a git work tree the area lists files itself, skipping virtualenvs and caches."""
    write(tmp_path, {"a.py": "A\n", ".venv/lib/x.py": "X\n", "pkg/__pycache__/m.pyc": "", "pkg/m.py": "M\n"})
    area = ProjectArea.build(tmp_path, corpus_dir=tmp_path / "flywheel")
    assert list(area.files) == ["a.py", "pkg/m.py"] and not area.listed_by_git
    assert subprocess.run(["git", "-C", str(tmp_path), "rev-parse"], capture_output=True).returncode != 0


def test_a_killed_validation_leaves_a_scratch_folder_the_next_one_removes(tmp_path: Path) -> None:
    """Found in the stranger's run: SIGKILL during validation leaves the temporary copy behind."""
    import os
    import time

    from pytest_flywheel.fix.validate import SCRATCH_PREFIX, remove_stale_scratch

    old = tmp_path / f"{SCRATCH_PREFIX}old"
    (old / "copy").mkdir(parents=True)
    fresh = tmp_path / f"{SCRATCH_PREFIX}fresh"  # maybe another fix at work right now
    fresh.mkdir()
    other = tmp_path / "someone-else"
    other.mkdir()
    day_ago = time.time() - 2 * 24 * 3600
    for folder in (old, other):
        os.utime(folder, (day_ago, day_ago))

    assert remove_stale_scratch(tmp_path) == [old]
    assert not old.exists() and fresh.exists() and other.exists()
