"""What ``export = "otlp"`` adds to a traced call, beside OpenTelemetry's own instrumentation.

    python benchmarks/export_overhead.py            # 15 rounds of 2,000 calls per mode
    python benchmarks/export_overhead.py --quick

The call is the one of ``tracing_overhead.py``: ``answer`` (entrypoint) calls ``search`` (tool) and
``generate`` (llm step), 3 spans. Modes, taking turns round by round:

* untraced;
* ``@track`` (spans to the SQLite store only);
* ``@track`` with ``FLYWHEEL_EXPORT=otlp`` (the store, and OTLP/HTTP protobuf through the SDK's
  BatchSpanProcessor);
* the OpenTelemetry SDK by hand: 3 nested spans with the same values as attributes, BatchSpanProcessor and
  the same OTLP/HTTP exporter.

Both exporters send to a loopback HTTP sink that answers 200. Per-call wall time in the calling thread;
before and after each round every tracer is flushed (untimed). Medians over rounds, and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

QUESTION = "Where is my order A-1042? It was due on Tuesday."
HISTORY = ["Hi, I need help with an order.", "Sure, what is the order number?"]


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def _plain() -> Callable[[], str]:
    def search(query: str) -> list[str]:
        return [f"Order {query[-6:]} shipped Monday", "Deliveries take 2-4 days"]

    def generate(prompt: str, context: list[str]) -> str:
        return f"{context[0]}. {prompt[:20]}"

    def answer(question: str, history: list[str]) -> str:
        return generate(question, search(question))

    return lambda: answer(QUESTION, HISTORY)


def _tracked() -> Callable[[], str]:
    from pytest_flywheel import track

    @track(type="tool")
    def search(query: str) -> list[str]:
        return [f"Order {query[-6:]} shipped Monday", "Deliveries take 2-4 days"]

    @track(type="llm")
    def generate(prompt: str, context: list[str]) -> str:
        return f"{context[0]}. {prompt[:20]}"

    @track(entrypoint=True)
    def answer(question: str, history: list[str]) -> str:
        return generate(question, search(question))

    return lambda: answer(QUESTION, HISTORY)


def _opentelemetry(endpoint: str) -> tuple[Callable[[], str], Callable[[], None]]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("bench")

    def search(query: str) -> list[str]:
        with tracer.start_as_current_span("search", attributes={"input.value": json.dumps({"query": query})}) as s:
            result = [f"Order {query[-6:]} shipped Monday", "Deliveries take 2-4 days"]
            s.set_attribute("output.value", json.dumps(result))
            return result

    def generate(prompt: str, context: list[str]) -> str:
        with tracer.start_as_current_span("generate", attributes={
                "input.value": json.dumps({"prompt": prompt, "context": context})}) as s:
            result = f"{context[0]}. {prompt[:20]}"
            s.set_attribute("output.value", json.dumps(result))
            return result

    def answer(question: str, history: list[str]) -> str:
        with tracer.start_as_current_span("answer", attributes={
                "input.value": json.dumps({"question": question, "history": history})}) as s:
            result = generate(question, search(question))
            s.set_attribute("output.value", json.dumps(result))
            return result

    return (lambda: answer(QUESTION, HISTORY)), (lambda: provider.force_flush())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls = 3, 300
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    folder = tempfile.mkdtemp()
    os.environ["FLYWHEEL_STORE"] = os.path.join(folder, "flywheel.db")
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = base
    from pytest_flywheel.tracing import flush, reset_for_tests

    tracked = _tracked()
    otel_call, otel_flush = _opentelemetry(f"{base}/v1/traces")

    def flywheel(export: bool) -> Callable[[], None]:
        def prepare() -> None:
            reset_for_tests(30)
            if export:
                os.environ["FLYWHEEL_EXPORT"] = "otlp"
            else:
                os.environ.pop("FLYWHEEL_EXPORT", None)
            tracked()  # the first call reads the settings (and makes the exporter): untimed
            flush(30)
        return prepare

    modes: dict[str, tuple[Callable[[], Any], Callable[[], None], Callable[[], Any]]] = {
        "untraced": (_plain(), lambda: None, lambda: None),
        "@track (store)": (tracked, flywheel(False), lambda: flush(30)),
        "@track + export=otlp": (tracked, flywheel(True), lambda: flush(30)),
        "OpenTelemetry SDK": (otel_call, lambda: None, otel_flush),
    }
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.rounds):
        for name, (call, prepare, after) in modes.items():
            prepare()
            started = time.perf_counter()
            for _ in range(args.calls):
                call()
            times[name].append((time.perf_counter() - started) / args.calls * 1e6)
            after()
    reset_for_tests(30)
    medians = {name: statistics.median(values) for name, values in times.items()}
    otel = medians["OpenTelemetry SDK"]
    print(f"load {os.getloadavg()[0]:.1f}; {args.rounds} rounds x {args.calls} calls of 3 spans; per call, median")
    for name, value in medians.items():
        print(f"  {name:<24} {value:8.1f} µs   {value / otel:5.2f}x OpenTelemetry")
    extra = medians["@track + export=otlp"] - medians["@track (store)"]
    print(f"export adds {extra:.1f} µs a call ({extra / 3:.1f} µs a span) in the calling thread")


if __name__ == "__main__":
    main()
