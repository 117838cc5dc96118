"""Cold judging: 100 cases x 3 uncached sentence assertions, loopback Messages API waiting 200 ms a call.

Measured side by side in one process, through the real Anthropic SDK and the judge's cache layer:

* overlapped: every case submitted at once (``CachedJudge.submit``), calls overlap on the judge's
  bounded pool (8 workers by default);
* sequential: one case after another (``CachedJudge.evaluate``), the way DeepEval judges tests; run
  on a 10-case subset and extrapolated x10 (labelled as such) to keep the benchmark short;
* warm: the same 100 cases again with the verdict file just written (zero calls expected).

Each is repeated ``--repeat`` times; medians are reported. Run::

    python benchmarks/judge_cold.py [--cases 100] [--workers 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anthropic

from pytest_flywheel.judge import AnthropicJudge, CachedJudge, JudgeRequest, VerdictCache
from pytest_flywheel.judge.loopback import verdict_handler
from pytest_flywheel.testing import MessagesAPIServer

DELAY_S = 0.2
ASSERTIONS = [
    "The reply must mention 'refund'.",
    "The reply must give the order number.",
    "The reply must not promise a 'voucher'.",
]


def make_cases(count: int, run: int) -> list[JudgeRequest]:
    """``count`` distinct cases (the run number keeps repeats from hitting each other's cache)."""
    return [
        JudgeRequest(
            assertions=list(ASSERTIONS),
            input={"question": f"Where is the refund for order A-{n}?", "run": run},
            output=f"Your refund for order A-{n} was sent on Monday.",
            trajectory=[{"type": "tool", "name": "lookup_order", "arguments": {"order_id": f"A-{n}"},
                         "result": {"status": "refunded"}}],
            label=f"bench.yaml::case-{n}",
        )
        for n in range(count)
    ]


def service(client: anthropic.Anthropic, path: Path, workers: int) -> CachedJudge:
    return CachedJudge(AnthropicJudge(client=client, max_workers=workers), VerdictCache.load(path))


def overlapped(server: MessagesAPIServer, client: anthropic.Anthropic, cases: list[JudgeRequest], path: Path,
               workers: int) -> dict[str, Any]:
    judge = service(client, path, workers)
    calls_before = len(server.message_requests)
    server.max_in_flight = 0
    started = time.perf_counter()
    futures = [judge.submit(case) for case in cases]
    verdicts = [future.result() for future in futures]
    wall = time.perf_counter() - started
    judge.close()
    judge.cache.write()
    assert all(len(v) == len(ASSERTIONS) for v in verdicts)
    return {"wall_s": wall, "calls": len(server.message_requests) - calls_before,
            "max_in_flight": server.max_in_flight, "stats": judge.stats.as_dict()}


def sequential(server: MessagesAPIServer, client: anthropic.Anthropic, cases: list[JudgeRequest],
               path: Path) -> dict[str, Any]:
    judge = service(client, path, 1)
    calls_before = len(server.message_requests)
    started = time.perf_counter()
    for case in cases:
        judge.evaluate(case)
    wall = time.perf_counter() - started
    judge.close()
    return {"wall_s": wall, "calls": len(server.message_requests) - calls_before}


def warm(server: MessagesAPIServer, client: anthropic.Anthropic, cases: list[JudgeRequest], path: Path,
         workers: int) -> dict[str, Any]:
    judge = service(client, path, workers)
    calls_before = len(server.message_requests)
    started = time.perf_counter()
    futures = [judge.submit(case) for case in cases]
    verdicts = [future.result() for future in futures]
    wall = time.perf_counter() - started
    judge.close()
    assert all(v.cached for case in verdicts for v in case)
    return {"wall_s": wall, "calls": len(server.message_requests) - calls_before}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--subset", type=int, default=10, help="cases judged sequentially, then extrapolated")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args(argv)

    runs: list[dict[str, Any]] = []
    with MessagesAPIServer(verdict_handler(), delay=DELAY_S) as server, tempfile.TemporaryDirectory() as tmp:
        client = anthropic.Anthropic(api_key="bench-key", base_url=server.base_url, max_retries=0)
        AnthropicJudge(client=client).judge(make_cases(1, -1)[0])  # warm the connection pool and imports
        for run in range(args.repeat):
            path = Path(tmp) / f"verdicts-{run}.jsonl"
            cases = make_cases(args.cases, run)
            cold = overlapped(server, client, cases, path, args.workers)
            hot = warm(server, client, cases, path, args.workers)
            seq = sequential(server, client, make_cases(args.subset, 1000 + run), Path(tmp) / f"seq-{run}.jsonl")
            runs.append({"overlapped": cold, "warm": hot, "sequential_subset": seq})

    def median(part: str, field: str) -> float:
        return statistics.median(float(run[part][field]) for run in runs)

    cold_s = median("overlapped", "wall_s")
    seq_subset_s = median("sequential_subset", "wall_s")
    seq_extrapolated_s = seq_subset_s * args.cases / args.subset
    summary = {
        "cases": args.cases,
        "assertions_per_case": len(ASSERTIONS),
        "delay_s": DELAY_S,
        "workers": args.workers,
        "repeat": args.repeat,
        "overlapped_wall_s": round(cold_s, 3),
        "overlapped_calls": int(median("overlapped", "calls")),
        "overlapped_max_in_flight": int(median("overlapped", "max_in_flight")),
        "sequential_subset_cases": args.subset,
        "sequential_subset_wall_s": round(seq_subset_s, 3),
        "sequential_extrapolated_wall_s": round(seq_extrapolated_s, 3),
        "speedup": round(seq_extrapolated_s / cold_s, 2),
        "warm_wall_s": round(median("warm", "wall_s"), 3),
        "warm_calls": int(median("warm", "calls")),
        "judge_stats_first_run": runs[0]["overlapped"]["stats"],
    }
    if args.json:
        print(json.dumps({"summary": summary, "runs": runs}, indent=2))
        return 0
    print(f"Cold judging, {args.cases} cases x {len(ASSERTIONS)} sentence assertions, loopback API "
          f"{DELAY_S * 1000:.0f} ms/call, median of {args.repeat}")
    print("| mode | wall (s) | judge calls |")
    print("| --- | ---: | ---: |")
    print(f"| overlapped (`submit`, {args.workers} workers) | {cold_s:.2f} | {summary['overlapped_calls']} |")
    print(f"| sequential, measured on {args.subset} cases | {seq_subset_s:.2f} | "
          f"{int(median('sequential_subset', 'calls'))} |")
    print(f"| sequential, extrapolated to {args.cases} cases (x{args.cases / args.subset:g}) | "
          f"{seq_extrapolated_s:.2f} | {args.cases} |")
    print(f"| warm (verdict file, same {args.cases} cases) | {summary['warm_wall_s']:.3f} | "
          f"{summary['warm_calls']} |")
    print(f"speed-up overlapped vs sequential: x{summary['speedup']}; max calls in flight: "
          f"{summary['overlapped_max_in_flight']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
