"""A bounded thread pool that lets the judge calls of different cases overlap.

Judge calls spend nearly all their time waiting on the network, so threads are the right tool: 100
cases at 200 ms a call take about 100 * 0.2 / workers seconds instead of 20.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from pytest_flywheel.judge.types import JudgeRequest, Verdict

DEFAULT_WORKERS = 8


class PooledJudge:
    """Base class giving a judge ``submit`` (on a lazily created pool) and ``close``.

    Subclasses implement ``judge(request)``; it must be safe to call from several threads at once.
    """

    def __init__(self, *, max_workers: int = DEFAULT_WORKERS) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers={max_workers!r}: expected a number above 0")
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def judge(self, request: JudgeRequest) -> list[Verdict]:
        raise NotImplementedError

    def submit(self, request: JudgeRequest) -> Future[list[Verdict]]:
        """Judge ``request`` on the pool; the future holds the verdicts or the :class:`JudgeError`."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="flywheel-judge")
            executor = self._executor
        return executor.submit(self.judge, request)

    def close(self) -> None:
        """Wait for submitted calls and release the pool's threads (a later ``submit`` starts a new pool)."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


class FirstCallAlone:
    """Lets the first call through alone, then any number at once.

    The Anthropic SDK builds its reply models (pydantic) the first time it reads a reply, and pydantic
    before 2.14 could fail building one model in several threads at once (``AttributeError:
    __pydantic_core_schema__``). The requests go out together (``with_raw_response``); wrapping each
    reply's ``parse()`` in ``with first_call():`` makes the pool's first reply be read before the other
    threads read theirs, and after that the replies are read freely too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if not self._done:
            self._lock.acquire()
            if not self._done:  # still the first: go alone
                try:
                    yield
                    self._done = True  # not reached when the call raised: the next one goes alone again
                finally:
                    self._lock.release()
                return
            self._lock.release()  # waited while the first went: go with the others
        yield
