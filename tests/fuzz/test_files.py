"""Hundreds of broken suite files and cassettes (``corpus.py``, fixed seed): each one loads, or gives a
clean ``path:line: what is wrong`` error; no traceback, and none takes longer than a time bound."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pytest_flywheel.config import load_settings
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import CassetteMissError, replay_case, write_case_cassette
from pytest_flywheel.replay.cassette_file import CassetteFormatError
from pytest_flywheel.suites.errors import SuiteFileError
from pytest_flywheel.suites.loading import display_path, load_suite
from pytest_flywheel.testing import text_message
from tests.fuzz.corpus import SUITE, corpus
from tests.replay.spans import ask, llm_span, tool_span

FILES = 300  # of each kind
TIME_BOUND = 10.0  # seconds a file may take before it counts as a hang
LOCATED = re.compile(r"^(?P<path>[^\n]+?):(?P<line>\d+): \S[^\n]*$")


class Hang(Exception):
    pass


@contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Interrupt whatever runs longer than ``seconds`` (a hang), with SIGALRM (the main thread's)."""

    def interrupt(signum: int, frame: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_located(message: str, allowed: set[str], line_counts: dict[str, int]) -> None:
    """Every line of ``message`` is ``path:line: ...`` for one of the ``allowed`` files, line in range."""
    assert message, "an empty error message"
    for text in message.splitlines():
        found = LOCATED.match(text)
        assert found, f"not a path:line: error: {text!r}"
        assert found["path"] in allowed, text
        assert 1 <= int(found["line"]) <= line_counts[found["path"]] + 1, text


def run_corpus(items: list[bytes], check_one: Callable[[int, bytes], str]) -> Counter[str]:
    """Each item through ``check_one`` (returns "ok" or "error"), with a time bound; the counts."""
    counts: Counter[str] = Counter()
    slowest = 0.0
    for index, data in enumerate(items):
        started = time.monotonic()
        try:
            with time_bound(TIME_BOUND):
                counts[check_one(index, data)] += 1
        except Hang:
            counts["hang"] += 1
        except AssertionError:
            raise
        except BaseException as exc:  # anything else is a traceback a user would see
            raise AssertionError(f"file {index}: {type(exc).__name__}: {exc}\n{data[:300]!r}") from exc
        slowest = max(slowest, time.monotonic() - started)
    counts["slowest_ms"] = round(slowest * 1000)
    return counts


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.flywheel]\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def valid_cassette(path: Path) -> Path:
    spans = [
        tool_span("lookup_order", {"order_id": "1234"}, {"status": "packed", "eta": "2026-11-24"}),
        llm_span(ask("Where is my order 1234?"), text_message("It arrives on Monday.")),
        tool_span("refund", {"order_id": "1234"}, error={"type": "shop.Denied", "message": "too late"}),
    ]
    return write_case_cassette(spans, path, redactor=Redactor())


def test_broken_suite_files_load_or_say_where_they_are_wrong(root: Path) -> None:
    settings = load_settings(root)
    cassettes = root / "flywheel" / "cassettes" / "qa"
    for case_id in ("where-is-my-order", "refund-opened-tea", "schema-check"):
        valid_cassette(cassettes / f"{case_id}.yaml")
    load_suite(_write(root / "base" / "qa.yaml", SUITE.encode())).cassette_problems(settings)  # (valid)
    shown_cassettes = {display_path(path) for path in cassettes.iterdir()}
    counts_of_lines = {name: len((root / name).read_text().splitlines()) for name in shown_cassettes}

    def check(index: int, data: bytes) -> str:
        path = _write(root / "suites" / f"{index:03d}" / "qa.yaml", data)
        shown = display_path(path)
        line_counts = {**counts_of_lines, shown: data.count(b"\n") + 1}
        try:
            problems = load_suite(path).cassette_problems(settings)
        except SuiteFileError as exc:
            check_located(str(exc), {shown}, line_counts)
            return "error"
        if problems:
            check_located("\n".join(map(str, problems)), {shown, *shown_cassettes}, line_counts)
            return "error"
        return "ok"

    counts = run_corpus(corpus(SUITE, FILES), check)
    print(f"\nsuite files: {dict(counts)}")
    assert counts["hang"] == 0
    assert counts["ok"] + counts["error"] == FILES
    assert counts["ok"] >= 20 and counts["error"] >= 100  # (the corpus is neither all valid nor all broken)


def test_broken_cassettes_replay_or_say_where_they_are_wrong(root: Path) -> None:
    base = valid_cassette(root / "base.yaml").read_text()

    def check(index: int, data: bytes) -> str:
        path = _write(root / "cassettes" / f"{index:03d}.yaml", data)
        try:
            with replay_case(path) as session:  # vcrpy reads it, as a run would
                pass
            session.raise_for_miss()
        except CassetteFormatError as exc:
            check_located(str(exc), {str(path)}, {str(path): data.count(b"\n") + 1})
            return "error"
        except CassetteMissError:
            return "ok"
        except FlywheelError as exc:
            raise AssertionError(f"file {index}: an error without its line: {exc}") from exc
        return "ok"

    counts = run_corpus(corpus(base, FILES, seed=7), check)
    print(f"\ncassettes: {dict(counts)}")
    assert counts["hang"] == 0
    assert counts["ok"] + counts["error"] == FILES
    assert counts["ok"] >= 20 and counts["error"] >= 100


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
