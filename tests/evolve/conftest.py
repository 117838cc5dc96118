"""Fixtures of the evolve tests: a project whose store holds failures of the last days."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_flywheel.store import Store
from tests.store.builders import Child, Feedback, TraceSpec, write_traces

HOUR = 3600.0


def not_found(trace_id: str, start: float, order: str, question: str) -> TraceSpec:
    """A badly rated trace whose order lookup returns an error payload (the same failure for any order)."""
    return TraceSpec(
        trace_id,
        start,
        input={"question": question, "customer_id": "C-1"},
        output="Your order is on its way.",
        children=[Child("lookup_order", input={"order_id": order, "customer_id": "C-1"},
                        output={"error": f"No order {order} was found."})],
        feedback=[Feedback("task_failed", True)],
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project (the working directory) whose store holds failures of the last days, and good traces."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.flywheel]\nstore = ".flywheel/flywheel.db"\n')
    monkeypatch.delenv("FLYWHEEL_STORE")
    now = time.time()
    store = Store(tmp_path / ".flywheel" / "flywheel.db")
    timeout = Child("lookup_order", input={"order_id": "A-9"}, error=("TimeoutError", "the order service timed out"))
    write_traces(
        store,
        # the same failure on four different orders, three of them in the window's second half
        not_found("nf-1", now - 5 * 86400, "BL-1", "Where is order BL-1?"),
        not_found("nf-2", now - 2 * 86400, "BL-2", "Where is order BL-2?"),
        not_found("nf-3", now - 3 * HOUR, "BL-3", "Where is order BL-3?"),
        not_found("nf-4", now - 2 * HOUR, "BL-4", "Has my parcel BL-4 been posted yet to Lisbon?"),
        # the lookup called with no order number: another failure, though the same tool errs
        TraceSpec("empty-1", now - HOUR, input={"question": "Where is my order?"},
                  children=[Child("lookup_order", input={"order_id": "", "customer_id": "C-1"},
                                  output={"error": "No order was found."})],
                  feedback=[Feedback("thumbs", -1)]),
        # a failed trace: the timeout reached the entrypoint
        TraceSpec("to-1", now - 4 * HOUR, error=("TimeoutError", "the order service timed out"), children=[timeout]),
        # a caught tool error in an otherwise fine trace: a raising span makes it a failure
        TraceSpec("caught-1", now - 30 * 60, children=[Child("warehouse", error=("ConnectionError", "down"))]),
        # only the feedback says it is bad
        TraceSpec("fb-1", now - 20 * 60, input={"question": "Do you price match?"}, feedback=[Feedback("thumbs", "down")]),
        # good traces: not failures
        TraceSpec("ok-1", now - 10 * 60, feedback=[Feedback("thumbs", "up")]),
        TraceSpec("ok-2", now - 9 * 60),
        # outside a 1-day window, and another project
        TraceSpec("old-1", now - 30 * 86400, error=("KeyError", "'x'")),
        TraceSpec("bill-1", now - 5 * 60, name="billing_agent", project="billing", error=("ValueError", "bad")),
    )
    store.close()
    return tmp_path


