"""No verdict the judge returned is ever lost: two sessions at once, xdist workers, a SIGKILL halfway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flywheel.judge.cache import VerdictCache, render_entries
from pytest_flywheel.judge.loopback import verdict_handler
from pytest_flywheel.testing import MessagesAPIServer
from tests.plugin.conftest import Project

CASES = 40


def forty_cases() -> str:
    lines = ["version: 1\nname: many\ntarget: agent:answer\ncases:\n"]
    for number in range(CASES):
        half = "even" if number % 2 == 0 else "odd"
        lines.append(
            f"  - id: {half}-{number}\n    input: {{question: 'topic {number}'}}\n"
            f"    assertions: [\"The reply must mention 'topic'\", \"The reply must mention '{number}'\"]\n"
        )
    return "".join(lines)


@pytest.fixture
def slow_judge() -> Iterator[MessagesAPIServer]:
    with MessagesAPIServer(verdict_handler(), delay=0.15) as server:
        yield server


@pytest.fixture
def many(project: Project, slow_judge: MessagesAPIServer, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", slow_judge.base_url)
    project.write_suite("many", forty_cases())
    project.verdicts.parent.mkdir(parents=True, exist_ok=True)
    return project


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--flywheel-suite=many", *args]


def read_cache(path: Path) -> VerdictCache:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn or corrupt line would warn
        return VerdictCache.load(path)


def test_two_sessions_at_once_keep_every_verdict(many: Project) -> None:
    sessions = [
        subprocess.Popen(pytest_command("-k", half, "-p", "no:xdist"), cwd=many.path, stdout=subprocess.PIPE, text=True)
        for half in ("even", "odd")
    ]
    for session in sessions:
        output, _ = session.communicate(timeout=300)
        assert session.returncode == 0, output
    cache = read_cache(many.verdicts)
    assert len(cache) == CASES * 2
    assert many.verdicts.read_text() == render_entries(cache.entries())  # merged, sorted, one line a key


def test_xdist_workers_keep_every_verdict(many: Project) -> None:
    done = subprocess.run(pytest_command("-n", "4"), cwd=many.path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout
    assert len(read_cache(many.verdicts)) == CASES * 2


def test_a_session_killed_while_judging_keeps_what_it_paid_for(
    many: Project, slow_judge: MessagesAPIServer
) -> None:
    session = subprocess.Popen(pytest_command("-p", "no:xdist"), cwd=many.path, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill it once a dozen cases were judged, mid-run
            if many.verdicts.exists() and many.verdicts.read_text().count("\n") >= 24:
                break
            time.sleep(0.02)
        os.kill(session.pid, signal.SIGKILL)
    finally:
        session.wait(timeout=30)
    answered = len(slow_judge.message_requests)
    kept = read_cache(many.verdicts)
    assert 24 <= len(kept) < CASES * 2  # killed halfway: no torn line, and what was judged is there
    assert answered < CASES  # it really was halfway

    # the next session judges only what was never answered, and sorts the file again
    done = subprocess.run(pytest_command("-p", "no:xdist"), cwd=many.path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout
    again = len(slow_judge.message_requests) - answered
    assert again == CASES - len(kept) // 2
    final = read_cache(many.verdicts)
    assert len(final) == CASES * 2
    assert many.verdicts.read_text() == render_entries(final.entries())
