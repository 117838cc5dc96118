"""Shared pieces of the evolve tests: a copy of the example with simulated production, labels of a trace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pytest_flywheel.evolve.labelling import FailingTrace, entrypoint_history, label_one, load_trees
from pytest_flywheel.store import Store
from pytest_flywheel.store.queries import feedback_for_traces, feedback_signal

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
#: 24 requests of seed 139 hold the loop, the lookup without an order number, the invented Canada
#: shipping policy, a gift card, an ineligible refund and the rambling overview (searched once).
SIMULATION = ("--requests", "24", "--seed", "139")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any key or FLYWHEEL_* setting (the root conftest's closed port kept)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "ANTHROPIC_API_KEY"))}
    return {**env, **extra}


def simulated_example(folder: Path) -> Path:
    """A fresh copy of the example project whose store holds simulated production (v1, stand-in)."""
    copy = folder / "example_project"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".flywheel", "__pycache__", ".pytest_cache"))
    subprocess.run(
        [sys.executable, "-m", "support_agent.simulate", *SIMULATION],
        cwd=copy,
        env=clean_env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return copy


def ground_truth(project: Path) -> dict[str, dict[str, Any]]:
    lines = (project / ".flywheel" / "simulation_truth.jsonl").read_text(encoding="utf-8").splitlines()
    return {entry["trace_id"]: entry for entry in map(json.loads, lines)}


def label(store: Store, trace_id: str) -> FailingTrace:
    """One trace's rule labels and signature, as triage reads them."""
    trace = store.get_trace(trace_id)
    assert trace is not None, trace_id
    ((_, tree),) = list(load_trees(store, [trace]))
    history = entrypoint_history(store, trace.project, trace.name, until=time.time() + 1)
    feedback = feedback_for_traces(store, [trace_id]).get(trace_id, [])
    negative = sorted({f.name for f in feedback if feedback_signal(f.name, f.value) < 0})
    return label_one(trace, tree, history, negative)


def run_cli(project: Path, *argv: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``flywheel ARGV`` in ``project``, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.cli.main", *argv],
        cwd=project,
        env=env or clean_env(),
        text=True,
        capture_output=True,
        timeout=300,
        input=stdin,
        check=False,
    )
