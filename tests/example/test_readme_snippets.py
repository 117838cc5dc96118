"""The README's snippets, run as written, in a fresh project: the agent of "Log" is traced, a trace
becomes a case through the Client snippet, the hand-written tests record once with a key (a loopback
API stands in for Anthropic), then the suite and the tests replay with no key and no network."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flywheel.judge.loopback import verdict_handler
from pytest_flywheel.testing import MessagesAPIServer, text_message

README = Path(__file__).resolve().parents[2] / "README.md"
CLOSED = "http://127.0.0.1:9"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def block_with(marker: str) -> str:
    (block,) = [block for block in python_blocks() if marker in block]
    return block


def yaml_suite_block() -> str:
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S) if "cases:" in b]
    return block


@pytest.fixture
def api() -> Iterator[MessagesAPIServer]:
    """Answers the agent's calls with a reply citing the article, and the judge's with verdicts."""
    judge = verdict_handler(rule=lambda criterion, prompt: (True, "The reply satisfies it."))

    def reply(request: object) -> dict[str, object]:
        headers = {name.lower(): value for name, value in request.headers.items()}  # type: ignore[attr-defined]
        if headers.get("x-flywheel-judge"):
            return judge(request)
        return text_message("Per our Shipping article, we ship to Canada for 15 EUR.", model="claude-haiku-4-5")

    with MessagesAPIServer(reply) as server:
        yield server


def first_listed(output: str) -> dict[str, object]:
    """The first item of a ``--json`` listing (a JSON array, or one object a line)."""
    try:
        listing = json.loads(output)
    except json.JSONDecodeError:
        return dict(json.loads(output.splitlines()[0]))
    if isinstance(listing, dict) and "id" in listing:
        return listing  # the only line of a one-object-a-line listing
    items = listing if isinstance(listing, list) else next(v for v in listing.values() if isinstance(v, list))
    return dict(items[0])


def run(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_the_readme_snippets_run_as_written_and_replay_offline(tmp_path: Path, api: MessagesAPIServer) -> None:
    project = tmp_path / "shop"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.flywheel]\nstore = ".flywheel/flywheel.db"\n')
    (project / "support_agent.py").write_text(block_with("track_anthropic(anthropic.Anthropic())"))
    (project / "tests" / "test_agent.py").write_text(block_with("@pytest.mark.assertion("))
    bin_dir = Path(sys.executable).parent
    base = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(project),
    }
    online = {**base, "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": api.base_url}
    offline = {**base, "ANTHROPIC_BASE_URL": CLOSED}

    # Log: a traced call in "production"
    traced = run(project, sys.executable, "-c", "import support_agent; print(support_agent.answer('Do you ship to Canada?'))", env=online)
    assert traced.returncode == 0, traced.stderr
    listed = run(project, str(bin_dir / "flywheel"), "traces", "list", "--json", env=base)
    assert listed.returncode == 0, listed.stderr
    trace_id = first_listed(listed.stdout)["id"]

    # Capture: the Client snippet, its trace id taken from `flywheel traces list` as it says
    client_snippet = block_with("Client()").replace('"01a20142"', repr(trace_id))
    captured = run(project, sys.executable, "-c", client_snippet, env=base)
    assert captured.returncode == 0, captured.stderr
    suite = (project / "flywheel" / "suites" / "customer-support-qa.yaml").read_text()
    assert "target: support_agent:answer" in suite

    # Validate: the hand-written tests record once (with the stand-in key), then all replays offline
    first = run(
        project, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flywheel-suite=customer-support-qa",
        "--flywheel-record=once", env=online,
    )
    assert first.returncode == 0, first.stdout
    again = run(
        project, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flywheel-suite=customer-support-qa",
        "-rA", env=offline,
    )
    assert again.returncode == 0, again.stdout
    assert "4 passed" in again.stdout  # two hand-written tests, two cases
    assert "judge: 0 calls" in again.stdout


def test_the_readme_suite_file_is_a_valid_suite(tmp_path: Path) -> None:
    from pytest_flywheel.suites import load_suite

    path = tmp_path / "flywheel" / "suites" / "customer-support-qa.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml_suite_block())
    loaded = load_suite(path)
    assert loaded.suite.target == "support_agent:answer"
    assert [case.id for case in loaded.suite.cases] == ["ship-to-canada"]
