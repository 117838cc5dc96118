"""Time-ordered span and trace ids.

An id is 32 lowercase hex characters: 12 for the Unix time in milliseconds, 8 for a per-process
counter, 12 for a per-process random node. Ids made later sort later (within one process exactly;
across processes to the millisecond), like a UUIDv7, so ``ORDER BY id`` is creation order and an id's
prefix says when it was made. Making one costs a clock read and a counter step: no system call.
"""

from __future__ import annotations

import itertools
import os
import time

_counter = itertools.count()
_node = os.urandom(6).hex()


def new_id() -> str:
    """A new time-ordered id (32 hex characters)."""
    return f"{time.time_ns() // 1_000_000:012x}{next(_counter) & 0xFFFFFFFF:08x}{_node}"


def id_time(identifier: str) -> float:
    """The Unix time (seconds, millisecond precision) at which ``identifier`` was made."""
    return int(identifier[:12], 16) / 1000.0


def _reseed_after_fork() -> None:
    # A forked child inherits the node and the counter: without a new node, parent and child would
    # make the same ids.
    global _counter, _node
    _counter = itertools.count()
    _node = os.urandom(6).hex()


os.register_at_fork(after_in_child=_reseed_after_fork)
