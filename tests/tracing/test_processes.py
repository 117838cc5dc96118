"""Several real processes writing one store at once; spans written at exit without an explicit flush."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_flywheel.store import Store
from tests.tracing.workers import run_worker

WORKERS = 4
REQUESTS = 300


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_processes_writing_one_store_lose_nothing(store_path: Path, method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    context = multiprocessing.get_context(method)
    processes = [context.Process(target=run_worker, args=(worker, REQUESTS)) for worker in range(WORKERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0

    with Store(store_path) as store:
        spans = store.conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        traces = store.conn.execute("SELECT count(*), sum(span_count) FROM traces").fetchone()
        outputs = {row[0] for row in store.conn.execute("SELECT output FROM spans WHERE name = 'child_step'")}
    assert spans == WORKERS * REQUESTS * 2
    assert tuple(traces) == (WORKERS * REQUESTS, WORKERS * REQUESTS * 2)
    assert outputs == {str(w * 10_000 + n) for w in range(WORKERS) for n in range(REQUESTS)}


def test_spans_are_written_at_interpreter_exit(store_path: Path) -> None:
    script = textwrap.dedent(
        """
        from pytest_flywheel.tracing import track

        @track(entrypoint=True)
        def last_words(n):
            return n

        for n in range(500):
            last_words(n)
        # no flush(): the atexit handler writes what is queued
        """
    )
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "FLYWHEEL_STORE": str(store_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with Store(store_path) as store:
        assert store.conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 500
