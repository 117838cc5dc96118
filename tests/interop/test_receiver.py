"""``flywheel collect``: OTLP/HTTP answers, back-pressure with 503, and a graceful stop that loses nothing."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pytest_flywheel.interop.receiver import OTLPReceiver
from pytest_flywheel.store import Store


def otlp_json(trace_number: int, spans: int = 2, *, error: bool = False, attrs: dict[str, str] | None = None) -> dict[str, Any]:
    trace_id = f"{trace_number + 1:032x}"
    items = []
    for index in range(spans):
        item: dict[str, Any] = {
            "traceId": trace_id, "spanId": f"{trace_number + 1:08x}{index + 1:08x}", "name": f"step-{index}",
            "startTimeUnixNano": str(1_700_000_000_000_000_000 + index), "kind": 1,
            "endTimeUnixNano": str(1_700_000_001_000_000_000),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in (attrs or {}).items()],
        }
        if index:
            item["parentSpanId"] = f"{trace_number + 1:08x}{1:08x}"
        if error and index == 0:
            item["status"] = {"code": 2, "message": "failed"}
        items.append(item)
    return {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}}]}, "scopeSpans": [{"spans": items}]}]}


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


JSON = {"Content-Type": "application/json"}


def test_json_and_gzip_requests_are_stored(tmp_path: Path) -> None:
    store = tmp_path / "f.db"
    with OTLPReceiver(store, port=0) as receiver:
        status, headers, body = post(receiver.url, json.dumps(otlp_json(0)).encode(), JSON)
        assert (status, headers["content-type"], body) == (200, "application/json", b"{}")
        packed = gzip.compress(json.dumps(otlp_json(1)).encode())
        assert post(receiver.url, packed, {**JSON, "Content-Encoding": "gzip"})[0] == 200
    assert (receiver.summary.traces_new, receiver.summary.spans_new) == (2, 4)
    with Store(store) as opened:
        assert {row[0] for row in opened.conn.execute("SELECT project FROM spans")} == {"checkout"}


@pytest.mark.parametrize(("path", "body", "headers", "status", "says"), [
    ("/v1/traces", b"{not json", JSON, 400, "not JSON"),
    ("/v1/traces", b'{"hello": 1}', JSON, 400, "TracesData"),
    ("/v1/traces", b'{"resourceSpans": 5}', JSON, 400, "resourceSpans must be a list"),
    ("/v1/traces", b"[" * 100_000, JSON, 400, "nested too deeply"),
    ("/v1/traces", b"x", {"Content-Type": "text/plain"}, 415, "Content-Type"),
    ("/v1/traces", b"x", {**JSON, "Content-Encoding": "br"}, 415, "Content-Encoding"),
    ("/v1/traces", b"not gzip", {**JSON, "Content-Encoding": "gzip"}, 400, "cannot be decompressed"),
    ("/v1/logs", b"{}", JSON, 404, "/v1/traces"),
    ("/v1/traces", b"\x0a\xff\xff", {"Content-Type": "application/x-protobuf"}, 400, "protobuf"),
])
def test_bad_requests_get_the_otlp_status_and_a_reason(tmp_path: Path, path: str, body: bytes,
                                                        headers: dict[str, str], status: int, says: str) -> None:
    with OTLPReceiver(tmp_path / "f.db", port=0) as receiver:
        url = receiver.url.replace("/v1/traces", path)
        got, _, answer = post(url, body, headers)
    assert got == status
    assert says in answer.decode("utf-8", "replace")
    assert receiver.summary.spans_new == 0


def test_an_oversized_or_bomb_body_is_refused(tmp_path: Path) -> None:
    bomb = gzip.compress(b" " * (4 << 20))
    with OTLPReceiver(tmp_path / "f.db", port=0, max_body_bytes=1 << 20) as receiver:
        assert post(receiver.url, bomb, {**JSON, "Content-Encoding": "gzip"})[0] == 413
        # a declared length over the limit is answered before the body is read (so send only the headers)
        import socket

        parts = urlsplit(receiver.url)
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=10) as sock:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 2097152\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 413")


def test_a_full_queue_answers_503_with_retry_after_and_a_retrying_sender_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "f.db"
    blocker = Store(store)  # hold the write lock: the writer cannot drain, the queue fills
    blocker.conn.execute("BEGIN IMMEDIATE")
    receiver = OTLPReceiver(store, port=0, queue_spans=4).start()
    try:
        statuses = [post(receiver.url, json.dumps(otlp_json(n)).encode(), JSON) for n in range(4)]
        assert [s for s, _, _ in statuses] == [200, 200, 503, 503]
        assert statuses[2][1]["retry-after"] == "1"
        blocker.conn.execute("COMMIT")  # the store is free again: the queue drains
        for number in (2, 3):  # the sender retries what was refused, as OTLP exporters do
            for _ in range(50):
                if post(receiver.url, json.dumps(otlp_json(number)).encode(), JSON)[0] == 200:
                    break
                time.sleep(0.1)
    finally:
        blocker.close()
        summary = receiver.stop()
    assert (summary.traces_new, summary.spans_new) == (4, 8)
    assert receiver.stats.rejected_full >= 2


def test_orphans_are_counted_across_requests(tmp_path: Path) -> None:
    child_only = otlp_json(7)
    child_only["resourceSpans"][0]["scopeSpans"][0]["spans"] = child_only["resourceSpans"][0]["scopeSpans"][0]["spans"][1:]
    with OTLPReceiver(tmp_path / "f.db", port=0) as receiver:
        post(receiver.url, json.dumps(child_only).encode(), JSON)
        late = otlp_json(8)
        post(receiver.url, json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": late["resourceSpans"][0][
            "scopeSpans"][0]["spans"][1:]}]}]}).encode(), JSON)
        time.sleep(0.3)
        post(receiver.url, json.dumps(late).encode(), JSON)  # trace 8's root arrives later: not an orphan
    assert receiver.summary.orphans == 1


def test_sigterm_stops_the_command_after_writing_what_it_received(tmp_path: Path) -> None:
    store = tmp_path / "f.db"
    env = {**os.environ, "FLYWHEEL_STORE": str(store)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_flywheel.cli.main", "collect", "--listen", "127.0.0.1:0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        for number in range(20):
            assert post(url, json.dumps(otlp_json(number, spans=3)).encode(), JSON)[0] == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    closing = json.loads(out[out.index("{"):])
    assert (closing["spans"], closing["requests"]) == (60, 20)
    with Store(store) as opened:
        assert opened.conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 60


def test_listen_address_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_flywheel.cli.main import main

    assert main(["collect", "--listen", "nowhere", "--store", str(tmp_path / "f.db")]) == 2  # a usage error
    assert "argument --listen: expected HOST:PORT" in capsys.readouterr().err
    with OTLPReceiver(tmp_path / "f.db", port=0) as receiver:
        port = urlsplit(receiver.url).port
        assert main(["collect", "--listen", f"127.0.0.1:{port}", "--store", str(tmp_path / "g.db")]) == 1
        assert "cannot listen on" in capsys.readouterr().err


def test_a_listen_host_that_cannot_be_encoded_is_a_clear_error(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Found in a stranger's run: a non-UTF-8 host in --listen ended in a traceback."""
    from pytest_flywheel.cli.main import main

    host = os.fsdecode(b"\xff")
    assert main(["collect", "--listen", f"{host}:4318", "--store", str(tmp_path / "f.db")]) == 2  # a usage error
    assert "argument --listen: b'\\xff:4318' is not UTF-8 text" in capsys.readouterr().err
