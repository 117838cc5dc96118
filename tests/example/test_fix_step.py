"""The walkthrough's fix step, in a fresh copy of the example, with no key: the production (v1) suite is
red, ``flywheel fix`` (the stand-in fixer, announced as such) proposes a prompt change, validates it
in a temporary copy (the stand-in agent model and judge re-record and judge what changed) and, with
``--yes``, applies it; the suite then replays offline with the fixed cases green."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .test_main_job import SUITE, project, read_report, run_pytest

__all__ = ["project"]  # the fresh copy of the example (a fixture)

V1 = {"SUPPORT_AGENT_VERSION": "v1"}


def flywheel(project: Path, *args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.cli", *args],
        cwd=project,
        env={**os.environ, **V1},
        input=answer,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )


def test_flywheel_fix_proposes_validates_and_applies_the_prompt_fix(project: Path, tmp_path: Path) -> None:
    red = run_pytest(project, f"flywheel/suites/{SUITE}.yaml", "--standin", env=V1)
    assert red.returncode == 1, red.stdout + red.stderr
    prompts = project / "support_agent" / "prompts.py"
    original = prompts.read_text(encoding="utf-8")

    done = flywheel(project, "fix", SUITE, "--yes")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "the fixer talks to this project's offline STAND-IN" in done.stderr
    assert "not to Claude; the validation runs pytest with --standin" in done.stderr
    out = done.stdout
    assert f"Fixing 12 failing cases of suite {SUITE}" in out
    assert "Stand-in fixer (scripted, not Claude)." in " ".join(out.split())
    assert "Fixer: flywheel-standin-fixer, 4 turns" in out
    assert "+1. Answer only from the help-center articles given with the question" in out
    assert "FIXED (9)" in out and "STILL FAILING (3)" in out and "REGRESSED" not in out
    assert "Nothing regressed." in out
    assert "Applied: support_agent/prompts.py; 15 file(s) of the flywheel folder" in out
    assert prompts.read_text(encoding="utf-8") != original

    # Offline right after: the fixed cases replay green from what the validation recorded.
    report_path = tmp_path / "after.json"
    after = run_pytest(project, f"flywheel/suites/{SUITE}.yaml", f"--flywheel-report={report_path}", env=V1)
    report = read_report(report_path)
    failing = sorted(case["case_id"] for case in report["cases"] if case["outcome"] != "passed")
    assert failing == ["order-status-without-number", "refund-colleague-promised", "unknown-order-loop"], (
        after.stdout
    )
    assert report["judge"]["calls"] == 0
