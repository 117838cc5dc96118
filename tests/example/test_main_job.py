"""The README's main job, end to end: the example project's suite passes offline, in a fresh copy.

Each test copies ``example_project/`` to a temporary folder and runs pytest there in a subprocess,
as a user would, with no API key and ``ANTHROPIC_BASE_URL`` on a closed port (the root conftest): any
model or judge call that escaped a cassette or the verdict cache would fail the run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.config import load_settings
from pytest_flywheel.suites import load_suite

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
SUITE = "customer-support-qa"
SUITE_FILE = EXAMPLE / "flywheel" / "suites" / f"{SUITE}.yaml"
STANDIN_JUDGE = "flywheel-standin-judge"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the example project, without local state."""
    copy = tmp_path / "example_project"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".flywheel", "__pycache__", ".pytest_cache"))
    return copy


def run_pytest(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--flywheel-suite={SUITE}", *args],
        cwd=project,
        env={**os.environ, **(env or {})},
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )


def read_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def case_ids() -> list[str]:
    return [case.id for case in load_suite(SUITE_FILE).suite.cases]


def test_main_job_passes_offline_from_the_committed_corpus(project: Path, tmp_path: Path) -> None:
    verdicts = project / "flywheel" / "verdicts.jsonl"
    before = verdicts.read_bytes()
    report_path = tmp_path / "report.json"

    done = run_pytest(project, f"--flywheel-report={report_path}")

    assert done.returncode == 0, done.stdout + done.stderr
    report = read_report(report_path)
    suite = report["suites"][SUITE]
    assert len(case_ids()) >= 10
    assert (suite["cases"], suite["passed"], suite["failed"], suite["errors"]) == (
        len(case_ids()),
        len(case_ids()),
        0,
        0,
    )
    assert report["suites"]["(hand-written tests)"]["passed"] == 6
    assert re.search(rf"\b{len(case_ids()) + 22} passed\b", done.stdout), done.stdout
    # Every sentence verdict came from the committed cache: no judge call, nothing new to write.
    assert report["judge"]["calls"] == 0
    assert report["judge"]["new"] == 0
    assert report["judge"]["cached"] > 0
    assert verdicts.read_bytes() == before


def test_production_agent_replays_red_offline(project: Path, tmp_path: Path) -> None:
    """The walkthrough's red step: the v1 agent replays the production replies, and they fail."""
    report_path = tmp_path / "report.json"

    done = run_pytest(
        project,
        f"flywheel/suites/{SUITE}.yaml",
        f"--flywheel-report={report_path}",
        env={"SUPPORT_AGENT_VERSION": "v1"},
    )

    assert done.returncode == 1, done.stdout + done.stderr
    report = read_report(report_path)
    outcomes = {case["case_id"]: case["outcome"] for case in report["cases"]}
    # The two good production answers still pass; every captured failure fails again, none errors.
    assert {case for case, outcome in outcomes.items() if outcome == "passed"} == {
        "order-status-shipped",
        "password-reset-link",
    }
    assert set(outcomes.values()) == {"passed", "failed"}
    assert report["judge"]["calls"] == 0
    loop = next(case for case in report["cases"] if case["case_id"] == "unknown-order-loop")
    assert loop["cost_usd"] > 0.01


def test_committed_corpus_holds_no_secrets() -> None:
    placeholders = ("standin-placeholder-not-a-key", "no-key-set", "sk-ant-", "test-key")
    for path in sorted((EXAMPLE / "flywheel").rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for secret in placeholders:
            assert secret not in text, f"{path} holds {secret!r}"
        for header in ("authorization", "x-api-key", "cookie", "set-cookie", "anthropic-organization-id"):
            for value in re.findall(rf"^\s+{header}:\n\s+- (.+)$", text, flags=re.MULTILINE | re.IGNORECASE):
                assert value.strip("'\"") == "[REDACTED]", f"{path}: {header} is {value}"


def test_every_case_names_its_source_trace_and_has_a_cassette() -> None:
    settings = load_settings(EXAMPLE, environ={})
    for case in load_suite(SUITE_FILE).suite.cases:
        assert case.source is not None and re.fullmatch(r"[0-9a-f]{32}", case.source.trace_id), case.id
        assert case.cassette_path(settings, SUITE).is_file(), case.id
    kinds = [type(a).__name__ for case in load_suite(SUITE_FILE).suite.cases for a in case.assertions]
    assert "str" in kinds and len(set(kinds)) > 1  # sentences and deterministic checks, mixed


def test_verdicts_say_which_judge_gave_them() -> None:
    lines = (EXAMPLE / "flywheel" / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines
    for line in lines:
        entry = json.loads(line)
        if entry["model"] == STANDIN_JUDGE:
            assert entry["reason"].startswith("[stand-in judge]"), entry
        else:
            assert entry["model"].startswith("claude-"), entry


def test_simulated_production_runs_without_a_key(tmp_path: Path) -> None:
    store = tmp_path / "flywheel.db"
    done = subprocess.run(
        [sys.executable, "-m", "support_agent.simulate", "--requests", "30"],
        cwd=EXAMPLE,
        env={**os.environ, "FLYWHEEL_STORE": str(store), "PYTHONPATH": str(EXAMPLE)},
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "STAND-IN, not Claude" in done.stdout
    from pytest_flywheel.store import Store

    db = Store(store, readonly=True)
    traces = db.conn.execute("SELECT count(*) FROM traces WHERE name = 'answer'").fetchone()[0]
    feedback = db.conn.execute("SELECT count(DISTINCT trace_id) FROM feedback").fetchone()[0]
    assert (traces, feedback) == (30, 30)


def readme_commands() -> tuple[str, str]:
    """The README's two commands: the example's suite, then this project's tests."""
    readme = (EXAMPLE.parent / "README.md").read_text(encoding="utf-8")
    found = []
    for heading in ("Run the example project's regression suite", "Run this project's tests"):
        block = readme.split(heading, 1)[1].split("```bash\n", 1)[1]
        command = block.split("\n```", 1)[0].strip()
        assert "\n" not in command
        found.append(command)
    return found[0], found[1]


def test_readme_main_job_runs_this_suite_in_the_example_project() -> None:
    example, _ = readme_commands()
    assert "pip install" in example and "cd example_project" in example
    assert example.endswith(f"pytest --flywheel-suite={SUITE})")


STUB = """#!/bin/sh
echo "$(basename "$0") $PWD $*" >> "$FLYWHEEL_README_LOG"
"""
FAKE_PYTHON = """#!/bin/sh
# python3 -m venv DIR: a "virtualenv" of stubs that log where and how they were run
echo "python3 $PWD $*" >> "$FLYWHEEL_README_LOG"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  for tool in pip pytest ruff mypy; do cp "$FLYWHEEL_README_STUB" "$3/bin/$tool"; chmod +x "$3/bin/$tool"; done
fi
"""


def test_readme_commands_can_be_pasted_one_after_the_other(tmp_path: Path) -> None:
    """Both start from the repository root: pasted into one shell, in order, each runs where it should
    (the first used to end inside example_project/, so the second then installed the wrong folder)."""
    example, tests = readme_commands()
    repo = tmp_path / "repo"
    (repo / "example_project").mkdir(parents=True)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "python3").write_text(FAKE_PYTHON)
    (tools / "python3").chmod(0o755)
    (tmp_path / "stub").write_text(STUB)
    log = tmp_path / "log"
    done = subprocess.run(
        ["bash", "-e", "-c", f"{example}\n{tests}\necho \"end $PWD\""],
        cwd=repo,
        env={
            "PATH": f"{tools}:/usr/bin:/bin",
            "FLYWHEEL_README_LOG": str(log),
            "FLYWHEEL_README_STUB": str(tmp_path / "stub"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"end {repo}"
    ran = [line.split(" ", 2) for line in log.read_text().splitlines()]
    assert [(tool, where) for tool, where, _ in ran] == [
        ("python3", str(repo)),
        ("pip", str(repo)),
        ("pytest", str(repo / "example_project")),
        ("python3", str(repo)),
        ("pip", str(repo)),
        ("ruff", str(repo)),
        ("mypy", str(repo)),
        ("pytest", str(repo)),
    ]
    assert ran[2][2] == f"--flywheel-suite={SUITE}" and ran[7][2] == "-n 2 -p no:cacheprovider"


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = readme_commands()
    ci = (EXAMPLE.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()


def test_committed_suite_matches_the_rebuild_script() -> None:
    """``scripts/rebuild_corpus.py`` regenerates exactly the committed cases (ids, inputs, assertions)."""
    spec = importlib.util.spec_from_file_location("corpus_cases", EXAMPLE / "scripts" / "corpus_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    committed = [
        (case.id, dict(case.input), [a if isinstance(a, str) else dict(a) for a in case.assertions])
        for case in load_suite(SUITE_FILE).suite.cases
    ]
    scripted = [
        (case.id, {"question": case.question, "customer_id": case.customer_id}, list(case.assertions))
        for case in module.CASES
    ]
    assert json.loads(json.dumps(committed)) == json.loads(json.dumps(scripted))


STANDIN_SCRIPT = """
import json, os, sys
from support_agent.standin import start_server
server = start_server()
os.environ["ANTHROPIC_BASE_URL"] = server.base_url
from support_agent.agent import answer
results = {}
for version in ("v1", "v2"):
    os.environ["SUPPORT_AGENT_VERSION"] = version
    for key, question, customer in [
        ("loop", "Can you check order BL-10299 for me?", "C-1004"),
        ("clearance", "I want a refund for BL-10217, I don't like the smoky taste.", "C-1003"),
        ("no-number", "Where is my order? It still hasn't arrived.", "C-1003"),
    ]:
        before = len(server.message_requests)
        reply = answer(question, customer_id=customer)
        results[f"{version}/{key}"] = {"reply": reply, "calls": len(server.message_requests) - before}
server.stop()
print(json.dumps(results))
"""


def test_the_same_code_gives_production_failures_as_v1_and_fixes_them_as_v2(tmp_path: Path) -> None:
    """The stand-in answers what the agent sends: v1's requests lead to the captured failures, v2's do not."""
    done = subprocess.run(
        [sys.executable, "-c", STANDIN_SCRIPT],
        cwd=EXAMPLE,
        env={**os.environ, "FLYWHEEL_STORE": str(tmp_path / "flywheel.db"), "PYTHONPATH": str(EXAMPLE)},
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["v1/loop"]["calls"] == 8 and "could not finish" in results["v1/loop"]["reply"]
    assert (
        results["v2/loop"]["calls"] == 3 and "couldn't find an order BL-10299" in results["v2/loop"]["reply"]
    )
    assert "approved a full refund" in results["v1/clearance"]["reply"]
    assert (
        "final sale" in results["v2/clearance"]["reply"]
        and "approved" not in results["v2/clearance"]["reply"]
    )
    assert "has shipped" in results["v1/no-number"]["reply"]
    assert "order number" in results["v2/no-number"]["reply"]
