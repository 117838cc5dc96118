"""What tracing costs an agent: a 3-span nested call, untraced / @track / OpenTelemetry, side by side.

    python benchmarks/tracing_overhead.py            # the full run (about a minute)
    python benchmarks/tracing_overhead.py --quick    # a smoke run

The call: ``answer(question, history)`` (the entrypoint) calls ``search(query)`` (a tool) and
``generate(prompt, context)`` (an llm step); small strings and lists go in and come out, and every
tracer captures the same values (OpenTelemetry as span attributes).

Per-call time is wall time in the calling thread, in rounds of ``--calls`` calls, the comparators
taking turns round by round; before and after each round its tracer is flushed (untimed), so no
tracer's background thread is busy during another's round and the queue never fills: what is measured is what a request
pays, not what a full queue would drop. Medians over ``--rounds`` rounds, and ratios to the untraced
call and to OpenTelemetry.

Then the writer alone: spans/s from ``submit`` until committed in SQLite (traces of 3 spans), and the
peak Python memory (tracemalloc) of a tight loop that makes far more spans than the queue holds.
Comparators that do not import are skipped (OpenTelemetry: ``pip install -e '.[bench]'``; Langfuse, when
installed, and Opik, when installed, export to a loopback HTTP sink that answers every request ``200``).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUESTION = "Where is my order A-1042? It was due on Tuesday."
HISTORY = ["Hi, I need help with an order.", "Sure, what is the order number?"]


Agent = Callable[[str, list[str]], str]


# -- the agent, untraced ---------------------------------------------------------------------------


def plain_search(query: str) -> list[str]:
    return [f"doc about {query[:12]}", "shipping policy", "returns policy"]


def plain_generate(prompt: str, context: list[str]) -> str:
    return f"Answer to {prompt[:10]} from {len(context)} documents."


def plain_answer(question: str, history: list[str]) -> str:
    docs = plain_search(question)
    return plain_generate(question, docs)


# -- the agent, @track -----------------------------------------------------------------------------


def tracked_agent() -> Callable[[str, list[str]], str]:
    from pytest_flywheel.tracing import track

    @track(type="tool")
    def search(query: str) -> list[str]:
        return [f"doc about {query[:12]}", "shipping policy", "returns policy"]

    @track(type="llm")
    def generate(prompt: str, context: list[str]) -> str:
        return f"Answer to {prompt[:10]} from {len(context)} documents."

    @track(entrypoint=True)
    def answer(question: str, history: list[str]) -> str:
        docs = search(question)
        return generate(question, docs)

    return answer


# -- the agent, OpenTelemetry ----------------------------------------------------------------------


def otel_agent() -> tuple[Agent, Callable[[], Any]] | None:
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    except ImportError:
        return None

    class NullExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    tracer = provider.get_tracer("benchmark")

    def search(query: str) -> list[str]:
        with tracer.start_as_current_span("search") as span:
            span.set_attribute("input.query", query)
            result = [f"doc about {query[:12]}", "shipping policy", "returns policy"]
            span.set_attribute("output", result)
            return result

    def generate(prompt: str, context: list[str]) -> str:
        with tracer.start_as_current_span("generate") as span:
            span.set_attribute("input.prompt", prompt)
            span.set_attribute("input.context", context)
            result = f"Answer to {prompt[:10]} from {len(context)} documents."
            span.set_attribute("output", result)
            return result

    def answer(question: str, history: list[str]) -> str:
        with tracer.start_as_current_span("answer") as span:
            span.set_attribute("input.question", question)
            span.set_attribute("input.history", history)
            docs = search(question)
            result = generate(question, docs)
            span.set_attribute("output", result)
            return result

    return answer, lambda: provider.force_flush()


# -- the agents of Langfuse and Opik (pointed at a loopback sink) ----------------------------------------------


class LoopbackSink:
    """A loopback HTTP server that answers every request ``200 {}`` and counts them: the
    ingestion endpoint a hosted tracer exports to, minus the network and the server's work."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                owner.requests += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PUT = answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def langfuse_agent(sink: LoopbackSink) -> tuple[Agent, Callable[[], Any]] | None:
    try:
        langfuse: Any = importlib.import_module("langfuse")
    except ImportError:
        return None
    observe = langfuse.observe
    client = langfuse.Langfuse(public_key="pk-lf-benchmark", secret_key="sk-lf-benchmark", base_url=sink.url)

    search = observe(as_type="tool")(plain_search)
    generate = observe(as_type="generation")(plain_generate)

    def answer_body(question: str, history: list[str]) -> str:
        docs = search(question)
        return str(generate(question, docs))

    answer: Agent = observe(name="answer")(answer_body)
    return answer, client.flush


def opik_agent(sink: LoopbackSink) -> tuple[Agent, Callable[[], Any]] | None:
    os.environ.update(OPIK_URL_OVERRIDE=f"{sink.url}/api", OPIK_WORKSPACE="default",
                      OPIK_PROJECT_NAME="benchmark")
    try:
        opik: Any = importlib.import_module("opik")
    except ImportError:
        return None
    search = opik.track(type="tool")(plain_search)
    generate = opik.track(type="llm")(plain_generate)

    def answer_body(question: str, history: list[str]) -> str:
        docs = search(question)
        return str(generate(question, docs))

    answer: Agent = opik.track(name="answer")(answer_body)
    return answer, opik.flush_tracker


# -- measuring -------------------------------------------------------------------------------------


def per_call_us(comparators: dict[str, tuple[Agent, Callable[[], Any] | None]], *, calls: int,
                rounds: int) -> dict[str, list[float]]:
    """Microseconds per call, one figure per round and comparator. The comparators take turns round
    by round, so a change in the machine's load (other processes) falls on all of them alike; the
    first round is a warm-up, not kept. Each comparator's ``between`` (a flush) runs untimed before
    and after its round."""
    figures: dict[str, list[float]] = {name: [] for name in comparators}
    for index in range(rounds + 1):
        for name, (call, between) in comparators.items():
            if between is not None:
                between()
            gc.collect()
            start = time.perf_counter()
            for _ in range(calls):
                call(QUESTION, HISTORY)
            elapsed = time.perf_counter() - start
            if between is not None:
                between()  # again, so no background export spills into the next comparator's round
            if index:
                figures[name].append(elapsed / calls * 1e6)
    return figures


def writer_throughput(store: Path, spans: int) -> tuple[float, int]:
    """Spans/s from submit to committed, and how many rows landed."""
    from pytest_flywheel.store import SpanRecord, Store
    from pytest_flywheel.tracing.ids import new_id
    from pytest_flywheel.tracing.writer import SpanWriter

    records: list[SpanRecord] = []
    now = time.time()
    for _ in range(spans // 3):
        trace_id, root_id = new_id(), new_id()
        for name, parent, payload in (("search", root_id, {"query": QUESTION}),
                                      ("generate", root_id, {"prompt": QUESTION, "context": HISTORY}),
                                      ("answer", None, {"question": QUESTION, "history": HISTORY})):
            records.append(SpanRecord(
                id=root_id if parent is None else new_id(), trace_id=trace_id, parent_id=parent, name=name,
                type="general", start_time=now, end_time=now + 0.001, input=payload,
                output="Answer to Where is m from 3 documents.", module="agent", qualname=name,
                file="/srv/agent.py", line=10,
            ))
    writer = SpanWriter(store, queue_size=len(records) + 1, max_payload_bytes=65_536)
    Store(store).close()  # the schema exists: time the writes, not the migrations
    start = time.perf_counter()
    for record in records:
        writer.submit(record)
    assert writer.flush(120)
    elapsed = time.perf_counter() - start
    writer.close()
    with Store(store) as check:
        landed = int(check.conn.execute("SELECT count(*) FROM spans").fetchone()[0])
    return len(records) / elapsed, landed


def bounded_memory(calls: int) -> tuple[float, dict[str, int]]:
    """Peak traced Python memory (MB) of ``calls`` back-to-back traced calls with the default queue."""
    from pytest_flywheel.tracing import TracingWarning, flush, reset_for_tests, tracing_stats

    reset_for_tests()
    answer = tracked_agent()
    answer(QUESTION, HISTORY)
    flush(30)
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TracingWarning)  # the queue is meant to overflow here
        for _ in range(calls):
            answer(QUESTION, HISTORY)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    stats = tracing_stats()
    flush(120)
    return (peak - base) / 1e6, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke run")
    parser.add_argument("--calls", type=int, default=300, help="calls per round")
    parser.add_argument("--rounds", type=int, default=60, help="rounds per comparator")
    args = parser.parse_args(argv)
    calls, rounds = (50, 5) if args.quick else (args.calls, args.rounds)

    folder = Path(tempfile.mkdtemp(prefix="flywheel-bench-"))
    os.environ["FLYWHEEL_STORE"] = str(folder / "flywheel.db")
    os.environ.pop("FLYWHEEL_TRACING", None)
    from pytest_flywheel.tracing import flush, reset_for_tests

    reset_for_tests()
    comparators: dict[str, tuple[Agent, Callable[[], Any] | None]] = {
        "untraced": (plain_answer, None),
        "@track": (tracked_agent(), lambda: flush(60)),
    }
    otel = otel_agent()
    if otel is not None:
        comparators["OpenTelemetry SDK"] = otel
    else:
        print("OpenTelemetry SDK: skipped (not installed; pip install -e '.[bench]')")
    sink = LoopbackSink()
    langfuse = langfuse_agent(sink)
    if langfuse is not None:
        comparators["Langfuse @observe (loopback sink)"] = langfuse
    else:
        print("Langfuse: skipped (not installed)")
    opik = opik_agent(sink)
    if opik is not None:
        comparators["Opik @track (loopback sink)"] = opik
    else:
        print("Opik: skipped (not installed)")
    results = per_call_us(comparators, calls=calls, rounds=rounds)
    # tracing off is read once per process: measured on its own, after the others
    os.environ["FLYWHEEL_TRACING"] = "off"
    reset_for_tests()
    off = per_call_us({"@track, FLYWHEEL_TRACING=off": (tracked_agent(), None)}, calls=calls, rounds=rounds)
    results.update(off)
    del os.environ["FLYWHEEL_TRACING"]
    reset_for_tests()

    base = statistics.median(results["untraced"])
    otel_median = statistics.median(results["OpenTelemetry SDK"]) if "OpenTelemetry SDK" in results else None
    print(f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs; {rounds} rounds x {calls} calls, "
          "3 spans per call\n")
    print("| tracer | median µs / call | µs / span (over untraced) | x untraced | x OpenTelemetry |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, figures in results.items():
        median = statistics.median(figures)
        vs_otel = f"{median / otel_median:.2f}" if otel_median else "-"
        print(f"| {name} | {median:.1f} | {(median - base) / 3:.1f} | {median / base:.1f} | {vs_otel} |")
    if langfuse is not None or opik is not None:
        print(f"(the loopback sink took {sink.requests} export requests from Langfuse and Opik)")

    spans = 30_000 if args.quick else 150_000
    rates = [writer_throughput(folder / f"writer-{n}.db", spans) for n in range(1 if args.quick else 3)]
    rate = statistics.median(rate for rate, _ in rates)
    assert all(landed == spans for _, landed in rates), "the writer lost spans"
    print(f"\nwriter: {rate:,.0f} spans/s into SQLite (median of {len(rates)} runs of {spans:,} spans, "
          "submit to commit, every span landed)")

    memory_calls = 20_000 if args.quick else 100_000
    peak_mb, stats = bounded_memory(memory_calls)
    print(f"memory: {memory_calls:,} calls ({3 * memory_calls:,} spans) back to back with queue_size=10,000: "
          f"peak {peak_mb:.1f} MB traced Python memory; {stats['dropped']:,} spans dropped (oldest first), "
          f"{stats['written']:,} written by then")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
