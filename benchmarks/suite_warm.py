"""Warm suite run: 1,000 cases x 3 sentence assertions, cassettes replayed, every verdict cached.

Side by side in one run, alternating, each in a fresh ``python -m pytest`` process:

* **flywheel**: ``pytest flywheel/suites/bench.yaml --flywheel-suite=bench --flywheel-offline``: each
  case replays its cassette (vcrpy), collects its spans, and finds its 3 verdicts in the cache;
* **plain pytest**: a parametrized test making the same agent calls (same SDK, same tracing
  decorators) against in-memory answers (an ``httpx2.MockTransport``), with 3 substring asserts.

Targets: flywheel <= 1.5x plain at 1,000 cases, <= 1.75x at 4,000. The project is generated in a temporary folder by a real recording run.

``--before DIR`` also times, in the same rounds, the flywheel run of another version of the package:
``DIR`` holds its ``pytest_flywheel`` folder (for instance ``git archive REV pytest_flywheel | tar -x
-C DIR``) and goes first on ``PYTHONPATH`` for that run only.

    python benchmarks/suite_warm.py [--cases 1000] [--repeat 3] [--before DIR]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite_project import record, run_pytest, suite_args, write_project


@dataclass
class Timing:
    """One pytest process: its wall time and the CPU time it used (user + system)."""

    wall: float
    cpu: float


def timed(root: Path, args: list[str], **extra: str) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = run_pytest(root, *args, **extra)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall=wall, cpu=cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="folder holding another pytest_flywheel")
    args = parser.parse_args()
    if args.before is not None and not (args.before / "pytest_flywheel" / "plugin.py").is_file():
        parser.error(f"{args.before} holds no pytest_flywheel package")
    with tempfile.TemporaryDirectory(prefix="flywheel-warm-") as folder:
        root = Path(folder)
        write_project(root, cases=args.cases)
        record(root)
        verdicts = root / "flywheel" / "verdicts.jsonl"
        before = verdicts.read_bytes()
        flywheel: list[Timing] = []
        plain: list[Timing] = []
        older: list[Timing] = []
        for _ in range(args.repeat):
            flywheel.append(timed(root, [*suite_args(), "--flywheel-offline"]))
            plain.append(timed(root, ["plain/test_plain.py"], AGENT_TRANSPORT="memory"))
            if args.before is not None:
                older.append(
                    timed(root, [*suite_args(), "--flywheel-offline"], PYTHONPATH=str(args.before.resolve()))
                )
        assert verdicts.read_bytes() == before, "a warm run must not rewrite the verdict file"
        print(f"warm run: {args.cases} cases x 3 sentence assertions (cached), cassettes replayed")
        target = 1.5 if args.cases <= 1000 else 1.75
        _report("flywheel", flywheel, plain, target)
        _report("plain pytest", plain, plain, target)
        if older:
            _report(f"before ({args.before})", older, plain, target)
    return 0


def _report(label: str, runs: list[Timing], plain: list[Timing], target: float) -> None:
    """Medians of wall and CPU time, and the ratio to plain pytest: of the medians, and the median of
    each round's own ratio (the two runs of a round are next to each other in time, so a round's ratio
    is less moved by other work on the machine than a ratio of medians taken over all rounds)."""
    walls, cpus = [t.wall for t in runs], [t.cpu for t in runs]
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(f"  {label}: wall median {wall:.2f} s (runs {_fmt(walls)}), CPU median {cpu:.2f} s")
    if runs is plain:
        return
    base_wall = statistics.median(t.wall for t in plain)
    base_cpu = statistics.median(t.cpu for t in plain)
    rounds = [mine.wall / theirs.wall for mine, theirs in zip(runs, plain, strict=True)]
    print(
        f"    / plain: wall {wall / base_wall:.2f}x (target <= {target}x); median of the rounds' own ratios "
        f"{statistics.median(rounds):.2f}x (rounds {_fmt(rounds)}); CPU {cpu / base_cpu:.2f}x"
    )


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    sys.exit(main())
