"""``flywheel collect``: an OTLP/HTTP trace receiver that writes into the store.

``POST /v1/traces`` with ``Content-Type: application/x-protobuf`` or ``application/json``, optionally
``Content-Encoding: gzip`` (or ``deflate``), as OTLP/HTTP specifies. A request is decoded and mapped in
its handler thread (so a bad body gets its ``400`` at once), then queued; one writer thread drains the
queue into the store through a :class:`~pytest_flywheel.interop.sink.TraceSink`, the same insert path
as tracing and ``flywheel import``.

The sender is never kept waiting on the store: when the queue holds ``queue_spans`` spans, a request is
answered ``503`` with ``Retry-After``, which OTLP exporters (and the Collector's retry queue) retry
later, so nothing is lost. A store that cannot be written (locked, full disk) keeps the spans queued
and is tried again. :meth:`OTLPReceiver.stop` stops taking requests, then writes everything queued.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pytest_flywheel.interop import otlp_proto
from pytest_flywheel.interop.errors import FormatError, InteropError
from pytest_flywheel.interop.jsonstream import TOO_DEEP
from pytest_flywheel.interop.mapping import MapOptions, span_record
from pytest_flywheel.interop.otlp_json import decode_traces_data
from pytest_flywheel.interop.sink import ImportSummary, TraceSink
from pytest_flywheel.store import SpanRecord, Store

TRACES_PATH = "/v1/traces"
MAX_BODY_BYTES = 64 << 20
RETRY_AFTER_SECONDS = 1
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@dataclass
class ReceiverStats:
    """What the receiver answered: accepted requests and spans, and the refusals by cause."""

    requests: int = 0
    spans: int = 0
    rejected_full: int = 0
    rejected_bad: int = 0
    store_errors: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(vars(self))


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _status_message(code: int, message: str, *, protobuf: bool) -> bytes:
    """A ``google.rpc.Status`` (field 1 code, field 2 message), as OTLP/HTTP error bodies are."""
    if not protobuf:
        return json.dumps({"code": code, "message": message}).encode()
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _partial_success(rejected: int, message: str, *, protobuf: bool) -> bytes:
    """An ``ExportTraceServiceResponse``: empty when all was accepted, else its ``partial_success``."""
    if not rejected:
        return b"" if protobuf else b"{}"
    if not protobuf:
        return json.dumps({"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}}).encode()
    text = message.encode()
    inner = b"\x08" + _varint(rejected) + b"\x12" + _varint(len(text)) + text
    return b"\x0a" + _varint(len(inner)) + inner


def _inflate(data: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "deflate"):
        raise _BodyError(415, f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise _BodyError(400, f"the {encoding} body cannot be decompressed ({exc})") from None
    if len(out) > limit:
        raise _BodyError(413, f"the decompressed body is over {limit} bytes")
    return out


class OTLPReceiver:
    """An OTLP/HTTP receiver writing to the store at ``store_path``. ``start()``, then ``stop()``."""

    def __init__(
        self,
        store_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 4318,
        options: MapOptions | None = None,
        queue_spans: int = 100_000,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.store_path = Path(store_path)
        self.host, self.port = host, port
        self.options = options or MapOptions(source="otlp-http")
        self.queue_spans = queue_spans
        self.max_body_bytes = max_body_bytes
        self.stats = ReceiverStats()
        self.summary = ImportSummary()
        self.last_store_error: str | None = None
        self._queue: deque[list[SpanRecord]] = deque()
        self._queued = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        if self._server is None:
            raise InteropError("the receiver is not started")
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host_text}]" if ":" in host_text else host_text
        return f"http://{shown}:{port}{TRACES_PATH}"

    @property
    def queued(self) -> int:
        return self._queued

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> OTLPReceiver:
        Store(self.store_path).close()  # a store that cannot be opened is an error now, not in the writer
        server_class = _IPv6Server if ":" in self.host else ThreadingHTTPServer
        try:
            server = server_class((self.host, self.port), self._handler_class())
        except OSError as exc:
            raise InteropError(f"cannot listen on {self.host!r}:{self.port} ({exc.strerror or exc}); is another "
                               "collector running there? Pick another port with --listen HOST:PORT") from None
        except (TypeError, ValueError, OverflowError) as exc:  # a host that is no address (or not encodable)
            raise InteropError(f"cannot listen on {self.host!r}:{self.port} ({exc}); give --listen an address "
                               "such as 127.0.0.1:4318") from None
        server.daemon_threads = True
        self._server = server
        self._threads = [
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             name="flywheel-collect-http", daemon=True),
            threading.Thread(target=self._write_loop, name="flywheel-collect-writer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> ImportSummary:
        """Stop taking requests, write everything queued, close the store. Returns the summary."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return self.summary

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the writer -----------------------------------------------------------------------------

    def _take(self) -> list[list[SpanRecord]] | None:
        with self._wake:
            while not self._queue and not self._stopping:
                self._wake.wait(0.5)
            if not self._queue:
                return None
            taken, count = [], 0
            while self._queue and count < 5_000:
                batch = self._queue.popleft()
                taken.append(batch)
                count += len(batch)
            return taken

    def _write_loop(self) -> None:
        sink: TraceSink | None = None
        try:
            while True:
                taken = self._take()
                if taken is None:
                    return
                for batch in taken:
                    if sink is None:
                        sink = TraceSink(Store(self.store_path), summary=self.summary, batch_spans=1 << 30)
                    sink.add_all(batch)
                while not self._write(sink):
                    if self._stopping and self.stats.store_errors > 30:
                        return  # stopping, and the store has refused for half a minute: give up
                    time.sleep(1.0)
                with self._wake:
                    self._queued -= sum(len(batch) for batch in taken)
        finally:
            if sink is not None:
                self.summary.orphans = sink.close_quietly()

    def _write(self, sink: TraceSink | None) -> bool:
        """One flush; False (the spans kept for the next try) when the store refused."""
        if sink is None:
            return True
        try:
            sink.flush()
            return True
        except Exception as exc:  # locked, full, read-only: keep the spans, try again
            self.stats.store_errors += 1
            if self.last_store_error is None:
                print(f"flywheel collect: cannot write to {self.store_path} ({exc}); the spans stay queued and "
                      "are tried again (senders get 503 while the queue is full)", file=sys.stderr)
            self.last_store_error = f"{type(exc).__name__}: {exc}"
            sink.reopen()
            return False

    # -- the HTTP side --------------------------------------------------------------------------

    def _accept(self, spans: list[SpanRecord]) -> bool:
        """Queue ``spans``; False when the queue has no room for them (the sender is told to retry)."""
        with self._wake:
            if self._stopping or (self._queued and self._queued + len(spans) > self.queue_spans):
                return False
            self._queue.append(spans)
            self._queued += len(spans)
            self._wake.notify()
            return True

    def decode(self, body: bytes, content_type: str) -> tuple[list[SpanRecord], int, str]:
        """(records, spans rejected, why) of one request body. FormatError when it cannot be read."""
        rejected: list[str] = []
        if content_type == PROTOBUF:
            message = otlp_proto.parse_request(body, where="the request body")
            spans: Iterator[Any] = otlp_proto.decode_request(message)
            unreadable = otlp_proto.count_unreadable(message)
            rejected.extend(["a span whose trace or span id has the wrong length"] * unreadable)
        else:
            try:
                document = json.loads(body)
            except RecursionError:
                raise FormatError(f"the request body is {TOO_DEEP}") from None
            except (ValueError, UnicodeDecodeError) as exc:
                raise FormatError(f"the request body is not JSON ({exc})") from None
            spans = decode_traces_data(document, skip=rejected.append, where="the request body")
        records = []
        for span in spans:
            try:
                records.append(span_record(span, self.options))
            except Exception as exc:  # one odd span costs itself, never the request
                rejected.append(f"a span that could not be mapped ({type(exc).__name__})")
        for reason in rejected:
            self.summary.skip(reason)
        return records, len(rejected), "; ".join(sorted(set(rejected)))[:500]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "flywheel-collect"

            def log_message(self, format: str, *args: Any) -> None:  # requests are counted, not logged
                return

            def _reply(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _read_body(self) -> bytes:
                limit = receiver.max_body_bytes
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts: list[bytes] = []
                    size = 0
                    while True:
                        line = self.rfile.readline(64)
                        try:
                            length = int(line.split(b";")[0].strip() or b"0", 16)
                        except ValueError:
                            raise _BodyError(400, "a malformed chunked body") from None
                        if length == 0:
                            self.rfile.readline(64)
                            return b"".join(parts)
                        size += length
                        if size > limit:
                            raise _BodyError(413, f"the body is over {limit} bytes")
                        parts.append(self.rfile.read(length))
                        self.rfile.readline(64)
                length_text = self.headers.get("Content-Length")
                if length_text is None:
                    raise _BodyError(411, "a Content-Length (or a chunked body) is needed")
                try:
                    length = int(length_text)
                except ValueError:
                    raise _BodyError(400, f"Content-Length {length_text!r} is not a number") from None
                if length > limit:
                    raise _BodyError(413, f"the body ({length} bytes) is over {limit} bytes")
                return self.rfile.read(length)

            def do_POST(self) -> None:
                content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                protobuf = content_type != JSON
                answer_type = JSON if not protobuf else PROTOBUF
                try:
                    body = self._read_body()
                    if self.path.split("?")[0].rstrip("/") != TRACES_PATH:
                        raise _BodyError(404, f"{self.path} is not served here: send traces to {TRACES_PATH}")
                    if content_type not in (PROTOBUF, JSON):
                        raise _BodyError(415, f"Content-Type {content_type!r} is not supported: send {PROTOBUF} "
                                         f"or {JSON}")
                    encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
                    data = _inflate(body, encoding, receiver.max_body_bytes)
                    try:
                        records, rejected, why = receiver.decode(data, content_type)
                    except FormatError as exc:
                        raise _BodyError(400, str(exc)) from None
                except _BodyError as exc:
                    receiver.stats.rejected_bad += 1
                    self.close_connection = exc.status in (411, 413)
                    self._reply(exc.status, _status_message(3, str(exc), protobuf=protobuf), answer_type)
                    return
                if records and not receiver._accept(records):
                    receiver.stats.rejected_full += 1
                    self._reply(503, _status_message(14, "the collector's queue is full; retry later",
                                                     protobuf=protobuf),
                                answer_type, {"Retry-After": str(RETRY_AFTER_SECONDS)})
                    return
                receiver.stats.requests += 1
                receiver.stats.spans += len(records)
                self._reply(200, _partial_success(rejected, why, protobuf=protobuf), answer_type)

        return _Handler


class _IPv6Server(ThreadingHTTPServer):
    import socket as _socket

    address_family = _socket.AF_INET6
