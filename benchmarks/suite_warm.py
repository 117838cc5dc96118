"""Warm suite run: 1,000 cases x 3 sentence assertions, cassettes replayed, every verdict cached.

Side by side in one run, alternating, each in a fresh ``python -m pytest`` process:

* **flywheel**: ``pytest flywheel/suites/bench.yaml --flywheel-suite=bench --flywheel-offline``: each
  case replays its cassette (vcrpy), collects its spans, and finds its 3 verdicts in the cache;
* **plain pytest**: a parametrized test making the same agent calls (same SDK, same tracing
  decorators) against in-memory answers (an ``httpx2.MockTransport``), with 3 substring asserts.

Target: flywheel <= 1.5x plain. The project is generated in a temporary folder by a real recording run.

    /work/venv/bin/python benchmarks/suite_warm.py [--cases 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite_project import environment, pytest_command, record, suite_args, write_project


def timed(root: Path, args: list[str], **extra: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        pytest_command(*args), cwd=root, env=environment(root, **extra), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flywheel-warm-") as folder:
        root = Path(folder)
        write_project(root, cases=args.cases)
        record(root)
        verdicts = root / "flywheel" / "verdicts.jsonl"
        before = verdicts.read_bytes()
        flywheel: list[float] = []
        plain: list[float] = []
        for _ in range(args.repeat):
            flywheel.append(timed(root, [*suite_args(), "--flywheel-offline"]))
            plain.append(timed(root, ["plain/test_plain.py"], AGENT_TRANSPORT="memory"))
        assert verdicts.read_bytes() == before, "a warm run must not rewrite the verdict file"
        fly, base = statistics.median(flywheel), statistics.median(plain)
        print(f"warm run: {args.cases} cases x 3 sentence assertions (cached), cassettes replayed")
        print(f"  flywheel     median {fly:.2f} s  runs {_fmt(flywheel)}")
        print(f"  plain pytest median {base:.2f} s  runs {_fmt(plain)}")
        print(f"  ratio flywheel / plain: {fly / base:.2f}x (target <= 1.5x)")
    return 0


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    sys.exit(main())
