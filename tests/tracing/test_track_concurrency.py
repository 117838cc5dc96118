"""@track on coroutines, generators and async generators; nesting across await, tasks and threads."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pytest_flywheel.tracing import current_span_id, track
from tests.tracing.conftest import ReadSpans


@track(type="tool")
async def fetch(item: str) -> str:
    await asyncio.sleep(0.001)
    return item.upper()


@track(entrypoint=True)
async def gather_all(items: list[str]) -> list[str]:
    return list(await asyncio.gather(*(fetch(item) for item in items)))


def test_async_spans_nest_across_await_and_gathered_tasks(read_spans: ReadSpans) -> None:
    assert asyncio.run(gather_all(["a", "b", "c"])) == ["A", "B", "C"]
    root, *children = read_spans()
    assert root.name == "gather_all" and root.parent_id is None
    assert sorted(child.input["item"] for child in children) == ["a", "b", "c"]
    assert all(child.parent_id == root.id and child.trace_id == root.trace_id for child in children)
    assert root.output == ["A", "B", "C"]


def test_concurrent_requests_keep_separate_traces(read_spans: ReadSpans) -> None:
    async def main() -> None:
        await asyncio.gather(gather_all(["x"]), gather_all(["y"]))

    asyncio.run(main())
    spans = read_spans()
    roots = {span.id: span for span in spans if span.parent_id is None}
    assert len(roots) == 2
    for child in (span for span in spans if span.parent_id is not None):
        root = roots[child.parent_id]  # type: ignore[index]
        assert child.trace_id == root.trace_id
        assert root.input["items"] == [child.input["item"]]


def test_async_exception_is_recorded_and_reraised(read_spans: ReadSpans) -> None:
    @track
    async def broken() -> None:
        await asyncio.sleep(0)
        raise TimeoutError("upstream")

    with pytest.raises(TimeoutError, match="upstream"):
        asyncio.run(broken())
    (span,) = read_spans()
    assert span.error is not None and span.error["type"] == "TimeoutError"


def test_threads_started_with_a_copied_context_nest_under_the_caller(read_spans: ReadSpans) -> None:
    @track(type="tool")
    def work(n: int) -> int:
        return n * n

    @track(entrypoint=True)
    def fan_out() -> list[int]:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(contextvars.copy_context().run, work, n) for n in range(3)]
            results = [future.result() for future in futures]
        thread_results: list[int] = []
        context = contextvars.copy_context()
        thread = threading.Thread(target=lambda: thread_results.append(context.run(work, 7)))
        thread.start()
        thread.join()
        return results + thread_results

    assert fan_out() == [0, 1, 4, 49]
    root, *children = read_spans()
    assert len(children) == 4
    assert all(child.parent_id == root.id for child in children)


def test_a_thread_without_a_copied_context_starts_its_own_trace(read_spans: ReadSpans) -> None:
    @track
    def background() -> None:
        return None

    @track(entrypoint=True)
    def handler() -> None:
        thread = threading.Thread(target=background)
        thread.start()
        thread.join()

    handler()
    spans = read_spans()
    assert [span.parent_id for span in spans] == [None, None]


def test_generator_span_covers_the_whole_iteration(read_spans: ReadSpans) -> None:
    seen_inside: list[str | None] = []

    @track(type="retrieval")
    def search(query: str, limit: int) -> Iterator[str]:
        for i in range(limit):
            seen_inside.append(current_span_id())
            yield f"{query}-{i}"

    @track(entrypoint=True)
    def consume() -> list[str]:
        results = []
        for hit in search("tea", 3):
            results.append(hit)
            # between items the caller's span is current again, not the generator's
            seen_between.append(current_span_id())
        return results

    seen_between: list[str | None] = []
    assert consume() == ["tea-0", "tea-1", "tea-2"]
    root, gen = read_spans()
    assert gen.parent_id == root.id
    assert gen.input == {"query": "tea", "limit": 3}
    assert gen.output == ["tea-0", "tea-1", "tea-2"]
    assert gen.end_time <= root.end_time
    assert set(seen_inside) == {gen.id}
    assert set(seen_between) == {root.id}


def test_generator_send_return_value_and_early_close(read_spans: ReadSpans) -> None:
    @track
    def echo() -> Iterator[str]:
        received = yield "ready"
        while received is not None:
            received = yield f"got {received}"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("a") == "got a"
    gen.close()

    @track
    def counter() -> Iterator[int]:
        yield from range(1000)

    taken = []
    for n in counter():
        taken.append(n)
        if n == 4:
            break

    spans = {span.name: span for span in read_spans()}
    assert spans["echo"].output == ["ready", "got a"]
    assert spans["echo"].status == "ok"
    assert spans["counter"].output == [0, 1, 2, 3, 4]


def test_generator_exception_is_recorded(read_spans: ReadSpans) -> None:
    @track
    def flaky() -> Iterator[int]:
        yield 1
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        list(flaky())
    (span,) = read_spans()
    assert span.error is not None and span.error["message"] == "disk gone"


def test_generator_output_is_bounded(read_spans: ReadSpans) -> None:
    @track
    def many() -> Iterator[int]:
        yield from range(1500)

    assert sum(many()) == sum(range(1500))
    (span,) = read_spans()
    assert len(span.output) == 1001
    assert span.output[:3] == [0, 1, 2]
    assert span.output[-1] == {"__flywheel_truncated__": {"items_omitted": 500}}


def test_async_generator_span_and_nesting(read_spans: ReadSpans) -> None:
    @track(type="llm")
    async def tokens(prompt: str) -> AsyncIterator[str]:
        for word in prompt.split():
            await asyncio.sleep(0)
            yield await fetch(word)

    @track(entrypoint=True)
    async def chat() -> str:
        return " ".join([token async for token in tokens("hello brave world")])

    assert asyncio.run(chat()) == "HELLO BRAVE WORLD"
    spans = read_spans()
    root, stream = spans[0], spans[1]
    assert (root.name, stream.name) == ("chat", "tokens")
    assert stream.parent_id == root.id
    assert stream.output == ["HELLO", "BRAVE", "WORLD"]
    fetches = [span for span in spans if span.name == "fetch"]
    assert len(fetches) == 3 and all(span.parent_id == stream.id for span in fetches)


def test_async_generator_closed_early_and_failing(read_spans: ReadSpans) -> None:
    @track
    async def endless() -> AsyncIterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    @track
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise ValueError("bad page")

    async def main() -> None:
        agen = endless()
        assert [await agen.__anext__() for _ in range(3)] == [0, 1, 2]
        await agen.aclose()
        with pytest.raises(ValueError, match="bad page"):
            async for _ in failing():
                pass

    asyncio.run(main())
    spans = {span.name: span for span in read_spans()}
    assert spans["endless"].output == [0, 1, 2] and spans["endless"].status == "ok"
    assert spans["failing"].error is not None and spans["failing"].output is None


def test_exceptions_thrown_into_generators_reach_their_code(read_spans: ReadSpans) -> None:
    @track
    def resilient() -> Iterator[str]:
        try:
            yield "first"
        except KeyError:
            yield "recovered"

    @track
    async def resilient_async() -> AsyncIterator[str]:
        try:
            yield "first"
        except KeyError:
            yield "recovered"

    gen = resilient()
    assert next(gen) == "first"
    assert gen.throw(KeyError("x")) == "recovered"
    gen.close()

    async def main() -> str:
        agen = resilient_async()
        assert await agen.__anext__() == "first"
        recovered = await agen.athrow(KeyError("x"))
        await agen.aclose()
        return recovered

    assert asyncio.run(main()) == "recovered"
    sync_span, async_span = read_spans()
    assert sync_span.output == async_span.output == ["first", "recovered"]
    assert sync_span.error is None and async_span.error is None


def test_many_threads_tracing_at_once_lose_nothing(read_spans: ReadSpans, read_traces: Any) -> None:
    @track(type="tool")
    def leaf(worker: int, n: int) -> int:
        return worker * 1000 + n

    @track(entrypoint=True)
    def request(worker: int, n: int) -> int:
        return leaf(worker, n) + leaf(worker, n + 500)

    def work(worker: int) -> None:
        for n in range(200):
            request(worker, n)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    spans = read_spans()
    assert len(spans) == 8 * 200 * 3
    assert len({span.id for span in spans}) == len(spans)
    traces = read_traces()
    assert len(traces) == 8 * 200 and {trace.span_count for trace in traces} == {3}
    by_id = {span.id: span for span in spans}
    for span in spans:
        if span.parent_id is not None:
            parent = by_id[span.parent_id]
            assert parent.trace_id == span.trace_id and parent.input["worker"] == span.input["worker"]
