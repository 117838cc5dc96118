"""Code run in other processes by the tracing tests (importable by a spawned interpreter)."""

from __future__ import annotations

from pytest_flywheel.tracing import track


@track(type="tool")
def child_step(worker: int, n: int) -> int:
    return worker * 10_000 + n


@track(entrypoint=True)
def handle(worker: int, n: int) -> int:
    return child_step(worker, n)


def run_worker(worker: int, count: int) -> None:
    """Trace ``count`` requests and leave without calling flush(): the exit handlers must write them."""
    for n in range(count):
        handle(worker, n)
