"""The seams through which replay and the pytest plugin reach into tracing, without tracing
importing either of them (production code imports only tracing).

* A **tool interceptor**: while one is active (a case's cassette is open), every call of a
  ``@track(type="tool")`` function goes through it instead of straight to the function, so that
  replay can return the recorded result, or call through and record.
* A **span collector**: while one is active, every span that finishes in this context is also
  appended to it, so the plugin gets a case's trajectory (tool calls, LLM calls) in memory.
* **Replay is active** (:data:`replay_active`): while a case's cassette answers this context's HTTP
  requests, a client wrapped by ``track_anthropic`` that has no credential sends its requests without
  one instead of refusing to build them (the SDK's "Could not resolve authentication method"). The
  cassette answers them, and replay refuses, before it is sent, any request it would have to send to
  the API without a key. Being a context variable, it is seen by the case's own code (and tasks and
  threads started with a copied context), never by the judge's threads or other tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from pytest_flywheel.store.records import SpanRecord


class ToolInterceptor(Protocol):
    """Replay's hook on ``@track(type="tool")`` calls.

    ``tool`` is the span name (the function's name unless ``@track(name=...)``), ``arguments`` the
    call's arguments bound to parameter names and made JSON-safe (after ``ignore_arguments``).
    ``call`` runs the real function. The interceptor returns the value the caller gets, or raises
    the exception the caller sees (a recorded error is raised again as the same type when it can be).
    """

    def intercept(self, *, tool: str, arguments: dict[str, Any], call: Callable[[], Any]) -> Any: ...

    async def intercept_async(
        self, *, tool: str, arguments: dict[str, Any], call: Callable[[], Awaitable[Any]]
    ) -> Any: ...


active_tool_interceptor: ContextVar[ToolInterceptor | None] = ContextVar(
    "flywheel_tool_interceptor", default=None
)


class SpanCollector:
    """Spans finished while this collector is active, in the order they finished."""

    def __init__(self, *, persist: bool = True) -> None:
        #: False: spans go only here, not to the store (the plugin's replayed runs).
        self.persist = persist
        self.spans: list[SpanRecord] = []

    def add(self, span: SpanRecord) -> None:
        self.spans.append(span)  # list.append is atomic under the GIL: threads may share a collector


replay_active: ContextVar[bool] = ContextVar("flywheel_replay_active", default=False)


active_span_collectors: ContextVar[tuple[SpanCollector, ...]] = ContextVar(
    "flywheel_span_collectors", default=()
)


@contextmanager
def tool_interceptor(interceptor: ToolInterceptor) -> Iterator[ToolInterceptor]:
    """Route ``@track(type="tool")`` calls through ``interceptor`` inside the block."""
    token = active_tool_interceptor.set(interceptor)
    try:
        yield interceptor
    finally:
        active_tool_interceptor.reset(token)


@contextmanager
def collect_spans(*, persist: bool = True) -> Iterator[SpanCollector]:
    """Collect every span that finishes inside the block (and in threads/tasks with a copied context).

    ``persist=False`` also keeps those spans out of the store.
    """
    collector = SpanCollector(persist=persist)
    token = active_span_collectors.set((*active_span_collectors.get(), collector))
    try:
        yield collector
    finally:
        active_span_collectors.reset(token)
