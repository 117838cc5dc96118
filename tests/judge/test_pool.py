"""``FirstCallAlone``: the pool's first SDK reply is read before any other thread reads one."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pytest_flywheel.judge.pool import FirstCallAlone


def test_the_first_call_runs_alone_then_calls_overlap() -> None:
    first_call = FirstCallAlone()
    inside = 0
    most_inside: list[int] = []
    lock = threading.Lock()

    def call(_: int) -> None:
        nonlocal inside
        with first_call():
            with lock:
                inside += 1
                most_inside.append(inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(call, range(8)))
    assert most_inside[0] == 1  # the first was alone
    assert max(most_inside) > 1  # the others overlapped once it was done


def test_a_first_call_that_fails_leaves_the_next_one_alone_too() -> None:
    first_call = FirstCallAlone()
    with pytest.raises(RuntimeError), first_call():
        raise RuntimeError("the API was down")
    assert not first_call._done
    with first_call():
        pass
    assert first_call._done
