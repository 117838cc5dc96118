"""The production shape: the Collector config shipped in docs/ sends flywheel collect batches of the traces its
tail sampling keeps. This test starts nothing external: it makes the requests that config would send."""

from __future__ import annotations

import gzip
import hashlib
import time
from pathlib import Path
from typing import Any

import yaml

from pytest_flywheel.interop.receiver import OTLPReceiver
from pytest_flywheel.store import Store

from .otel import provider_to
from .test_receiver import post

CONFIG = Path(__file__).resolve().parents[2] / "docs" / "otel-collector.yaml"


def _traces(tracer: Any, count: int) -> None:
    from opentelemetry.trace import Status, StatusCode

    for number in range(count):
        with tracer.start_as_current_span("checkout", attributes={"input.value": f'{{"n": {number}}}',
                                                                   "input.mime_type": "application/json"}) as root:
            with tracer.start_as_current_span("charge_card", attributes={"openinference.span.kind": "TOOL"}):
                pass
            if number % 5 == 0:
                root.set_status(Status(StatusCode.ERROR, "card declined"))
            if number % 7 == 3:
                root.set_attribute("user.feedback", "negative")


def _kept(spans: list[Any], policies: list[dict[str, Any]]) -> set[int]:
    """The trace ids the config's tail-sampling policies keep (any policy keeping a trace keeps it)."""
    by_trace: dict[int, list[Any]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    kept = set()
    for trace_id, members in by_trace.items():
        for policy in policies:
            kind = policy["type"]
            if kind == "status_code" and any(s.status.status_code.name in policy["status_code"]["status_codes"]
                                             for s in members):
                kept.add(trace_id)
            elif kind == "string_attribute":
                key, values = policy["string_attribute"]["key"], policy["string_attribute"]["values"]
                if any((s.attributes or {}).get(key) in values for s in members):
                    kept.add(trace_id)
            elif kind == "probabilistic":
                share = int.from_bytes(hashlib.sha256(trace_id.to_bytes(16, "big")).digest()[:4], "big") / 2**32
                if share * 100 < policy["probabilistic"]["sampling_percentage"]:
                    kept.add(trace_id)
    return kept


def test_the_collector_configs_requests_reach_the_store(tmp_path: Path) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    config = yaml.safe_load(CONFIG.read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["processors"] == ["memory_limiter", "tail_sampling", "batch"]
    (exporter_name,) = pipeline["exporters"]
    exporter = config["exporters"][exporter_name]
    assert exporter_name.startswith("otlphttp") and exporter["encoding"] == "proto"
    batch_size = config["processors"]["batch"]["send_batch_size"]

    memory = InMemorySpanExporter()
    with provider_to(memory) as provider:
        _traces(provider.get_tracer("checkout"), 60)
    spans = list(memory.get_finished_spans())
    kept = _kept(spans, config["processors"]["tail_sampling"]["policies"])
    assert 12 <= len(kept) < 60  # every failed (12) and marked trace, and a sample of the rest
    forwarded = [span for span in spans if span.context.trace_id in kept]

    store = tmp_path / "flywheel.db"
    # a queue smaller than a batch or two: the receiver pushes back with 503 and the Collector retries
    receiver = OTLPReceiver(store, port=0, queue_spans=batch_size // 8).start()
    try:
        url = receiver.url  # the Collector appends /v1/traces to the exporter's endpoint, as here
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": exporter["compression"]}
        assert headers["Content-Encoding"] == "gzip"
        retries = 0
        for start in range(0, len(forwarded), batch_size // 8):
            body = gzip.compress(encode_spans(forwarded[start:start + batch_size // 8]).SerializeToString())
            while True:
                status, answer_headers, _ = post(url, body, headers)
                if status == 200:
                    break
                assert status == 503 and int(answer_headers["retry-after"]) >= 1
                retries += 1
                time.sleep(0.05)  # (the Collector waits Retry-After; the test need not)
    finally:
        summary = receiver.stop()
    assert summary.spans_new == len(forwarded) and summary.traces_new == len(kept)
    with Store(store) as opened:
        stored = {int(row[0], 16) for row in opened.conn.execute("SELECT id FROM traces")}
        errors = opened.conn.execute("SELECT COUNT(*) FROM traces WHERE status = 'error'").fetchone()[0]
    assert stored == kept and errors == 12
