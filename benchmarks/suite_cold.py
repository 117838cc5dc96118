"""Cold suite run: 100 cases x 3 uncached sentence assertions, a loopback judge waiting 200 ms per call.

One process, no xdist. Side by side in one run: the plugin as shipped (judge calls of upcoming cases
run ahead and overlap) against the same run with the run-ahead turned off
(``FLYWHEEL_JUDGE_LOOKAHEAD=0``: one judge call after another, as pytest runs items). Cassettes are
replayed in both; the verdict file is deleted before every run so every assertion is judged.

``--judge-repeats N`` also times, in the same rounds, the run with ``--flywheel-judge-repeats=N``
(N separate calls per case, overlapping like any others); target: <= 3x the single-judge time for N=3.

    python benchmarks/suite_cold.py [--cases 100] [--repeat 3] [--delay 0.2] [--judge-repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite_project import record, run_pytest, suite_args, write_project

from pytest_flywheel.judge.loopback import verdict_handler
from pytest_flywheel.testing import MessagesAPIServer


def cold_run(root: Path, *, delay: float, lookahead: str | None, repeats: int = 1) -> tuple[float, int, int]:
    """(wall seconds, judge calls, pytest exit code) of one run with an empty verdict file."""
    verdicts = root / "flywheel" / "verdicts.jsonl"
    verdicts.unlink(missing_ok=True)
    with MessagesAPIServer(verdict_handler(), delay=delay) as judge_api:
        extra = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": judge_api.base_url}
        if lookahead is not None:
            extra["FLYWHEEL_JUDGE_LOOKAHEAD"] = lookahead
        started = time.perf_counter()
        repeat_args = [f"--flywheel-judge-repeats={repeats}"] if repeats > 1 else []
        done = run_pytest(root, *suite_args(), *repeat_args, **extra)
        wall = time.perf_counter() - started
        calls = len(judge_api.message_requests)
    if done.returncode != 0:
        raise RuntimeError(f"the cold run failed:\n{done.stdout[-3000:]}")
    return wall, calls, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.2, help="Seconds the judge waits per call")
    parser.add_argument("--skip-sequential", action="store_true", help="Only time the plugin as shipped")
    parser.add_argument("--judge-repeats", type=int, default=1, help="Also time --flywheel-judge-repeats=N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flywheel-cold-") as folder:
        root = Path(folder)
        write_project(root, cases=args.cases)
        record(root)
        overlapped: list[float] = []
        sequential: list[float] = []
        repeated: list[float] = []
        calls = repeated_calls = 0
        for _ in range(args.repeat):
            wall, calls, _code = cold_run(root, delay=args.delay, lookahead=None)
            overlapped.append(wall)
            if args.judge_repeats > 1:
                wall, repeated_calls, _code = cold_run(
                    root, delay=args.delay, lookahead=None, repeats=args.judge_repeats
                )
                repeated.append(wall)
            if not args.skip_sequential:
                wall, _calls, _code = cold_run(root, delay=args.delay, lookahead="0")
                sequential.append(wall)
        print(f"cold run: {args.cases} cases x 3 uncached sentence assertions, judge delay {args.delay * 1000:.0f} ms")
        print(f"  judge calls per run: {calls} (one per case: all of a case's sentences in one call)")
        print(f"  overlapped (as shipped): median {statistics.median(overlapped):.2f} s  runs {_fmt(overlapped)}")
        if sequential:
            median_seq = statistics.median(sequential)
            print(f"  sequential (lookahead 0): median {median_seq:.2f} s  runs {_fmt(sequential)}")
            print(f"  speed-up: {median_seq / statistics.median(overlapped):.1f}x")
        if repeated:
            median_rep = statistics.median(repeated)
            print(
                f"  judge repeats {args.judge_repeats} ({repeated_calls} calls): median {median_rep:.2f} s  "
                f"runs {_fmt(repeated)}; {median_rep / statistics.median(overlapped):.2f}x the single-judge run "
                f"(target <= {args.judge_repeats}x)"
            )
    return 0


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    sys.exit(main())
