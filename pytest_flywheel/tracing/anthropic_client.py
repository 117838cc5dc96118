"""``track_anthropic(client)``: an ``llm`` span for every Messages API call a client makes.

The client's ``messages`` resource is replaced, on that one client object, by a proxy
(:class:`TracedMessages` / :class:`AsyncTracedMessages`); nothing in the SDK is patched, other
clients are untouched, and everything but ``create`` and ``stream`` passes straight through
(``count_tokens``, ``batches``, ``with_raw_response``: untraced).

* ``messages.create(...)``: the span holds the request keyword arguments and the response JSON.
* ``messages.create(..., stream=True)``: the returned stream is wrapped; iterating it yields the SDK's
  own events, and when it is exhausted or closed the span ends with the message reassembled.
* ``messages.stream(...)``: the context manager is wrapped; the block gets the SDK's own
  ``MessageStream`` and the span ends when the block exits, with the final message.

No header value and no key is ever captured: ``extra_headers`` keep their names only.

While a case replays from its cassette (:data:`pytest_flywheel.tracing.hooks.replay_active`), a
client with no credential (no API key, as on a CI machine) sends its calls with the ``Authorization``
header omitted, the SDK's own per-request way of saying "no credential", instead of refusing to build
them: the cassette answers them, so a client built at import time replays with no key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pytest_flywheel.canonical import json_data
from pytest_flywheel.store.records import SpanRecord
from pytest_flywheel.tracing.decorator import TrackUsageError
from pytest_flywheel.tracing.hooks import replay_active
from pytest_flywheel.tracing.pricing import cost_usd
from pytest_flywheel.tracing.runtime import FAULTS, RUNTIME
from pytest_flywheel.tracing.spans import close_span, open_span, tracing_active

C = TypeVar("C")
REDACTED = "[redacted]"


def track_anthropic(client: C, *, project_name: str | None = None) -> C:
    """Trace every ``messages.create`` and ``messages.stream`` call of ``client`` (an
    ``anthropic.Anthropic`` or ``anthropic.AsyncAnthropic``); returns the same client.

    Each call becomes an ``llm`` span, a child of the traced call it is made in: input = the request's
    keyword arguments (JSON-safe), output = the response JSON (a stream reassembled), plus model,
    stop reason, tokens (cache reads and writes too) and cost. Calling it twice is harmless; clients
    made from this one (``client.with_options(...)``, ``client.copy(...)``) are traced too.
    ``messages.parse``, ``messages.count_tokens``, ``client.beta`` and the raw-response helpers pass
    through untraced.
    """
    current = getattr(client, "messages", None)
    if isinstance(current, TracedMessages | AsyncTracedMessages):
        return client
    create = getattr(current, "create", None)
    if current is None or create is None:
        raise TrackUsageError(
            f"track_anthropic() expects an anthropic.Anthropic or anthropic.AsyncAnthropic client, got "
            f"{type(client).__qualname__} (it has no messages.create)."
        )
    import inspect

    # the SDK wraps create() in a plain-function decorator, so the async resource is told by its class
    is_async = type(current).__name__.startswith("Async") or inspect.iscoroutinefunction(create)
    proxy_class = AsyncTracedMessages if is_async else TracedMessages
    proxy = proxy_class(current, client=client, base_url=_base_url(client), project=project_name)
    try:
        setattr(client, "messages", proxy)
    except AttributeError as exc:
        raise TrackUsageError(
            f"track_anthropic() could not replace messages on {type(client).__qualname__}: {exc}."
        ) from exc
    for name in ("copy", "with_options"):  # on this instance only, like `messages`
        make_copy = getattr(client, name, None)
        if callable(make_copy):
            setattr(client, name, _traced_copies(make_copy, project_name))
    return client


def _traced_copies(make_copy: Any, project_name: str | None) -> Any:
    def traced_copy(*args: Any, **kwargs: Any) -> Any:
        return track_anthropic(make_copy(*args, **kwargs), project_name=project_name)

    return traced_copy


def _base_url(client: Any) -> str:
    """The client's base URL without any user:password part."""
    from urllib.parse import urlsplit, urlunsplit

    raw = str(getattr(client, "base_url", "") or "")
    try:
        parts = urlsplit(raw)
    except ValueError:
        return ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_CREDENTIAL_HEADERS = ("authorization", "x-api-key")


def _has_credential(client: Any) -> bool:
    return any(getattr(client, name, None) for name in ("api_key", "auth_token", "credentials"))


def sent_kwargs(client: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments to send: ``kwargs`` themselves, except while a case replays and the
    client has no credential, when the ``Authorization`` header is omitted for this call (see the
    module docstring). Never changes what the span records."""
    if not replay_active.get() or _has_credential(client):
        return kwargs
    given = kwargs.get("extra_headers")
    headers = dict(given) if isinstance(given, Mapping) else {}
    if any(str(name).lower() in _CREDENTIAL_HEADERS for name in headers):
        return kwargs
    from anthropic import omit  # the client exists, so the SDK is imported already

    headers["Authorization"] = omit
    return {**kwargs, "extra_headers": headers}


def request_input(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The request keyword arguments as they go on the wire: JSON-safe, "not given" sentinels left out,
    ``extra_headers`` values redacted."""
    clean = {
        key: value for key, value in kwargs.items() if type(value).__name__ not in ("NotGiven", "Omit")
    }
    safe: dict[str, Any] = json_data(clean, exclude_unset=True, bounded=True)
    headers = safe.get("extra_headers")
    if isinstance(headers, dict):
        safe["extra_headers"] = {str(name): REDACTED for name in headers}
    elif headers is not None:
        safe["extra_headers"] = REDACTED
    return safe


class _Call:
    """One Messages API call's span, from request to the final message."""

    __slots__ = ("request_model", "span")

    def __init__(self, span: SpanRecord, request_model: str | None) -> None:
        self.span = span
        self.request_model = request_model

    @classmethod
    def start(cls, resource: Any, endpoint: str, kwargs: Mapping[str, Any], *, base_url: str,
              project: str | None, stream: bool) -> _Call | None:
        try:
            span = open_span(
                f"anthropic.{endpoint}", "llm", project=project, input=request_input(kwargs),
                metadata={"anthropic": {"endpoint": endpoint, "stream": stream, "base_url": base_url}},
                module=type(resource).__module__,
                qualname=f"{type(resource).__qualname__}.{endpoint.split('.')[-1]}",
            )
        except Exception:
            return None
        model = kwargs.get("model")
        return cls(span, model if isinstance(model, str) else None)

    def finish(self, message: Any = None, *, error: BaseException | None = None,
               complete: bool | None = None) -> None:
        """End the span with ``message`` (the response JSON or a model with ``model_dump``)."""
        span = self.span
        try:
            if message is not None and not isinstance(message, dict):
                message = message.model_dump(mode="json")
            if isinstance(message, dict):
                _record_message(span, message, self.request_model)
            if complete is not None:
                span.metadata["anthropic"]["complete"] = complete
        except Exception as exc:  # the span still closes, without what could not be read
            FAULTS.caught(f"reading the reply of {span.name!r}", exc)
        close_span(span, error=error, capture_output=False)


def _record_message(span: SpanRecord, message: dict[str, Any], request_model: str | None) -> None:
    span.output = message
    span.model = message.get("model") or request_model
    span.stop_reason = message.get("stop_reason")
    usage = message.get("usage") or {}
    span.input_tokens = usage.get("input_tokens")
    span.output_tokens = usage.get("output_tokens")
    span.cache_read_tokens = usage.get("cache_read_input_tokens")
    span.cache_creation_tokens = usage.get("cache_creation_input_tokens")
    settings = RUNTIME.settings
    span.cost_usd = cost_usd(
        span.model, input_tokens=span.input_tokens, output_tokens=span.output_tokens,
        cache_read_tokens=span.cache_read_tokens, cache_creation_tokens=span.cache_creation_tokens,
        overrides=settings.prices if settings is not None else None,
    )


class MessageAssembler:
    """Rebuilds the response JSON from streamed events, as the API would have sent it unstreamed."""

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self.complete = False
        self._partial_json: dict[int, str] = {}

    def add(self, event: Any) -> None:
        try:
            self._add(event if isinstance(event, dict) else event.model_dump(mode="json"))
        except Exception:  # an event we do not understand costs the reassembly, never the stream
            pass

    def _add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self.message = dict(event["message"])
            self.message["content"] = list(self.message.get("content") or [])
            return
        message = self.message
        if message is None:
            return
        content: list[dict[str, Any]] = message["content"]
        if kind == "content_block_start":
            block = dict(event["content_block"])
            index = event.get("index", len(content))
            while len(content) <= index:
                content.append({})
            content[index] = block
            if "input" in block and block["input"] in ({}, None):
                self._partial_json[index] = ""
        elif kind == "content_block_delta":
            block = content[event["index"]]
            delta = event["delta"]
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                block["text"] = (block.get("text") or "") + delta["text"]
            elif delta_type == "input_json_delta":
                index = event["index"]
                self._partial_json[index] = self._partial_json.get(index, "") + delta["partial_json"]
            elif delta_type == "thinking_delta":
                block["thinking"] = (block.get("thinking") or "") + delta["thinking"]
            elif delta_type == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta_type == "citations_delta":
                block["citations"] = [*(block.get("citations") or []), delta["citation"]]
        elif kind == "content_block_stop":
            index = event["index"]
            if index in self._partial_json:
                text = self._partial_json.pop(index)
                content[index]["input"] = json.loads(text) if text else {}
        elif kind == "message_delta":
            for key, value in (event.get("delta") or {}).items():
                if key != "type" and value is not None:
                    message[key] = value
            usage = dict(message.get("usage") or {})
            for key, value in (event.get("usage") or {}).items():
                if value is not None:
                    usage[key] = value
            message["usage"] = usage
        elif kind == "message_stop":
            self.complete = True


# -- the proxies: what they share -----------------------------------------------------------------


class _MessagesProxy:
    _inner: Any = None  # found before __getattr__ runs, even on a half-made object

    def __init__(self, inner: Any, *, client: Any, base_url: str, project: str | None) -> None:
        self._inner = inner
        self._client = client
        self._base_url = base_url
        self._project = project

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _start(self, endpoint: str, kwargs: Mapping[str, Any], *, stream: bool) -> _Call | None:
        return _Call.start(self._inner, endpoint, kwargs, base_url=self._base_url, project=self._project,
                           stream=stream)


class _StreamProxy:
    """A stream from ``create(stream=True)``: the SDK's events pass through and are reassembled; the
    span ends when the stream is exhausted, closed, fails or is dropped."""

    _stream: Any = None  # found before __getattr__ runs, even on a half-made object
    _call: _Call | None = None

    def __init__(self, stream: Any, call: _Call) -> None:
        self._stream = stream
        self._call = call
        self._assembler = MessageAssembler()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _end(self, error: BaseException | None = None) -> None:
        call, self._call = self._call, None
        if call is not None:
            call.finish(self._assembler.message, error=error, complete=self._assembler.complete)

    def __del__(self) -> None:  # dropped without being read to the end or closed
        try:
            self._end()
        except Exception:
            pass


class _StreamManagerProxy:
    """Wraps the SDK's ``messages.stream(...)`` manager: the block gets the SDK's own ``MessageStream``;
    the span ends on exit with the final (or, if left early, partial) message."""

    def __init__(self, manager: Any, proxy: _MessagesProxy, kwargs: Mapping[str, Any]) -> None:
        self._manager = manager
        self._proxy = proxy
        self._kwargs = kwargs
        self._call: _Call | None = None
        self._stream: Any = None

    def _start(self) -> None:
        self._call = self._proxy._start("messages.stream", self._kwargs, stream=True)

    def _end(self, error: BaseException | None) -> None:
        call, self._call = self._call, None
        if call is not None:
            message = _snapshot(self._stream)
            complete = message is not None and message.get("stop_reason") is not None
            call.finish(message, error=error, complete=complete)


def _snapshot(stream: Any) -> dict[str, Any] | None:
    """The SDK stream's accumulated message as JSON, or None when no event arrived."""
    if stream is None:
        return None
    try:
        message = stream.current_message_snapshot
        dumped: dict[str, Any] = message.model_dump(mode="json")
        return dumped
    except Exception:
        return None


# -- sync ------------------------------------------------------------------------------------------


class TracedMessages(_MessagesProxy):
    """Stands in for ``client.messages``: traces ``create`` and ``stream``, passes the rest through."""

    def create(self, *args: Any, **kwargs: Any) -> Any:
        sent = sent_kwargs(self._client, kwargs)
        if not tracing_active():
            return self._inner.create(*args, **sent)
        stream = bool(kwargs.get("stream"))
        call = self._start("messages.create", kwargs, stream=stream)
        if call is None:
            return self._inner.create(*args, **sent)
        try:
            result = self._inner.create(*args, **sent)
        except BaseException as exc:
            call.finish(error=exc)
            raise
        if stream:
            return TracedStream(result, call)
        call.finish(result)
        return result

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        manager = self._inner.stream(*args, **sent_kwargs(self._client, kwargs))
        return TracedStreamManager(manager, self, kwargs) if tracing_active() else manager


class TracedStream(_StreamProxy):
    """The ``Stream`` that ``create(stream=True)`` returned, yielding the same events."""

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        try:
            event = self._stream.__next__()
        except StopIteration:
            self._end()
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        self._assembler.add(event)
        return event

    def __enter__(self) -> TracedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._end()


class TracedStreamManager(_StreamManagerProxy):
    """``with client.messages.stream(...) as stream:``, traced."""

    def __enter__(self) -> Any:
        self._start()
        try:
            self._stream = self._manager.__enter__()
        except BaseException as exc:
            self._end(exc)
            raise
        return self._stream

    def __exit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> Any:
        try:
            return self._manager.__exit__(exc_type, exc, traceback)
        finally:
            self._end(exc)


# -- async -----------------------------------------------------------------------------------------


class AsyncTracedMessages(_MessagesProxy):
    """The ``AsyncAnthropic`` counterpart of :class:`TracedMessages`."""

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        sent = sent_kwargs(self._client, kwargs)
        if not tracing_active():
            return await self._inner.create(*args, **sent)
        stream = bool(kwargs.get("stream"))
        call = self._start("messages.create", kwargs, stream=stream)
        if call is None:
            return await self._inner.create(*args, **sent)
        try:
            result = await self._inner.create(*args, **sent)
        except BaseException as exc:
            call.finish(error=exc)
            raise
        if stream:
            return AsyncTracedStream(result, call)
        call.finish(result)
        return result

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        manager = self._inner.stream(*args, **sent_kwargs(self._client, kwargs))
        return AsyncTracedStreamManager(manager, self, kwargs) if tracing_active() else manager


class AsyncTracedStream(_StreamProxy):
    """The ``AsyncStream`` that ``await create(stream=True)`` returned, yielding the same events."""

    def __aiter__(self) -> AsyncTracedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            event = await self._stream.__anext__()
        except StopAsyncIteration:
            self._end()
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        self._assembler.add(event)
        return event

    async def __aenter__(self) -> AsyncTracedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self._stream.close()
        finally:
            self._end()


class AsyncTracedStreamManager(_StreamManagerProxy):
    """``async with client.messages.stream(...) as stream:``, traced."""

    async def __aenter__(self) -> Any:
        self._start()
        try:
            self._stream = await self._manager.__aenter__()
        except BaseException as exc:
            self._end(exc)
            raise
        return self._stream

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> Any:
        try:
            return await self._manager.__aexit__(exc_type, exc, traceback)
        finally:
            self._end(exc)
