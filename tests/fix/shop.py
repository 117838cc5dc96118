"""A small project to fix: a deterministic agent (no model calls), a suite with one failing case, a test
file, secrets and ignored files, inside a git repository's subfolder (like the example project)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_flywheel.testing import MessagesAPIServer
from pytest_flywheel.testing.messages_api import tool_use_message

SECRET = "sk-ant-api03-" + "x" * 24

FILES: dict[str, str] = {
    "pyproject.toml": """\
[tool.flywheel]
project = "shop"
redact = ['card-[0-9]{4}']

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
""",
    "app/__init__.py": "",
    "app/agent.py": '''\
"""The shop's support agent."""

from app.policy import SHIPPING


def answer(question: str) -> str:
    if "canada" in question.lower():
        return SHIPPING["canada"]
    return SHIPPING["eu"]
''',
    "app/policy.py": """\
SHIPPING = {
    "canada": "Shipping to Canada is free.",
    "eu": "Shipping in the EU costs 5 EUR.",
}
""",
    "flywheel/suites/qa.yaml": """\
version: 1
name: qa
target: app.agent:answer
cases:
  - id: canada
    input: {question: Do you ship to Canada?}
    assertions:
      - contains: 15 EUR
  - id: eu
    input: {question: Do you ship to France?}
    assertions:
      - contains: 5 EUR
      - not_contains: free
""",
    "tests/test_policy.py": """\
from app.policy import SHIPPING


def test_every_destination_has_a_price() -> None:
    assert all(SHIPPING.values())
""",
    ".env": f"ANTHROPIC_API_KEY={SECRET}\n",
    ".gitignore": ".env\n.flywheel/\n__pycache__/\nbuild/\n",
    "build/generated.py": "GENERATED = True\n",
    "notes/card-1234.txt": "a customer's card\n",
    "notes/todo.md": "Check the Canada price.\n",
}

# The patches the scripted fixer proposes.
CANADA_FIX = {
    "path": "app/policy.py",
    "old_text": '"canada": "Shipping to Canada is free.",',
    "new_text": '"canada": "Shipping to Canada costs 15 EUR.",',
    "reason": "The shop charges 15 EUR for Canada; the policy table said free.",
}
EU_BREAKAGE = {
    "path": "app/policy.py",
    "old_text": '"eu": "Shipping in the EU costs 5 EUR.",',
    "new_text": '"eu": "Shipping in the EU is free.",',
    "reason": "Simplify the EU answer.",
}


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=fix@example.com", "-c", "user.name=fix", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def build_repository(repo: Path, store: Path) -> Path:
    """The repository with the project in ``repo/shop``, committed, and one red run recorded in ``store``."""
    project = repo / "shop"
    for name, text in FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "the shop")
    done = run_suite(project, store)
    assert done.returncode == 1, done.stdout + done.stderr  # canada fails, eu passes
    return project


def run_suite(project: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLYWHEEL_STORE": str(store)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "flywheel/suites/qa.yaml",
            "--flywheel-suite=qa",
            *args,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copy_repository(template: Path, into: Path) -> Path:
    shutil.copytree(template, into, symlinks=True)
    return into / "shop"


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (``.git`` included) and its sha256."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def script_fixer(
    server: MessagesAPIServer, *calls: tuple[str, dict[str, Any]], summary: str = "Done."
) -> None:
    """Queue the fixer's tool calls, one reply each, then ``finish``."""
    replies = [tool_use_message(name, arguments, model="claude-sonnet-5-5") for name, arguments in calls]
    replies.append(tool_use_message("finish", {"summary": summary}, model="claude-sonnet-5-5"))
    server.queue(*replies)


def tool_results(server: MessagesAPIServer) -> list[dict[str, Any]]:
    """Every tool result the fixer sent back to the model, in order."""
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    for request in server.message_requests:
        for message in request.body.get("messages", []):
            content = message.get("content")
            if message.get("role") != "user" or not isinstance(content, list):
                continue
            for block in content:
                if block.get("type") == "tool_result" and block["tool_use_id"] not in seen:
                    seen.add(block["tool_use_id"])
                    results.append(block)
    return results
