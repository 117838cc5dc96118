"""``flywheel collect`` under 4 concurrent senders: spans/s received into the store, and none lost.

    python benchmarks/interop_collect.py                   # 4 senders x 60 requests x 512 spans
    python benchmarks/interop_collect.py --requests 10     # a smoke run

``flywheel collect`` runs as its own process; 4 sender processes each POST gzip-compressed OTLP protobuf
batches (as the Collector's otlphttp exporter sends them) as fast as they are answered, retrying after
``Retry-After`` on 503. The clock runs from the first request until the receiver, stopped with SIGTERM,
has written everything; then the store is counted. Spans are small GenAI chat and tool spans.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import multiprocessing
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SPANS_PER_REQUEST = 512


def _body(sender: int, request: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="checkout")))
    scope = resource_spans.scope_spans.add()
    for index in range(SPANS_PER_REQUEST):
        trace = (sender * 1_000_000 + request * 1_000 + index // 4).to_bytes(16, "big")
        span = scope.spans.add()
        span.trace_id = trace
        span.span_id = (sender * 10**9 + request * 10**4 + index + 1).to_bytes(8, "big")
        if index % 4:
            span.parent_span_id = (sender * 10**9 + request * 10**4 + index - index % 4 + 1).to_bytes(8, "big")
        span.name = "chat claude-sonnet-5-5" if index % 4 == 1 else ("lookup_order" if index % 4 else "checkout")
        span.start_time_unix_nano = 1_760_000_000_000_000_000 + index
        span.end_time_unix_nano = span.start_time_unix_nano + 5_000_000
        attributes: dict[str, Any] = (
            {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
             "gen_ai.request.model": "claude-sonnet-5-5", "gen_ai.usage.input_tokens": 300,
             "gen_ai.usage.output_tokens": 40} if index % 4 == 1 else
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order",
             "gen_ai.tool.call.arguments": json.dumps({"order_id": f"A-{index}"})} if index % 4 else
            {"input.value": json.dumps({"cart": index}), "input.mime_type": "application/json"})
        for key, value in attributes.items():
            any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
            span.attributes.append(KeyValue(key=key, value=any_value))
    return gzip.compress(message.SerializeToString())


def _sender(port: int, sender: int, requests: int, start: Any, results: Any) -> None:
    bodies = [_body(sender, request) for request in range(requests)]
    start.wait()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    retries = 0
    for body in bodies:
        while True:
            connection.request("POST", "/v1/traces", body=body, headers={
                "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                break
            assert response.status == 503, response.status
            retries += 1
            time.sleep(float(response.getheader("Retry-After") or 1) / 10)  # a quicker retry than OTLP's
    results.put(retries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "flywheel.db"
        receiver = subprocess.Popen([sys.executable, "-m", "pytest_flywheel.cli.main", "collect", "--listen",
                                     "127.0.0.1:0", "--store", str(store), "--json"],
                                    stdout=subprocess.PIPE, text=True, env={**os.environ, "FLYWHEEL_TRACING": "off"})
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline().split(" at ", 1)[1].split("/v1", 1)[0].rsplit(":", 1)[1])
        start, results = multiprocessing.Event(), multiprocessing.Queue()
        senders = [multiprocessing.Process(target=_sender, args=(port, n, args.requests, start, results))
                   for n in range(args.senders)]
        for process in senders:
            process.start()
        time.sleep(3)  # let every sender build its bodies first
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        start.set()
        for process in senders:
            process.join()
        sent_at = time.perf_counter()
        receiver.send_signal(signal.SIGINT)
        out, _ = receiver.communicate(timeout=600)
        stored_at = time.perf_counter()
        retries = sum(results.get() for _ in senders)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = json.loads(out[out.index("{"):])
        with sqlite3.connect(store) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    sent = args.senders * args.requests * SPANS_PER_REQUEST
    print(f"load {os.getloadavg()[0]:.1f}; {args.senders} senders, {sent:,} spans in {args.senders * args.requests} "
          f"requests of {SPANS_PER_REQUEST}")
    print(f"answered all in {sent_at - started:.1f} s, stored all in {stored_at - started:.1f} s: "
          f"{sent / (stored_at - started):,.0f} spans/s into the store; 503 retries: {retries}")
    print(f"stored {stored:,} of {sent:,} (lost {sent - stored:,}); receiver summary spans {summary['spans']:,}, "
          f"refused while full {summary['rejected_full']}")
    print(f"CPU of all processes (senders too): {usage.ru_utime + usage.ru_stime - cpu.ru_utime - cpu.ru_stime:.1f} s")


if __name__ == "__main__":
    main()
