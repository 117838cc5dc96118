"""@track on plain functions and methods: what a span records, how spans nest into a trace."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from pytest_flywheel.store import TraceRecord
from pytest_flywheel.tracing import TrackUsageError, current_span_id, current_trace_id, log_feedback, track
from pytest_flywheel.tracing.ids import id_time, new_id
from tests.tracing.conftest import ReadSpans


@track(type="tool")
def lookup(order_id: str, *, verbose: bool = False) -> dict[str, Any]:
    return {"order": order_id, "verbose": verbose}


@track(type="llm", name="think", tags=["model"], metadata={"temperature": 0})
def think(prompt: str) -> str:
    return prompt.upper()


@track(entrypoint=True, project_name="support", tags=["prod"])
def agent(question: str, history: list[str] | None = None) -> str:
    found = lookup("A-1")
    return f"{think(question)} {found['order']}"


def test_nested_calls_make_one_trace_with_parent_links(read_spans: ReadSpans) -> None:
    assert agent("where is my order?") == "WHERE IS MY ORDER? A-1"

    root, tool, llm = read_spans()
    assert [root.name, tool.name, llm.name] == ["agent", "lookup", "think"]
    assert root.parent_id is None
    assert tool.parent_id == root.id and llm.parent_id == root.id
    assert {tool.trace_id, llm.trace_id} == {root.trace_id}
    assert [root.type, tool.type, llm.type] == ["general", "tool", "llm"]
    # the project is inherited from the entrypoint
    assert {root.project, tool.project, llm.project} == {"support"}
    assert root.input == {"question": "where is my order?", "history": None}
    assert tool.input == {"order_id": "A-1", "verbose": False}
    assert root.output == "WHERE IS MY ORDER? A-1"
    assert tool.output == {"order": "A-1", "verbose": False}
    assert llm.tags == ["model"] and llm.metadata == {"temperature": 0}
    assert root.start_time <= tool.start_time <= tool.end_time <= llm.start_time <= root.end_time


def test_span_records_its_code_location(read_spans: ReadSpans) -> None:
    agent("hi")
    root = read_spans()[0]
    assert root.module == __name__
    assert root.qualname == "agent"
    assert root.location == f"{__name__}:agent"
    assert root.file == os.path.abspath(__file__)
    # the first line of the definition, decorators included (what inspect.getsourcelines reports)
    assert root.line == agent.__wrapped__.__code__.co_firstlineno  # type: ignore[attr-defined]
    lines = open(__file__).read().splitlines()[root.line - 1:root.line + 1]
    assert any(line.startswith("def agent(") for line in lines)


def test_the_root_span_becomes_a_trace_record_with_totals(
    read_spans: ReadSpans, read_traces: Callable[[], list[TraceRecord]]
) -> None:
    agent("hi")
    spans = read_spans()
    (trace,) = read_traces()
    assert trace.id == spans[0].trace_id
    assert (trace.name, trace.project, trace.status, trace.span_count) == ("agent", "support", "ok", 3)
    assert trace.location == f"{__name__}:agent"
    assert trace.tags == ["prod"]
    assert trace.input == {"question": "hi", "history": None}


def test_a_call_without_a_traced_caller_starts_its_own_trace(read_spans: ReadSpans) -> None:
    lookup("A-1")
    lookup("A-2")
    first, second = read_spans()
    assert first.parent_id is None and second.parent_id is None
    assert first.trace_id != second.trace_id


def test_ids_are_time_ordered_and_unique() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids[:10])
    assert abs(id_time(ids[0]) - id_time(ids[-1])) < 60


def test_exceptions_are_recorded_and_raised_unchanged(read_spans: ReadSpans) -> None:
    error = KeyError("missing")

    @track
    def failing() -> None:
        raise error

    with pytest.raises(KeyError) as caught:
        failing()
    assert caught.value is error

    (span,) = read_spans()
    assert span.status == "error"
    assert span.error is not None
    assert span.error["type"] == "KeyError"
    assert span.error["message"] == "'missing'"
    assert "raise error" in span.error["traceback"]
    assert span.output is None


def test_custom_exception_types_carry_their_module(read_spans: ReadSpans) -> None:
    class RefundError(Exception):
        pass

    @track
    def refund() -> None:
        raise RefundError("too late")

    with pytest.raises(RefundError):
        refund()
    (span,) = read_spans()
    assert span.error is not None
    assert span.error["type"] == f"{__name__}.{RefundError.__qualname__}"


class Shop:
    def __init__(self, name: str) -> None:
        self.name = name

    @track
    def order(self, item: str, quantity: int = 1) -> str:
        return f"{self.name}:{item}x{quantity}"

    @classmethod
    @track
    def open_shop(cls, name: str) -> Shop:
        return cls(name)

    @track
    @classmethod
    def describe(cls, detail: str) -> str:
        return f"{cls.__name__} {detail}"

    @track
    @staticmethod
    def price(item: str) -> int:
        return len(item)

    @staticmethod
    @track
    def tax(amount: int) -> float:
        return amount * 0.2


def test_methods_leave_self_and_cls_out_of_the_input(read_spans: ReadSpans) -> None:
    shop = Shop.open_shop("bramble")
    assert shop.order("tea", quantity=2) == "bramble:teax2"
    assert Shop.describe("shop") == "Shop shop"
    assert shop.price("tea") == 3
    assert Shop.tax(10) == 2.0

    spans = {span.name: span for span in read_spans()}
    assert spans["open_shop"].input == {"name": "bramble"}
    assert spans["order"].input == {"item": "tea", "quantity": 2}
    assert spans["order"].qualname == "Shop.order"
    assert spans["describe"].input == {"detail": "shop"}
    assert spans["price"].input == {"item": "tea"}
    assert spans["tax"].input == {"amount": 10}
    assert spans["tax"].output == 2.0


def test_options_control_what_is_captured(read_spans: ReadSpans) -> None:
    @track(capture_input=False)
    def secret_in(password: str) -> str:
        return "ok"

    @track(capture_output=False)
    def secret_out() -> str:
        return "s3cret"

    @track(ignore_arguments=["api_key"])
    def call(query: str, api_key: str) -> str:
        return query

    @track(name="renamed")
    def original() -> None:
        return None

    @track
    def variadic(first: int, *rest: int, **options: Any) -> int:
        return first + sum(rest)

    secret_in("hunter2")
    secret_out()
    call("q", api_key="sk-test")
    original()
    assert variadic(1, 2, 3, mode="fast") == 6

    spans = {span.name: span for span in read_spans()}
    assert spans["secret_in"].input is None
    assert spans["secret_out"].output is None
    assert spans["call"].input == {"query": "q"}
    assert "renamed" in spans
    assert spans["variadic"].input == {"first": 1, "rest": [2, 3], "mode": "fast"}


def test_decorating_with_an_unknown_type_is_an_error_at_decoration_time() -> None:
    with pytest.raises(TrackUsageError, match=r"type='agent'.*general, llm, tool, retrieval, guardrail"):
        track(type="agent")


def test_current_ids_inside_and_outside_a_trace(read_spans: ReadSpans) -> None:
    seen: dict[str, str | None] = {}

    @track(entrypoint=True)
    def outer() -> None:
        seen["trace"] = current_trace_id()
        seen["span"] = current_span_id()
        inner()

    @track
    def inner() -> None:
        seen["inner_span"] = current_span_id()
        seen["inner_trace"] = current_trace_id()

    assert current_trace_id() is None and current_span_id() is None
    outer()
    assert current_trace_id() is None
    root, child = read_spans()
    assert seen == {"trace": root.trace_id, "span": root.id, "inner_span": child.id, "inner_trace": root.trace_id}


def test_log_feedback_lands_on_the_trace(store_path: Any, read_spans: ReadSpans) -> None:
    from pytest_flywheel.store import Store

    @track(entrypoint=True)
    def handle() -> str | None:
        return current_trace_id()

    trace_id = handle()
    assert trace_id is not None
    log_feedback(trace_id, "thumbs", False, reason="wrong refund amount")
    log_feedback(trace_id, "score", 0.25)
    read_spans()
    with Store(store_path) as store:
        feedback = store.get_feedback(trace_id)
    assert [(f.name, f.value, f.reason) for f in feedback] == [
        ("thumbs", False, "wrong refund amount"),
        ("score", 0.25, None),
    ]


def test_the_decorated_function_keeps_its_name_and_docstring() -> None:
    @track
    def documented(x: int) -> int:
        """Doubles x."""
        return 2 * x

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Doubles x."
    assert documented.__wrapped__(2) == 4  # type: ignore[attr-defined]
