"""Latency checks in replay are judged on what the run took when its cassette was recorded, not on the
replay's own time: twenty offline runs of an unchanged agent give the same outcome."""

from __future__ import annotations

import yaml

from pytest_flywheel.store.records import SpanRecord
from tests.plugin.conftest import Project

SLOW_AGENT = """
import time

from pytest_flywheel import track


@track(type="tool")
def slow_lookup(order_id):
    time.sleep(0.25)  # the live tool is slow; replayed, it answers at once
    return {"order_id": order_id, "status": "shipped"}


def answer(order_id):
    return f"Order {slow_lookup(order_id)['order_id']} has shipped."
"""

SUITE = """\
version: 1
name: slow
target: slow_agent:answer
cases:
  - id: too-slow
    input: {order_id: W1}
    assertions:
      - max_latency_ms: 150
  - id: fast-enough
    input: {order_id: W2}
    assertions:
      - max_latency_ms: 5000
"""


def test_replayed_latency_is_the_recorded_one_and_every_offline_run_agrees(project: Project) -> None:
    project.pytester.makepyfile(slow_agent=SLOW_AGENT)
    project.write_suite("slow", SUITE)
    recorded = project.pytester.runpytest("--flywheel-suite=slow", "--flywheel-record=once")
    recorded.assert_outcomes(passed=1, failed=1)
    cassette = yaml.safe_load((project.path / "flywheel/cassettes/slow/too-slow.yaml").read_text())
    assert cassette["recorded_run"]["latency_ms"] >= 250

    outcomes = set()
    for _ in range(20):
        replayed = project.pytester.runpytest("--flywheel-suite=slow", "-p", "no:xdist")
        outcomes.add(tuple(sorted(replayed.parseoutcomes().items())))
    assert outcomes == {(("failed", 1), ("passed", 1))}  # the tool no longer sleeps, the verdict holds
    replayed.stdout.fnmatch_lines(["*took 2?? ms when recorded (limit 150 ms)*"])


def test_a_captured_trace_s_cassette_records_what_the_traced_run_took() -> None:
    root = SpanRecord(
        id="r", trace_id="t", parent_id=None, name="answer", type="general", start_time=100.0, end_time=100.8125,
        project="p",
    )
    tool = SpanRecord(
        id="c", trace_id="t", parent_id="r", name="lookup", type="tool", start_time=100.1, end_time=100.2,
        project="p", input={"order_id": "W1"}, output={"ok": True},
    )
    from pytest_flywheel.replay.cassette_writer import case_cassette_data

    data = case_cassette_data([root, tool])
    assert data["recorded_run"] == {"latency_ms": 812.5}
