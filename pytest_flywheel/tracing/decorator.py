"""``@track``: one span per call of a function, coroutine, generator or async generator."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from typing import Any, TypeVar, overload

from pytest_flywheel.canonical import MAX_ITEMS, TRUNCATED_KEY, json_data
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.store.records import SPAN_TYPES, SpanRecord
from pytest_flywheel.tracing.hooks import active_tool_interceptor
from pytest_flywheel.tracing.spans import close_span, current_span, enter, leave, open_span, tracing_active

F = TypeVar("F", bound=Callable[..., Any])


class TrackUsageError(FlywheelError, ValueError):
    """``@track`` was given an option it cannot use (raised when decorating, never when called)."""


@overload
def track(func: F, /) -> F: ...


@overload
def track(
    *,
    name: str | None = None,
    type: str = "general",
    entrypoint: bool = False,
    project_name: str | None = None,
    tags: Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    ignore_arguments: Iterable[str] | None = None,
) -> Callable[[F], F]: ...


def track(
    func: Any = None,
    /,
    *,
    name: str | None = None,
    type: str = "general",
    entrypoint: bool = False,
    project_name: str | None = None,
    tags: Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    ignore_arguments: Iterable[str] | None = None,
) -> Any:
    """Trace every call of the decorated function as a span.

    Use bare (``@track``) or with options (``@track(type="tool")``). Works on functions, ``async``
    functions, generators and async generators (the span covers the whole iteration; its output is the
    yielded items, at most 1,000), methods (``self``/``cls`` is left out of the input), classmethods
    and staticmethods (either decorator order).

    A call made inside another traced call becomes its child (through ``await``, asyncio tasks and
    threads started with a copied context, e.g. ``contextvars.copy_context().run``). A call with no
    traced caller starts a new trace, whether or not it is marked ``entrypoint=True``; mark the
    function your requests enter through with ``entrypoint=True`` to say that it is the one a test case
    should call again (its ``module:qualname``, file and line are recorded on every span).

    Options:
        name: the span name (default: the function's ``__name__``); a tool's name for replay.
        type: ``general``, ``llm``, ``tool``, ``retrieval`` or ``guardrail``. ``tool`` calls go through
            pytest-flywheel's tool interceptor while a test case replays a cassette.
        entrypoint: this function is where requests enter the agent.
        project_name: the project the trace belongs to (default: the caller's, else
            ``[tool.flywheel] project``).
        tags, metadata: stored on the span (and on the trace, for the root span).
        capture_input, capture_output: False keeps arguments / the return value out of the store.
        ignore_arguments: parameter names left out of the captured input (secrets, big objects).

    The function returns and raises exactly what it would untraced: an exception is recorded (type,
    message, traceback) and raised again unchanged, and a failure inside tracing never reaches it.
    """
    if type not in SPAN_TYPES:
        raise TrackUsageError(
            f"@track(type={type!r}): the span type must be one of {', '.join(SPAN_TYPES)}; "
            f"use type=\"general\" for anything else."
        )
    options = _Options(
        name=name, span_type=type, entrypoint=entrypoint, project=project_name,
        tags=[str(tag) for tag in tags or ()], metadata=dict(metadata or {}),
        capture_input=capture_input, capture_output=capture_output,
        ignored=frozenset(ignore_arguments or ()),
    )

    def decorate(target: Any) -> Any:
        return _instrument(target, options)

    return decorate if func is None else decorate(func)


class _Options:
    __slots__ = ("capture_input", "capture_output", "entrypoint", "ignored", "metadata", "name", "project",
                 "span_type", "tags")

    def __init__(self, *, name: str | None, span_type: str, entrypoint: bool, project: str | None,
                 tags: list[str], metadata: dict[str, Any], capture_input: bool, capture_output: bool,
                 ignored: frozenset[str]) -> None:
        self.name = name
        self.span_type = span_type
        self.entrypoint = entrypoint
        self.project = project
        self.tags = tags
        self.metadata = metadata
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.ignored = ignored


def _instrument(target: Any, options: _Options) -> Any:
    if isinstance(target, classmethod):
        return classmethod(_instrument(target.__func__, options))
    if isinstance(target, staticmethod):
        return staticmethod(_instrument(target.__func__, options))
    if not callable(target):
        raise TrackUsageError(f"@track decorates functions and methods, not {target!r}.")
    import inspect  # at decoration time only: `import pytest_flywheel.tracing` stays light

    plan = _CallPlan(target, options, inspect)
    if inspect.isasyncgenfunction(target):
        return _async_generator_wrapper(target, plan)
    if inspect.iscoroutinefunction(target):
        return _async_wrapper(target, plan)
    if inspect.isgeneratorfunction(target):
        return _generator_wrapper(target, plan)
    return _sync_wrapper(target, plan)


class _CallPlan:
    """What one decorated function's calls share, worked out once at decoration time."""

    def __init__(self, fn: Callable[..., Any], options: _Options, inspect: Any) -> None:
        self.options = options
        self.name = options.name or getattr(fn, "__name__", None) or type(fn).__name__
        self.is_tool = options.span_type == "tool"
        code = getattr(fn, "__code__", None)
        self.module: str | None = getattr(fn, "__module__", None)
        self.qualname: str | None = getattr(fn, "__qualname__", None)
        self.file: str | None = code.co_filename if code is not None else None
        self.line: int | None = code.co_firstlineno if code is not None else None
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        parts = (self.qualname or "").split(".")
        # a method (plain, or classmethod decorated under @track): its self/cls is not an input
        self.skip_first = bool(
            params and params[0].name in ("self", "cls") and len(parts) > 1 and parts[-2] != "<locals>"
        )
        if self.skip_first:
            params = params[1:]
        kinds = inspect.Parameter
        self.positional = [p.name for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
        self.var_positional = next((p.name for p in params if p.kind is kinds.VAR_POSITIONAL), "args")
        self.defaults = {p.name: p.default for p in params if p.default is not kinds.empty}

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name (defaults filled in, ``**kwargs`` flattened), JSON-safe."""
        if self.skip_first:
            args = args[1:]
        bound: dict[str, Any] = dict(zip(self.positional, args, strict=False))
        if len(args) > len(self.positional):
            bound[self.var_positional] = args[len(self.positional):]
        bound.update(kwargs)
        for key, default in self.defaults.items():
            if key not in bound:
                bound[key] = default
        ignored = self.options.ignored
        return {key: json_data(value, bounded=True) for key, value in bound.items() if key not in ignored}

    def open(self, args: tuple[Any, ...], kwargs: dict[str, Any], *, need_arguments: bool) -> tuple[
            SpanRecord, dict[str, Any] | None]:
        options = self.options
        arguments = self.arguments(args, kwargs) if (options.capture_input or need_arguments) else None
        span = open_span(
            self.name, options.span_type, project=options.project,
            input=arguments if options.capture_input else None, tags=options.tags,
            metadata=options.metadata, module=self.module, qualname=self.qualname, file=self.file,
            line=self.line,
        )
        return span, arguments


def _sync_wrapper(fn: Callable[..., Any], plan: _CallPlan) -> Callable[..., Any]:
    capture_output = plan.options.capture_output

    @functools.wraps(fn)
    def traced(*args: Any, **kwargs: Any) -> Any:
        if not tracing_active():
            return fn(*args, **kwargs)
        interceptor = active_tool_interceptor.get() if plan.is_tool else None
        try:
            parent = current_span.get()
            span, arguments = plan.open(args, kwargs, need_arguments=interceptor is not None)
            token = enter(span)
        except Exception:  # tracing broke: the call goes ahead untraced
            return fn(*args, **kwargs)
        try:
            if interceptor is not None:
                result = interceptor.intercept(
                    tool=span.name, arguments=arguments or {}, call=functools.partial(fn, *args, **kwargs)
                )
            else:
                result = fn(*args, **kwargs)
        except BaseException as exc:
            leave(token, parent)
            close_span(span, error=exc)
            raise
        leave(token, parent)
        close_span(span, output=result, capture_output=capture_output)
        return result

    return traced


def _async_wrapper(fn: Callable[..., Any], plan: _CallPlan) -> Callable[..., Any]:
    capture_output = plan.options.capture_output

    @functools.wraps(fn)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        if not tracing_active():
            return await fn(*args, **kwargs)
        interceptor = active_tool_interceptor.get() if plan.is_tool else None
        try:
            parent = current_span.get()
            span, arguments = plan.open(args, kwargs, need_arguments=interceptor is not None)
            token = enter(span)
        except Exception:
            return await fn(*args, **kwargs)
        try:
            if interceptor is not None:
                result = await interceptor.intercept_async(
                    tool=span.name, arguments=arguments or {}, call=functools.partial(fn, *args, **kwargs)
                )
            else:
                result = await fn(*args, **kwargs)
        except BaseException as exc:
            leave(token, parent)
            close_span(span, error=exc)
            raise
        leave(token, parent)
        close_span(span, output=result, capture_output=capture_output)
        return result

    return traced


class _Items:
    """The first :data:`MAX_ITEMS` yielded values, JSON-safe, plus how many more there were."""

    __slots__ = ("items", "omitted")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.omitted = 0

    def add(self, item: Any) -> None:
        if len(self.items) < MAX_ITEMS:
            self.items.append(json_data(item, bounded=True))
        else:
            self.omitted += 1

    def output(self) -> list[Any]:
        if self.omitted:
            return [*self.items, {TRUNCATED_KEY: {"items_omitted": self.omitted}}]
        return self.items

    def close(self, span: SpanRecord, capture_output: bool) -> None:
        """End the generator's span with the items (already JSON-safe: not converted again)."""
        if capture_output:
            span.output = self.output()
        close_span(span, capture_output=False)


def _generator_wrapper(fn: Callable[..., Generator[Any, Any, Any]], plan: _CallPlan) -> Callable[..., Any]:
    capture_output = plan.options.capture_output

    @functools.wraps(fn)
    def traced(*args: Any, **kwargs: Any) -> Any:
        if not tracing_active():
            return (yield from fn(*args, **kwargs))
        try:
            parent = current_span.get()
            span, _ = plan.open(args, kwargs, need_arguments=False)
        except Exception:
            return (yield from fn(*args, **kwargs))
        items = _Items()
        generator = fn(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            # the span is current only while the generator's own code runs, not between items
            token = enter(span)
            try:
                if to_throw is not None:
                    exc, to_throw = to_throw, None
                    item = generator.throw(exc)
                else:
                    item = generator.send(to_send)
            except StopIteration as stop:
                leave(token, parent)
                items.close(span, capture_output)
                return stop.value
            except BaseException as exc:
                leave(token, parent)
                close_span(span, error=exc)
                raise
            leave(token, parent)
            if capture_output:
                items.add(item)
            try:
                to_send = yield item
            except GeneratorExit:  # the consumer stopped early: a normal end, with what it took
                token = enter(span)
                try:
                    generator.close()
                finally:
                    leave(token, parent)
                    items.close(span, capture_output)
                raise
            except BaseException as exc:
                to_throw = exc

    return traced


def _async_generator_wrapper(fn: Callable[..., AsyncIterator[Any]], plan: _CallPlan) -> Callable[..., Any]:
    capture_output = plan.options.capture_output

    @functools.wraps(fn)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        span: SpanRecord | None = None
        parent: SpanRecord | None = None
        if tracing_active():
            try:
                parent = current_span.get()
                span, _ = plan.open(args, kwargs, need_arguments=False)
            except Exception:
                span = None
        generator: Any = fn(*args, **kwargs)
        items = _Items()
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            # asend/athrow by hand (there is no `yield from` here), entering the span around each step
            token = enter(span) if span is not None else None
            try:
                if to_throw is not None:
                    exc, to_throw = to_throw, None
                    item = await generator.athrow(exc)
                else:
                    item = await generator.asend(to_send)
            except StopAsyncIteration:
                if span is not None and token is not None:
                    leave(token, parent)
                    items.close(span, capture_output)
                return
            except BaseException as exc:
                if span is not None and token is not None:
                    leave(token, parent)
                    close_span(span, error=exc)
                raise
            if span is not None and token is not None:
                leave(token, parent)
                if capture_output:
                    items.add(item)
            try:
                to_send = yield item
            except GeneratorExit:
                token = enter(span) if span is not None else None
                try:
                    await generator.aclose()
                finally:
                    if span is not None and token is not None:
                        leave(token, parent)
                        items.close(span, capture_output)
                raise
            except BaseException as exc:
                to_throw = exc

    return traced
