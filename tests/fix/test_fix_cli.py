"""``flywheel fix`` end to end: the real Anthropic SDK against the loopback server, which plays the fixer
by scripted tool calls; validation runs pytest for real in a temporary copy; the answer comes on stdin."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main
from pytest_flywheel.fix.record import load_fixes
from pytest_flywheel.runs.model import CaseResult, RunRecord
from pytest_flywheel.runs.queries import load_run, save_run
from pytest_flywheel.store import Store
from pytest_flywheel.testing import MessagesAPIServer
from pytest_flywheel.tracing.ids import new_id

from .shop import CANADA_FIX, EU_BREAKAGE, git, run_suite, script_fixer, tool_results, tree_digest


def answer(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def store() -> Store:
    return Store(os.environ["FLYWHEEL_STORE"])


def test_a_fix_that_turns_the_failing_case_green_is_shown_validated_and_applied_on_y(
    shop: Path, fixer: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script_fixer(
        fixer,
        ("search_code", {"regex": "Canada", "path_pattern": "app/*"}),
        ("read_file", {"path": "app/policy.py"}),
        ("edit_file", CANADA_FIX),
        summary="The policy table said Canada ships free; the shop charges 15 EUR.",
    )
    answer(monkeypatch, "y\n")

    assert main(["fix", "qa"]) == 0

    captured = capsys.readouterr()
    out = captured.out
    assert "Fixing 1 failing case of suite qa" in out
    assert "The policy table said Canada ships free" in out
    # the unified diff, with paths from the repository's top (the project is its subfolder shop/)
    assert "diff --git a/shop/app/policy.py b/shop/app/policy.py" in out
    assert '-    "canada": "Shipping to Canada is free.",' in out
    assert '+    "canada": "Shipping to Canada costs 15 EUR.",' in out
    assert "  the failing cases: 1 of 1 passed" in out
    assert "  the whole suite: 2 of 2 passed" in out
    assert "FIXED (1)\n  qa::canada   failed → passed\n    FAIL → PASS  contains: '15 EUR'" in out
    assert "Nothing regressed." in out
    assert "Apply this change? [y/N] y" in captured.err  # the piped answer is echoed
    assert "Applied: app/policy.py." in out
    assert "Fixer: claude-sonnet-5-5, 4 turns" in out
    # the model saw the failing case, its verdict, and the code through the tools
    opening = fixer.message_requests[0].body["messages"][0]["content"]
    assert "Case qa::canada (failed), flywheel/suites/qa.yaml line 5" in opening
    assert "FAIL  contains: '15 EUR': the output does not contain '15 EUR'" in opening
    assert "app.agent:answer, defined in app/agent.py line 6" in opening
    results = tool_results(fixer)
    assert results[0]["content"] == 'app/policy.py:2:     "canada": "Shipping to Canada is free.",'
    assert "Edit recorded for review (not written): app/policy.py, -1 +1 lines." in results[2]["content"]
    # applied, and green offline right after
    assert "costs 15 EUR" in (shop / "app/policy.py").read_text()
    done = run_suite(shop, Path(os.environ["FLYWHEEL_STORE"]))
    assert done.returncode == 0, done.stdout + done.stderr
    # the fix and its validation runs are in the store
    with store() as opened:
        (fix,) = load_fixes(opened)
        assert (fix["target"], fix["status"], fix["model"]) == ("qa", "applied", "claude-sonnet-5-5")
        assert len(fix["validation_runs"]) == 2
        whole = load_run(opened, fix["validation_runs"][1])
        assert sorted((case.case_id, case.outcome) for case in whole.cases) == [
            ("canada", "passed"),
            ("eu", "passed"),
        ]


@pytest.mark.parametrize("reply", ["n\n", "\n", ""], ids=["n", "enter", "end-of-input"])
def test_anything_but_yes_changes_nothing(
    shop: Path,
    fixer: MessagesAPIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reply: str,
) -> None:
    before = tree_digest(shop.parent)
    script_fixer(fixer, ("edit_file", CANADA_FIX))
    answer(monkeypatch, reply)

    assert main(["fix", "qa", "--no-validate"]) == 1

    assert "Nothing changed." in capsys.readouterr().out
    assert tree_digest(shop.parent) == before
    with store() as opened:
        assert [fix["status"] for fix in load_fixes(opened)] == ["declined"]


def test_an_edit_of_the_exam_is_refused_and_said_so(
    shop: Path, fixer: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(shop.parent)
    cheat = {"old_text": "15 EUR", "new_text": "free", "reason": "make it pass"}
    script_fixer(
        fixer,
        ("edit_file", {**cheat, "path": "flywheel/suites/qa.yaml"}),
        (
            "edit_file",
            {"path": "tests/test_policy.py", "old_text": "all(", "new_text": "any(", "reason": "r"},
        ),
        ("edit_file", {"path": "pyproject.toml", "old_text": "shop", "new_text": "x", "reason": "r"}),
        summary="Changed the expectations.",
    )
    answer(monkeypatch, "y\n")

    assert main(["fix", "qa"]) == 1

    out = capsys.readouterr().out
    assert (
        "Refused: edit_file flywheel/suites/qa.yaml: it is part of the regression corpus (flywheel/: suites, "
        "cassettes, verdicts); a fix may not change the exam." in out
    )
    assert "Refused: edit_file tests/test_policy.py: it is a test file; a fix may not change the exam." in out
    assert "Refused: edit_file pyproject.toml: it configures the tests and flywheel" in out
    assert "The fixer proposed no change: nothing to validate or apply." in out
    results = tool_results(fixer)
    assert [result["is_error"] for result in results[:3]] == [True, True, True]
    assert results[0]["content"].startswith(
        "Refused: flywheel/suites/qa.yaml: it is part of the regression corpus"
    )
    assert tree_digest(shop.parent) == before


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside.py", "it is outside the project root"),
        ("app/../../outside.py", "it is outside the project root"),
        ("/etc/passwd", "it is outside the project root"),
        ("app/link.py", "it leads outside the project root through a symlink"),
        (".env", "it is an environment file (.env*), which may hold secrets"),
        ("../.git/config", "it is outside the project root"),
        ("build/generated.py", "git ignores it"),
        ("notes/card-1234.txt", "its path matches the redact pattern 'card-[0-9]{4}' of [tool.flywheel]"),
    ],
)
def test_paths_outside_the_root_or_private_are_refused(
    shop: Path,
    fixer: MessagesAPIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    path: str,
    reason: str,
) -> None:
    (shop.parent / "outside.py").write_text("SECRET_OUTSIDE = 1\n")
    (shop / "app" / "link.py").symlink_to(shop.parent / "outside.py")
    before = tree_digest(shop.parent)
    script_fixer(
        fixer,
        ("read_file", {"path": path}),
        ("edit_file", {"path": path, "old_text": "1", "new_text": "2", "reason": "r"}),
    )
    answer(monkeypatch, "y\n")

    assert main(["fix", "qa"]) == 1

    out = capsys.readouterr().out
    refusals = [line for line in out.splitlines() if line.startswith("Refused:")]
    assert len(refusals) == 2 and all(reason in line for line in refusals), out
    for result in tool_results(fixer)[:2]:
        assert result["is_error"] and reason in result["content"]
        assert "SECRET_OUTSIDE" not in result["content"] and "sk-ant" not in result["content"]
    assert tree_digest(shop.parent) == before


def test_a_fix_that_regresses_another_case_is_reported_loudly_and_yes_does_not_apply_it(
    shop: Path, fixer: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(shop.parent)
    script_fixer(fixer, ("edit_file", CANADA_FIX), ("edit_file", EU_BREAKAGE), summary="Canada costs 15 EUR.")

    assert main(["fix", "qa", "--yes", "--json"]) == 1

    captured = capsys.readouterr()
    said = captured.err  # with --json, what people read goes to stderr
    assert (
        "REGRESSED (1)\n  qa::eu   passed → failed\n"
        "    PASS → FAIL  contains: '5 EUR'  (the output does not contain '5 EUR')\n"
        "    PASS → FAIL  not_contains: 'free'  (the output contains 'free')\n"
    ) in said
    assert "FIXED (1)\n  qa::canada   failed → passed" in said
    assert "REGRESSION: with this change 1 case(s) that passed before fail: qa::eu." in said
    assert "Not applied: the change regressed cases that passed before." in said
    outcome = json.loads(captured.out)
    assert (outcome["applied"], outcome["status"]) == (False, "refused")
    assert outcome["fixer"]["summary"] == "Canada costs 15 EUR."
    assert [edit["path"] for edit in outcome["fixer"]["edits"]] == ["app/policy.py"]
    assert outcome["fixer"]["edits"][0]["reasons"] == [CANADA_FIX["reason"], EU_BREAKAGE["reason"]]
    assert outcome["validation"]["regressed"] is True
    assert outcome["validation"]["comparison"]["counts"]["fixed"] == 1
    assert outcome["validation"]["comparison"]["counts"]["regressed"] == 1
    assert outcome["diff"].startswith("diff --git a/shop/app/policy.py b/shop/app/policy.py\n")
    assert tree_digest(shop.parent) == before
    with store() as opened:
        (fix,) = load_fixes(opened)
        assert fix["status"] == "refused"
        assert len(fix["validation_runs"]) == 2


def test_patch_only_writes_a_patch_git_apply_accepts_and_changes_nothing(
    shop: Path, fixer: MessagesAPIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(shop.parent)
    patch = tmp_path / "fix.patch"
    script_fixer(fixer, ("edit_file", CANADA_FIX))

    assert main(["fix", "qa", "--patch-only", str(patch), "--no-validate"]) == 0

    assert f"Wrote the patch to {patch}" in capsys.readouterr().out
    assert tree_digest(shop.parent) == before
    text = patch.read_text()
    assert text.startswith("diff --git a/shop/app/policy.py b/shop/app/policy.py\n")
    # from the repository's top and from the project's folder alike
    git(shop.parent, "apply", "--check", "-v", str(patch))
    checked = subprocess.run(
        ["git", "apply", "--check", "-v", str(patch)], cwd=shop, capture_output=True, text=True, check=True
    )
    assert "Checking patch shop/app/policy.py..." in checked.stderr
    git(shop.parent, "apply", str(patch))
    assert run_suite(shop, Path(os.environ["FLYWHEEL_STORE"])).returncode == 0


def test_without_a_key_or_a_stand_in_it_says_so_in_one_line(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(shop.parent)

    assert main(["fix", "qa"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("flywheel: error: flywheel fix needs a model, and no ANTHROPIC_API_KEY is set")
    assert len(err.strip().splitlines()) == 1
    assert tree_digest(shop.parent) == before


def test_a_fixer_that_does_not_finish_within_its_turns_is_an_error(
    shop: Path, fixer: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(shop.parent)
    fixer.respond_with(
        lambda request: {
            "id": "msg_loop",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5-5",
            "content": [
                {"type": "tool_use", "id": f"toolu_{len(fixer.requests)}", "name": "list_files", "input": {}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 10},
        }
    )

    assert main(["fix", "qa", "--max-turns", "3"]) == 1

    assert "did not finish within 3 turns; nothing was changed" in capsys.readouterr().err
    assert len(fixer.message_requests) == 3
    # the last turn forced the finish tool
    assert fixer.message_requests[-1].body["tool_choice"] == {"type": "tool", "name": "finish"}
    assert tree_digest(shop.parent) == before


def test_nothing_to_fix_when_the_latest_run_is_green(
    shop: Path, fixer: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    green = [
        CaseResult(f"flywheel/suites/qa.yaml::{case}", case, "passed", suite="qa")
        for case in ("canada", "eu")
    ]
    with store() as opened:
        save_run(
            opened,
            RunRecord(id=new_id(), started_at=time.time(), ended_at=time.time(), cases=green, suites=["qa"]),
        )

    assert main(["fix", "qa"]) == 1
    assert "no case of suite 'qa' failed in its latest run" in capsys.readouterr().err
    assert main(["fix", "qa::canada"]) == 1
    assert "case 'canada' of suite 'qa' did not fail in its latest run" in capsys.readouterr().err
    assert fixer.message_requests == []


def test_ctrl_c_at_the_question_changes_nothing(shop: Path, fixer: MessagesAPIServer) -> None:
    """A real SIGINT to a real ``flywheel fix`` process waiting for the answer."""
    before = tree_digest(shop.parent)
    script_fixer(fixer, ("edit_file", CANADA_FIX))
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_flywheel.cli", "fix", "qa", "--no-validate"],
        cwd=shop,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    seen = bytearray()
    asked = threading.Event()

    def read_stderr() -> None:
        assert process.stderr is not None
        while chunk := process.stderr.read1(4096):
            seen.extend(chunk)
            if b"Apply this change? [y/N] " in seen:
                asked.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert asked.wait(timeout=120), bytes(seen).decode(errors="replace")
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(timeout=10)

    assert process.returncode == 130, bytes(seen).decode(errors="replace")
    assert '+    "canada": "Shipping to Canada costs 15 EUR.",' in stdout.decode()
    assert "Interrupted: nothing changed." in stdout.decode()
    assert tree_digest(shop.parent) == before
    with store() as opened:
        assert [fix["status"] for fix in load_fixes(opened)] == ["declined"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-turns", "0"], "argument --max-turns: expected a whole number of 1 or more, got '0'"),
        (
            ["--max-tokens", "999"],
            "argument --max-tokens: expected a whole number of 1000 or more, got '999'",
        ),
        (["--max-cost", "-1"], "argument --max-cost: expected an amount above 0 (US dollars), got '-1'"),
        (["--max-cost", "nan"], "argument --max-cost: expected an amount above 0 (US dollars), got 'nan'"),
        (["--max-cost", "inf"], "argument --max-cost: expected an amount above 0 (US dollars), got 'inf'"),
        (["--yes", "--patch-only", "p"], "argument --patch-only: not allowed with argument --yes/-y"),
    ],
)
def test_bad_options_are_usage_errors(
    shop: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["fix", "qa", *arguments]) == 2
    assert message in capsys.readouterr().err


def test_a_target_that_is_not_utf8_is_a_clear_error(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = os.fsdecode(b"\xff\xfeqa")  # what Python makes of a non-UTF-8 argument

    assert main(["fix", target]) == 2  # a usage error, before anything is read

    err = capsys.readouterr().err
    assert "argument SUITE[::CASE]|TRACE_ID: b'\\xff\\xfeqa' is not UTF-8 text" in err


@pytest.mark.parametrize("target", ["../other/evil", "../other/evil::canada"])
def test_a_suite_outside_the_suites_folder_is_never_read(
    shop: Path, fixer: MessagesAPIServer, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    other = shop / "flywheel" / "other"
    other.mkdir()
    suite = (shop / "flywheel" / "suites" / "qa.yaml").read_text(encoding="utf-8")
    (other / "evil.yaml").write_text(suite.replace("name: qa", "name: evil"), encoding="utf-8")

    assert main(["fix", target]) == 1

    err = capsys.readouterr().err
    assert "'../other/evil' is n" in err and "a suite name" in err  # not a suite name / neither a suite name
    assert "flywheel/other/evil.yaml" not in err
    assert fixer.message_requests == []


def test_patch_only_never_overwrites_a_file_that_is_not_a_patch(
    shop: Path, fixer: MessagesAPIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A slip of the keyboard (``--patch-only app/agent.py``) must not replace the agent with a diff."""
    before = tree_digest(shop.parent)
    script_fixer(fixer, ("edit_file", CANADA_FIX))

    assert main(["fix", "qa", "--no-validate", "--patch-only", "app/agent.py"]) == 1

    assert "--patch-only app/agent.py: that file exists and is not a patch" in capsys.readouterr().err
    assert tree_digest(shop.parent) == before


def test_patch_only_into_a_missing_folder_is_an_error(
    shop: Path, fixer: MessagesAPIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script_fixer(fixer, ("edit_file", CANADA_FIX))

    assert main(["fix", "qa", "--no-validate", "--patch-only", str(tmp_path / "nope" / "fix.patch")]) == 1

    assert "the folder" in capsys.readouterr().err and not (tmp_path / "nope").exists()


def test_patch_to_stdout_and_json_do_not_mix(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fix", "qa", "--json", "--patch-only", "-"]) == 2
    assert "--patch-only - writes the patch to stdout" in capsys.readouterr().err
