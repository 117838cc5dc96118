"""Secrets never reach the store, and trace loss is never silent: a newer store, a deleted or replaced
store file, a store locked at exit. ``tracing_stats()`` says what happened."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel import log_feedback
from pytest_flywheel.cli.main import main
from pytest_flywheel.store import Store, StoreVersionError
from pytest_flywheel.tracing import (
    TracingWarning,
    current_trace_id,
    flush,
    reset_for_tests,
    tracing_stats,
    track,
)
from tests.tracing.conftest import ReadSpans

KEY = "sk-ant-api03-" + "Q" * 40
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.dG9rZW4"
CARD = "4111 1111 1111 1111"


def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = "") -> Path:
    """A project whose pyproject.toml the tracing settings are read from (its store: FLYWHEEL_STORE)."""
    (tmp_path / "pyproject.toml").write_text(f"[tool.flywheel]\n{extra}\n")
    monkeypatch.chdir(tmp_path)
    reset_for_tests()
    return Path(os.environ["FLYWHEEL_STORE"])


def store_bytes(store: Path) -> bytes:
    assert flush(10.0)
    reset_for_tests()  # the writer closes the store: the WAL is checkpointed into the file
    return b"".join(Path(name).read_bytes() for name in sorted(glob.glob(f"{store}*")))


@track(entrypoint=True)
def agent(question: str, headers: dict[str, str], settings: dict[str, Any]) -> dict[str, Any]:
    log_feedback(current_trace_id() or "", "thumbs_up", False, reason=f"it echoed {KEY}")
    return {"reply": f"Your card {CARD} is on file; key {KEY}", "echo": headers, "password": "hunter2"}


def test_secrets_are_scrubbed_before_anything_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_spans: ReadSpans
) -> None:
    store = project(tmp_path, monkeypatch, r'redact = ["\\d{4} \\d{4} \\d{4} \\d{4}"]')
    result = agent(
        f"My key is {KEY}",
        {"Authorization": f"Bearer {TOKEN}", "x-request-id": "req_1", "note": f"sent with bearer {TOKEN}"},
        {"api_key": "plain-secret-1", "nested": [{"client_secret": "plain-secret-2"}], "card": CARD},
    )
    assert result["password"] == "hunter2"  # the agent's own values are untouched
    (span,) = read_spans()
    assert span.input == {
        "question": "My key is [REDACTED]",
        "headers": {
            "Authorization": "[REDACTED]",
            "x-request-id": "req_1",
            "note": "sent with bearer [REDACTED]",
        },
        "settings": {
            "api_key": "[REDACTED]",
            "nested": [{"client_secret": "[REDACTED]"}],
            "card": "[REDACTED]",
        },
    }
    assert span.output["password"] == "[REDACTED]"
    assert span.output["reply"] == "Your card [REDACTED] is on file; key [REDACTED]"
    data = store_bytes(store)
    for secret in (KEY, TOKEN, "plain-secret-1", "plain-secret-2", "hunter2", CARD):
        assert secret.encode() not in data, secret
    assert b"[REDACTED]" in data


def test_a_payload_cut_to_a_preview_is_scrubbed_before_it_is_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_spans: ReadSpans
) -> None:
    monkeypatch.setenv("FLYWHEEL_MAX_PAYLOAD", "2000")
    store = project(tmp_path, monkeypatch)
    agent("q", {}, {"blob": "x" * 500, "password": "hunter3", "more": ["y" * 100] * 30})
    (span,) = read_spans()
    assert "__flywheel_truncated__" in span.input
    assert b"hunter3" not in store_bytes(store)


def test_a_redact_pattern_that_is_not_a_regex_stores_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = project(tmp_path, monkeypatch, 'redact = ["(unclosed"]')
    with pytest.warns(
        TracingWarning, match=r"redact pattern is not a valid regular expression .* none are stored"
    ):
        agent("q", {}, {})
        assert flush(10.0)
    assert tracing_stats()["failed"] == 2 and tracing_stats()["written"] == 0  # the span and the feedback
    assert not store.exists() or b"hunter2" not in store_bytes(store)


# -- a store written by a newer pytest-flywheel ------------------------------------------------------


def newer_store(path: Path) -> str:
    with Store(path) as store:
        store.conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ('0999_future', 0)")
    return digest(path)


def digest(path: Path) -> str:
    """The database file's bytes (a read-only reader of a WAL store leaves an empty -wal and a -shm)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tracing_into_a_newer_store_warns_once_counts_every_span_lost_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = project(tmp_path, monkeypatch)
    before = newer_store(store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            agent("q", {}, {})
            assert flush(10.0)  # (three batches, each refused)
    messages = [str(w.message) for w in caught if issubclass(w.category, TracingWarning)]
    assert len(messages) == 1
    assert "was written by a newer pytest-flywheel (it has the migration 0999_future" in messages[0]
    assert "upgrade pytest-flywheel" in messages[0] and "disk" not in messages[0]
    stats = tracing_stats()
    assert (stats["written"], stats["failed"], stats["pending"]) == (0, 6, 0)
    reset_for_tests()
    assert digest(store) == before


COMMANDS = [
    ["traces", "list"],
    ["traces", "list", "--json"],
    ["traces", "show", "abc"],
    ["stats"],
    ["runs", "list"],
    ["runs", "compare"],
    ["analyze", "abc"],
    ["suite", "add", "qa", "--trace", "abc", "--assert", "It answers."],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(argv) for argv in COMMANDS])
def test_every_command_refuses_a_newer_store_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    store = project(tmp_path, monkeypatch)
    before = newer_store(store)
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("flywheel: error: ") and err.count("\n") == 1
    assert f"the trace store {store} was written by a newer pytest-flywheel" in err
    assert digest(store) == before
    with pytest.raises(StoreVersionError):
        Store(store, readonly=True)


# -- a store deleted or replaced while tracing writes to it -------------------------------------------


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_deleted_or_replaced_mid_run_is_opened_afresh_and_nothing_more_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    store = project(tmp_path, monkeypatch)
    traced = track(entrypoint=True)(lambda n: n)
    for n in range(150):
        traced(n)
    assert flush(10.0)
    for name in glob.glob(f"{store}*"):
        os.remove(name)
    if how == "replaced":
        Store(store).close()  # another, empty store in its place
    with pytest.warns(
        TracingWarning, match=r"was deleted or replaced while tracing wrote to it; it was opened afresh"
    ):
        for n in range(150, 300):
            traced(n)
        assert flush(10.0)
    stats = tracing_stats()
    assert stats == {"written": 300, "dropped": 0, "failed": 0, "pending": 0, "recreated": 1, "internal_errors": 0}
    with Store(store) as fresh:
        assert fresh.conn.execute("SELECT count(*) FROM traces").fetchone()[0] == 150


# -- the exit-time flush ------------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(60)
"""

TRACE_AND_EXIT = """
from pytest_flywheel import track

@track(entrypoint=True)
def step(n):
    return n

for n in range(2000):
    step(n)
"""


def test_an_exit_flush_that_cannot_finish_is_bounded_and_counts_what_is_lost(tmp_path: Path) -> None:
    store = tmp_path / "flywheel.db"
    Store(store).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(store)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        env = {**os.environ, "FLYWHEEL_STORE": str(store), "FLYWHEEL_EXIT_FLUSH": "0.5"}
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", TRACE_AND_EXIT],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=tmp_path,
        )
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 0, done.stderr
    assert "TracingWarning: pytest-flywheel: 2000 spans could not be written to" in done.stderr
    assert "within 0.5 s of exit and are lost" in done.stderr
    assert took < 30  # (the store's own busy timeout is 30 s: the exit did not wait for it)


def test_an_exit_flush_that_finishes_says_nothing(tmp_path: Path) -> None:
    store = tmp_path / "flywheel.db"
    env = {**os.environ, "FLYWHEEL_STORE": str(store)}
    done = subprocess.run(
        [sys.executable, "-c", TRACE_AND_EXIT],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert (done.returncode, done.stderr) == (0, "")
    with Store(store) as written:
        assert written.conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 2000


def test_exit_flush_seconds_is_a_setting(tmp_path: Path) -> None:
    from pytest_flywheel.config import ConfigError, load_settings

    (tmp_path / "pyproject.toml").write_text("[tool.flywheel]\nexit_flush_seconds = 0.25\n")
    assert load_settings(tmp_path, environ={}).exit_flush_seconds == 0.25
    assert load_settings(tmp_path, environ={"FLYWHEEL_EXIT_FLUSH": "5"}).exit_flush_seconds == 5.0
    assert load_settings(tmp_path / "elsewhere", environ={}).exit_flush_seconds == 2.0
    for bad in ("nan", "-1", "soon", "1e9"):
        with pytest.raises(ConfigError, match="exit_flush_seconds"):
            load_settings(tmp_path, environ={"FLYWHEEL_EXIT_FLUSH": bad})


def test_warnings_made_errors_still_reach_stderr(tmp_path: Path) -> None:
    """``python -W error``: a loss must not become silent because warnings are errors."""
    store = tmp_path / "flywheel.db"
    newer_store(store)
    script = textwrap.dedent(TRACE_AND_EXIT) + "\nfrom pytest_flywheel import flush\nflush(10)\n"
    env = {**os.environ, "FLYWHEEL_STORE": str(store)}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("TracingWarning: pytest-flywheel: cannot write traces") == 1
    assert json.dumps("newer pytest-flywheel")[1:-1] in done.stderr
