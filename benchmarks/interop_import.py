"""``flywheel import`` throughput and memory on OTLP JSON, as the Collector's file exporter writes it.

    python benchmarks/interop_import.py                  # 100,000 and 1,000,000 spans (a few minutes)
    python benchmarks/interop_import.py --spans 20000    # a smoke run

A file of traces of 5 spans (an entrypoint, two GenAI chat calls with messages and usage, a tool call,
a retrieval) in batches of 512 spans a line is written, then imported by ``flywheel import`` in its own
process; wall time gives spans/s, the child's CPU time spans per CPU-second (what a machine busy with
other work still tells), and the child's peak RSS (ru_maxrss) the memory. "Flat" means the peak
for 1,000,000 spans is that of 100,000: memory holds a batch, not the file. A second import of the same
file (everything already present) is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 512


def _attr(key: str, value: object) -> dict[str, object]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _trace(number: int) -> list[dict[str, object]]:
    trace_id = f"{number + 1:032x}"
    base = 1_760_000_000_000_000_000 + number * 10_000_000

    def span(index: int, name: str, parent: int | None, attributes: dict[str, object]) -> dict[str, object]:
        item: dict[str, object] = {
            "traceId": trace_id, "spanId": f"{number + 1:012x}{index:04x}", "name": name, "kind": 1,
            "startTimeUnixNano": str(base + index * 1000), "endTimeUnixNano": str(base + 5_000_000 - index),
            "attributes": [_attr(k, v) for k, v in attributes.items()],
        }
        if parent is not None:
            item["parentSpanId"] = f"{number + 1:012x}{parent:04x}"
        return item

    question = f"Where is my order A-{number}? It was due on Tuesday."
    chat = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-5-5", "gen_ai.response.model": "claude-sonnet-5-5",
            "gen_ai.usage.input_tokens": 420, "gen_ai.usage.output_tokens": 60,
            "gen_ai.usage.cache_read.input_tokens": 300,
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop", "parts": [
                {"type": "text", "content": f"Order A-{number} shipped on Monday and arrives tomorrow."}]}])}
    return [
        span(1, "lookup_order", 0, {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order",
                                    "gen_ai.tool.call.arguments": json.dumps({"order_id": f"A-{number}"}),
                                    "gen_ai.tool.call.result": json.dumps({"status": "shipped"})}),
        span(2, "search_help", 0, {"openinference.span.kind": "RETRIEVER", "input.value": "shipping delays"}),
        span(3, "chat claude-sonnet-5-5", 0, chat),
        span(4, "chat claude-sonnet-5-5", 0, chat),
        span(0, "answer", None, {"input.value": json.dumps({"question": question}),
                                 "input.mime_type": "application/json", "session.id": f"s-{number % 97}"}),
    ]


def write_file(path: Path, spans: int) -> None:
    resource_block = {"attributes": [_attr("service.name", "support-agent")]}
    with path.open("w") as out:
        batch: list[dict[str, object]] = []
        for number in range(spans // 5):
            batch.extend(_trace(number))
            if len(batch) >= BATCH:
                out.write(json.dumps({"resourceSpans": [{"resource": resource_block, "scopeSpans": [
                    {"scope": {"name": "bench"}, "spans": batch}]}]}, separators=(",", ":")) + "\n")
                batch = []
        if batch:
            out.write(json.dumps({"resourceSpans": [{"resource": resource_block, "scopeSpans": [
                {"scope": {"name": "bench"}, "spans": batch}]}]}, separators=(",", ":")) + "\n")


def run_import(path: Path, store: Path) -> tuple[float, float, float, dict[str, object]]:
    """(wall seconds, CPU seconds, peak RSS MiB of the child, summary)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest_flywheel.cli.main", "import", str(path), "--store",
                           str(store), "--json"], capture_output=True, text=True, check=True,
                          env={**os.environ, "FLYWHEEL_TRACING": "off"})
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # ru_maxrss of children is the largest child so far: runs go smallest first, so it is this one's
    return (elapsed, usage.ru_utime + usage.ru_stime - cpu_before, max(usage.ru_maxrss, before) / 1024,
            json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, nargs="*", default=[100_000, 1_000_000])
    args = parser.parse_args()
    print(f"{'spans':>10} {'file MB':>8} {'wall s':>7} {'CPU s':>6} {'spans/s':>8} {'spans/CPU-s':>12} "
          f"{'peak RSS MiB':>13} {'again s':>8}  (load {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as folder:
        for count in sorted(args.spans):
            source = Path(folder) / f"traces-{count}.jsonl"
            write_file(source, count)
            store = Path(folder) / f"store-{count}.db"
            seconds, cpu, peak, summary = run_import(source, store)
            assert summary["spans"] == count and summary["orphans"] == 0, summary
            again, _, _, second = run_import(source, store)
            assert second["spans"] == 0 and second["already_present"] == count, second
            print(f"{count:>10,} {source.stat().st_size / 1e6:>8.0f} {seconds:>7.1f} {cpu:>6.1f} {count / seconds:>8,.0f} "
                  f"{count / cpu:>12,.0f} {peak:>13.0f} {again:>8.1f}", flush=True)
            source.unlink()
            store.unlink()


if __name__ == "__main__":
    main()
