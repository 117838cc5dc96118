"""A loopback HTTP server that speaks the Anthropic Messages API (``POST /v1/messages``), JSON and SSE.

Replies come from a FIFO script (:meth:`MessagesAPIServer.queue`) or a handler function
(:meth:`MessagesAPIServer.respond_with`); a request with ``"stream": true`` gets the same message as
a server-sent event stream, exactly as the API frames it. Every request is kept in
:attr:`MessagesAPIServer.requests` so tests can count and inspect calls.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Shared with the cassette writer, which frames recorded streams the same way.
from pytest_flywheel.replay.sse import message_to_sse as message_to_sse

_ids = itertools.count(1)


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ErrorReply:
    """An HTTP error in the API's error format (``{"type": "error", "error": {...}}``)."""

    status: int = 500
    error_type: str = "api_error"
    message: str = "Internal server error"
    headers: dict[str, str] = field(default_factory=dict)


Reply = dict[str, Any] | ErrorReply
Handler = Callable[[RecordedRequest], Reply]


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def text_message(
    text: str,
    *,
    model: str = "claude-sonnet-5-5",
    stop_reason: str = "end_turn",
    input_tokens: int = 25,
    output_tokens: int = 12,
) -> dict[str, Any]:
    """A Messages API response JSON holding one text block."""
    return {
        "id": f"msg_loopback_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage(input_tokens, output_tokens),
    }


def tool_use_message(
    name: str,
    tool_input: dict[str, Any],
    *,
    text: str | None = None,
    tool_use_id: str | None = None,
    model: str = "claude-sonnet-5-5",
    input_tokens: int = 40,
    output_tokens: int = 20,
) -> dict[str, Any]:
    """A Messages API response JSON asking for one tool call (optionally after some text)."""
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "text", "text": text})
    content.append(
        {
            "type": "tool_use",
            "id": tool_use_id or f"toolu_loopback_{next(_ids):06d}",
            "name": name,
            "input": tool_input,
        }
    )
    return {
        "id": f"msg_loopback_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": _usage(input_tokens, output_tokens),
    }


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client that hangs up early (a stream dropped unread) is normal here, not a traceback on stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            return
        super().handle_error(request, client_address)


class MessagesAPIServer:
    """A threaded loopback Messages API. Use as a context manager or call start()/stop().

    ``delay`` seconds are waited before every reply (concurrent requests wait concurrently).
    With neither a script nor a handler, it answers every request with a short text message.
    ``port`` 0 (the default) takes a free port; :attr:`base_url` says which.
    """

    def __init__(
        self, handler: Handler | None = None, *, delay: float = 0.0, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.delay = delay
        self.requests: list[RecordedRequest] = []
        #: The most requests that were being answered at the same moment (to check that calls overlap).
        self.max_in_flight = 0
        self._in_flight = 0
        self._handler = handler
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ------------------------------------------------------------------------------

    def queue(self, *replies: Reply) -> MessagesAPIServer:
        """Answer the next requests with these replies, in order (before any handler)."""
        with self._lock:
            self._script.extend(replies)
        return self

    def respond_with(self, handler: Handler) -> MessagesAPIServer:
        self._handler = handler
        return self

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The ``POST /v1/messages`` requests received so far."""
        return [r for r in self.requests if r.path.rstrip("/").endswith("/v1/messages")]

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Messages API server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> MessagesAPIServer:
        server = _QuietHTTPServer((self._host, self._port), self._make_handler_class())
        server.daemon_threads = True
        self._server = server
        # A short poll interval: shutdown() waits up to one interval, and tests stop many servers.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="messages-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MessagesAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------------------------

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            if self._script:
                return self._script.popleft()
        if self._handler is not None:
            return self._handler(request)
        return text_message("OK", model=str(request.body.get("model", "claude-sonnet-5-5")))

    def _make_handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                request = RecordedRequest(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with owner._lock:
                    owner.requests.append(request)
                    owner._in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner._in_flight)
                try:
                    if owner.delay:
                        time.sleep(owner.delay)
                    reply = owner._next_reply(request)
                except Exception as exc:  # a broken handler becomes a 500, not a hung client
                    reply = ErrorReply(500, "api_error", f"loopback handler failed: {exc!r}")
                finally:
                    with owner._lock:
                        owner._in_flight -= 1
                if isinstance(reply, ErrorReply):
                    self._send_json(
                        reply.status,
                        {"type": "error", "error": {"type": reply.error_type, "message": reply.message}},
                        extra=reply.headers,
                    )
                elif body.get("stream"):
                    self._send_sse(reply)
                else:
                    self._send_json(200, reply)

            def _send_json(
                self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", f"req_loopback_{next(_ids):06d}")
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _send_sse(self, message: dict[str, Any]) -> None:
                data = b"".join(message_to_sse(message))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", f"req_loopback_{next(_ids):06d}")
                self.end_headers()
                self.wfile.write(data)

        return _Handler
