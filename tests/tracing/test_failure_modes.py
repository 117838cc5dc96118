"""Failure is never the agent's problem: each way tracing can fail, and the traced call unaffected."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.store import Store
from pytest_flywheel.tracing import TracingWarning, flush, reset_for_tests, tracing_stats, track
from pytest_flywheel.tracing.runtime import RUNTIME
from tests.tracing.conftest import ReadSpans


def use_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_for_tests()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@track
def echo(value: Any) -> Any:
    return value


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class Opaque:
    __slots__ = ("secret",)

    def __init__(self) -> None:
        self.secret = 42

    def __repr__(self) -> str:
        return "<Opaque 42>"


def test_an_unserialisable_argument_is_stored_as_a_marked_repr(read_spans: ReadSpans) -> None:
    opaque, unprintable = Opaque(), Unprintable()
    assert echo(opaque) is opaque
    assert echo(unprintable) is unprintable
    assert echo({1: {"nested": {3, 2, 1}}, "b": b"\x00bytes"}) == {1: {"nested": {1, 2, 3}}, "b": b"\x00bytes"}
    cycle: list[Any] = [1]
    cycle.append(cycle)
    assert echo(cycle) is cycle

    first, second, third, fourth = read_spans()
    assert first.input == {"value": {"__flywheel_repr__": "<Opaque 42>"}}
    assert first.output == {"__flywheel_repr__": "<Opaque 42>"}
    assert second.input["value"]["__flywheel_repr__"].startswith("<Unprintable object (repr failed)")
    assert third.input == {"value": {"1": {"nested": [1, 2, 3]}, "b": {"__flywheel_repr__": "b'\\x00bytes'"}}}
    assert fourth.input["value"][0] == 1 and "__flywheel_repr__" in fourth.input["value"][1]


def test_a_payload_over_the_limit_is_truncated_with_a_marker(
    monkeypatch: pytest.MonkeyPatch, read_spans: ReadSpans
) -> None:
    use_settings(monkeypatch, FLYWHEEL_MAX_PAYLOAD="2000")
    big = "x" * 50_000
    assert echo(big) is big
    assert echo("small") == "small"

    truncated, small = read_spans()
    for marker in (truncated.input, truncated.output):  # the whole field is replaced by the marker
        assert marker["__flywheel_truncated__"]["limit"] == 2000
        assert marker["__flywheel_truncated__"]["bytes"] > 50_000
        assert len(marker["preview"]) < 2000
    assert small.input == {"value": "small"} and small.output == "small"


def test_a_lone_surrogate_does_not_cost_the_batch(read_spans: ReadSpans) -> None:
    odd = "half a pair: \ud800"
    assert echo(odd) is odd
    assert echo("fine") == "fine"
    spans = read_spans()
    assert [span.output for span in spans] == ["half a pair: ?", "fine"]


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another connection holding the store's write lock: the writer's next write waits on it."""
    Store(path).close()  # the schema exists, so the writer needs the lock only to write
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_a_locked_store_never_blocks_the_caller_and_loses_nothing(
    store_path: Path, read_spans: ReadSpans
) -> None:
    holder = hold_write_lock(store_path)
    try:
        results = [echo(n) for n in range(200)]
        assert results == list(range(200))  # returned while the writer waits on the lock
        assert not flush(0.2)  # nothing can be written while the lock is held
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [span.output for span in read_spans()] == list(range(200))


def test_a_full_queue_drops_the_oldest_counts_them_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, store_path: Path, read_spans: ReadSpans
) -> None:
    use_settings(monkeypatch, FLYWHEEL_QUEUE_SIZE="2")
    holder = hold_write_lock(store_path)
    try:
        assert echo("first") == "first"
        writer = RUNTIME.writer
        assert writer is not None
        wait_for(lambda: writer.pending == 0, "the writer to take the first span and block on the lock")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = [echo(f"call-{n}") for n in range(10)]
        assert results == [f"call-{n}" for n in range(10)]
        assert writer.pending == 2
        assert tracing_stats()["dropped"] == 8
        full = [w for w in caught if issubclass(w.category, TracingWarning)]
        assert len(full) == 1
        assert "queue is full" in str(full[0].message) and "FLYWHEEL_QUEUE_SIZE" in str(full[0].message)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [span.output for span in read_spans()] == ["first", "call-8", "call-9"]


def test_warnings_turned_into_errors_still_do_not_reach_the_caller(monkeypatch: pytest.MonkeyPatch,
                                                                     store_path: Path) -> None:
    use_settings(monkeypatch, FLYWHEEL_QUEUE_SIZE="1")
    holder = hold_write_lock(store_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert [echo(n) for n in range(5)] == [0, 1, 2, 3, 4]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert flush(10.0)


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_an_unopenable_store_costs_the_spans_not_the_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    if where == "a directory":
        store = tmp_path / "is-a-folder"
        store.mkdir()
    else:
        (tmp_path / "plain-file").write_text("not a folder")
        store = tmp_path / "plain-file" / "flywheel.db"
    use_settings(monkeypatch, FLYWHEEL_STORE=str(store))
    with pytest.warns(TracingWarning, match=r"cannot write traces to .*FLYWHEEL_STORE"):
        assert [echo(n) for n in range(5)] == [0, 1, 2, 3, 4]
        assert flush(10.0)  # drained: given up on, not stuck
    stats = tracing_stats()
    assert stats["failed"] == 5 and stats["written"] == 0


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write a read-only folder")
def test_a_read_only_folder_costs_the_spans_not_the_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        use_settings(monkeypatch, FLYWHEEL_STORE=str(folder / "flywheel.db"))
        with pytest.warns(TracingWarning, match="cannot write traces"):
            assert echo("x") == "x"
            assert flush(10.0)
        assert tracing_stats()["failed"] == 1
    finally:
        folder.chmod(0o755)


def test_a_full_disk_costs_the_spans_not_the_call(tmp_path: Path) -> None:
    """A real process whose file size limit (RLIMIT_FSIZE) stops SQLite mid-write: "disk full"."""
    pytest.importorskip("resource")
    store = tmp_path / "flywheel.db"
    script = textwrap.dedent(
        """
        import glob, json, os, resource, signal, sys, warnings
        from pytest_flywheel.store import Store
        from pytest_flywheel.tracing import flush, track, tracing_stats, TracingWarning

        Store(sys.argv[1]).close()
        # no file may grow more than ~100 kB past the new store's size: like a disk that fills up
        largest = max(os.path.getsize(p) for p in glob.glob(sys.argv[1] + "*"))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 100_000, largest + 100_000))

        @track
        def step(n, blob):
            return n * 2

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = [step(n, "z" * 20_000) for n in range(100)]
            drained = flush(30)
        print(json.dumps({"results": results, "drained": drained, "stats": tracing_stats(),
                          "warnings": [str(w.message) for w in caught if w.category is TracingWarning]}))
        """
    )
    env = {**os.environ, "FLYWHEEL_STORE": str(store)}
    done = subprocess.run([sys.executable, "-c", script, str(store)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    import json

    report = json.loads(done.stdout)
    assert report["results"] == [n * 2 for n in range(100)]
    assert report["drained"] is True
    assert report["stats"]["failed"] > 0
    assert len(report["warnings"]) == 1 and "cannot write traces" in report["warnings"][0]


def test_a_failure_inside_tracing_runs_the_call_untraced(monkeypatch: pytest.MonkeyPatch,
                                                          read_spans: ReadSpans) -> None:
    import pytest_flywheel.tracing.spans as spans_module

    def broken_id() -> str:
        raise RuntimeError("clock on fire")

    monkeypatch.setattr(spans_module, "new_id", broken_id)  # our own code, not the SDK's
    calls: list[int] = []

    @track
    def counted(n: int) -> int:
        calls.append(n)
        return n + 1

    assert counted(1) == 2
    assert calls == [1]  # called once, not twice
    monkeypatch.undo()
    assert read_spans() == []


def test_tracing_off_records_nothing_and_starts_no_writer(
    monkeypatch: pytest.MonkeyPatch, store_path: Path
) -> None:
    use_settings(monkeypatch, FLYWHEEL_TRACING="off")
    from pytest_flywheel.tracing import log_feedback

    assert echo("x") == "x"
    log_feedback("some-trace", "thumbs", 0)
    assert RUNTIME.writer is None
    assert flush()
    assert not store_path.exists()


def test_a_broken_pyproject_costs_a_warning_not_the_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, read_spans: ReadSpans
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.flywheel\nnot toml")
    monkeypatch.chdir(tmp_path)
    reset_for_tests()
    with pytest.warns(TracingWarning, match="settings could not be read"):
        assert echo(1) == 1
    assert flush(10.0)


def test_an_exception_inside_tracing_is_counted_and_warned_about_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_flywheel.tracing.hooks import SpanCollector, collect_spans
    from pytest_flywheel.tracing.runtime import FAULTS

    monkeypatch.setattr(FAULTS, "count", 0)
    monkeypatch.setattr(FAULTS, "warned", False)

    class BrokenCollector(SpanCollector):
        def add(self, span: Any) -> None:
            raise RuntimeError("collector broke")

    with collect_spans(persist=False):
        from pytest_flywheel.tracing.hooks import active_span_collectors

        token = active_span_collectors.set((*active_span_collectors.get(), BrokenCollector()))
        try:
            with pytest.warns(TracingWarning, match="tracing lost data in a span collector") as caught:
                assert echo(1) == 1  # the call is unaffected
                assert echo(2) == 2
        finally:
            active_span_collectors.reset(token)
    assert len([w for w in caught if "tracing lost data" in str(w.message)]) == 1  # once
    assert tracing_stats()["internal_errors"] == 2
