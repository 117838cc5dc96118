"""Benchmark: ``flywheel triage --no-llm`` over 100,000 traces (~1,000,000 spans), against analysing
each failure on its own.

    python benchmarks/triage.py [--traces 100000] [--repeat 3] [--rebuild] [--sample 500]

The store is the stats benchmark's (``benchmarks/stats.py``: generated once, seeded, cached under the
temp dir). The window covers all of it (14 days). Measured:

* the whole command, ``flywheel triage --no-llm --json`` in a fresh process (Python start-up, imports,
  the JSON of every cluster with every trace id), median of ``--repeat`` runs; the target is <= 10 s;
* its phases in one process: selecting the failures, labelling them (spans read in batches, the
  rules, one history per entrypoint), clustering, coverage;
* the alternative: what labelling each failure with ``flywheel analyze --no-llm``'s own function
  (``analysis.analyze``, one trace at a time, its history read per trace) costs, measured on a sample
  of ``--sample`` failures and extrapolated to all of them (marked as such).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from stats import DAYS, NOW, cached_store  # noqa: E402

from pytest_flywheel.analysis import AnalyzeOptions, analyze  # noqa: E402
from pytest_flywheel.config import load_settings  # noqa: E402
from pytest_flywheel.evolve.clusters import build_clusters  # noqa: E402
from pytest_flywheel.evolve.coverage import mark_coverage  # noqa: E402
from pytest_flywheel.evolve.labelling import failing_traces, label_failures  # noqa: E402
from pytest_flywheel.store import Store  # noqa: E402

SINCE = NOW - DAYS * 86400 - 60


def command(path: Path, folder: Path) -> tuple[float, dict[str, object]]:
    since = datetime.fromtimestamp(SINCE, UTC).isoformat()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest_flywheel.cli.main", "triage", "--no-llm", "--json", "--since", since,
         "--store", str(path)],
        cwd=folder, capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "ANTHROPIC_"))},
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    data: dict[str, object] = json.loads(done.stdout)
    return elapsed, data


def phases(path: Path, folder: Path) -> dict[str, float]:
    settings = load_settings(folder)
    timings: dict[str, float] = {}
    with Store(path, readonly=True) as store:
        started = time.perf_counter()
        failures = failing_traces(store, since=SINCE, until=NOW + 60)
        timings["select"] = time.perf_counter() - started
        started = time.perf_counter()
        labelled = label_failures(store, failures, until=NOW + 60)
        timings["label"] = time.perf_counter() - started
        started = time.perf_counter()
        clusters = build_clusters(labelled, since=SINCE, until=NOW + 60)
        timings["cluster"] = time.perf_counter() - started
        started = time.perf_counter()
        mark_coverage(clusters, [], store=store, until=NOW + 60)
        timings["coverage"] = time.perf_counter() - started
        timings["failures"] = len(failures)
        timings["clusters"] = len(clusters)
    del settings
    return timings


def one_at_a_time(path: Path, sample: int) -> tuple[float, int]:
    """Seconds per failure with ``analysis.analyze`` (rules only, no comparison), over ``sample`` failures."""
    with Store(path, readonly=True) as store:
        failures = failing_traces(store, since=SINCE, until=NOW + 60)
        step = max(1, len(failures) // sample)
        chosen = [trace.id for trace, _ in failures[::step]][:sample]
        started = time.perf_counter()
        for trace_id in chosen:
            analyze(store, trace_id, AnalyzeOptions(compare=None, use_llm=False))
        return (time.perf_counter() - started) / len(chosen), len(failures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    path = cached_store(args.traces, rebuild=args.rebuild)
    folder = path.parent / "project"
    folder.mkdir(exist_ok=True)
    (folder / "pyproject.toml").write_text("[tool.flywheel]\n")
    with Store(path, readonly=True) as store:
        spans = store.conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    runs = []
    data: dict[str, object] = {}
    for _ in range(args.repeat):
        elapsed, data = command(path, folder)
        runs.append(elapsed)
    inside = phases(path, folder)
    per_trace, failures = one_at_a_time(path, args.sample)
    median = statistics.median(runs)
    clusters = data.get("clusters")
    print(f"store: {args.traces:,} traces, {spans:,} spans, {path.stat().st_size / 1e6:.0f} MB; window: all {DAYS} days")
    print(f"failures: {data.get('failures'):,}; clusters: {len(clusters) if isinstance(clusters, list) else '?'}")
    print(f"flywheel triage --no-llm --json (fresh process): median {median:.2f} s  runs {[round(t, 2) for t in runs]}"
          f"; target <= 10 s: {'met' if median <= 10 else 'NOT met'}")  # fmt: skip
    print("in one process: " + ", ".join(f"{name} {inside[name]:.2f} s" for name in ("select", "label", "cluster", "coverage")))
    estimate = per_trace * failures
    print(f"one trace at a time (analysis.analyze, rules only): {per_trace * 1000:.2f} ms a failure over {args.sample} "
          f"failures; for all {failures:,}: {estimate:.1f} s EXTRAPOLATED (not measured); "
          f"ratio {estimate / inside['label']:.1f}x the batched labelling")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
