"""Replay's own answer to a recorded request (``flywheel_answer``), ahead of vcrpy's stub: it must
match exactly what vcrpy's matchers match, play and count what vcrpy would, and leave to vcrpy every
request it does not answer (misses and recordings)."""

from __future__ import annotations

import functools
import itertools
import types
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from vcr.matchers import requests_match
from vcr.request import Request
from vcr.stubs import httpx_stubs

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import CassetteMissError, _vcrpy, replay_case, write_case_cassette
from pytest_flywheel.replay.matching import RequestKey
from pytest_flywheel.replay.session import _MATCH_ON
from pytest_flywheel.testing import MessagesAPIServer, text_message
from pytest_flywheel.testing.messages_api import ErrorReply

from .spans import ask, llm_span

CLOSED = "http://127.0.0.1:9"

URIS = [
    "https://api.anthropic.com/v1/messages",
    "http://127.0.0.1:9/v1/messages",
    "http://proxy.internal/prefix/v1/messages",
    "https://api.anthropic.com/v1/messages?beta=true",
    "https://api.anthropic.com/v1/messages?b=2&a=1",
    "https://api.anthropic.com/v1/messages?a=1&b=2&beta=true",
    "https://api.anthropic.com/v1/messages?a=",
    "https://api.anthropic.com/v1/messages/count_tokens",
    "https://api.anthropic.com/other",
    "https://api.anthropic.com/",
]
BODIES: list[Any] = [
    None,
    b"",
    b'{"model": "m", "max_tokens": 5}',
    b'{"max_tokens":5,"model":"m"}',
    b'{"max_tokens": 5.0, "model": "m"}',
    b'{"max_tokens": true, "model": "m"}',
    b'{"max_tokens": 5, "model": "m", "system": null}',
    b'{"max_tokens": 5, "model": "other"}',
    '{"model": "m", "max_tokens": 5}',
    b"[1, 2]",
    b"[1, 2.0]",
    b"not json",
    "not json",
    b"\xff\xfe binary",
]


def vcrpy_says(method: tuple[str, str], uri: tuple[str, str], body: tuple[Any, Any]) -> bool:
    live, recorded = Request(method[0], uri[0], body[0], {}), Request(method[1], uri[1], body[1], {})
    return bool(requests_match(live, recorded, _MATCH_ON))


def test_request_keys_match_exactly_when_vcrpy_s_matchers_do() -> None:
    pairs = itertools.product(
        itertools.product(["POST", "GET"], repeat=2),
        itertools.product(URIS, repeat=2),
        itertools.product(BODIES, repeat=2),
    )
    checked = agreed_matches = 0
    for method, uri, body in pairs:
        if method[0] != method[1] and uri[0] != uri[1]:
            continue  # (the method check alone decides these; keeps the grid small)
        ours = RequestKey(method[0], uri[0], body[0]).matches(RequestKey(method[1], uri[1], body[1]))
        assert ours == vcrpy_says(method, uri, body), (method, uri, body)
        checked += 1
        agreed_matches += ours
    # Both answers occur often: the grid is not all misses (or all matches).
    assert checked > 10_000 and 500 < agreed_matches < checked // 2


def sdk(base_url: str = CLOSED) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=base_url, max_retries=0)


@pytest.fixture
def vcrpy_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests that reach vcrpy's own httpx stub (by URI)."""
    seen: list[str] = []
    real = httpx_stubs._vcr_request

    @functools.wraps(real)
    def counting(cassette: Any, real_request: Any, body: bytes, httpx: Any) -> Any:
        seen.append(str(real_request.url))
        return real(cassette, real_request, body, httpx)

    monkeypatch.setattr(httpx_stubs, "_vcr_request", counting)
    return seen


def test_a_recorded_request_is_answered_and_counted_without_vcrpy_s_stub(
    tmp_path: Path, vcrpy_requests: list[str]
) -> None:
    spans = [llm_span(ask("again"), text_message("first")), llm_span(ask("again"), text_message("second"))]
    path = write_case_cassette(spans, tmp_path / "c.yaml", redactor=Redactor())
    with replay_case(path) as session:
        texts = [sdk().messages.create(**ask("again")).content[0] for _ in range(2)]
        assert session.http_played == 2 and session.unplayed["http"] == 0
        with pytest.raises(CassetteMissError):  # a third time: vcrpy's stub refuses it, as a miss
            sdk().messages.create(**ask("again"))
    assert [block.text for block in texts if block.type == "text"] == ["first", "second"]
    assert vcrpy_requests == [f"{CLOSED}/v1/messages"]
    assert "has already played back every recorded response" in str(session.misses[0])


def test_a_replayed_error_response_keeps_its_status_and_body(tmp_path: Path) -> None:
    path = tmp_path / "error.yaml"
    with MessagesAPIServer() as server:
        server.queue(ErrorReply(400, "invalid_request_error", "max_tokens: too big"))
        with replay_case(path, record_mode="once"), pytest.raises(anthropic.BadRequestError):
            sdk(server.base_url).messages.create(**ask("too much"))
    with replay_case(path) as session, pytest.raises(anthropic.BadRequestError) as raised:
        sdk().messages.create(**ask("too much"))
    assert raised.value.status_code == 400 and "max_tokens: too big" in str(raised.value)
    assert session.misses == [] and session.http_played == 1


def test_new_episodes_plays_what_is_recorded_and_records_the_rest_through_vcrpy(
    tmp_path: Path, vcrpy_requests: list[str]
) -> None:
    path = write_case_cassette(
        [llm_span(ask("old question"), text_message("old answer"))], tmp_path / "c.yaml", redactor=Redactor()
    )
    with MessagesAPIServer() as server:
        server.queue(text_message("new answer"))
        with replay_case(path, record_mode="new_episodes") as session:
            client = sdk(server.base_url)
            old = client.messages.create(**ask("old question")).content[0]
            new = client.messages.create(**ask("new question")).content[0]
        assert len(server.message_requests) == 1  # only the new question reached the server
    assert (old.type, new.type) == ("text", "text")
    assert (getattr(old, "text", None), getattr(new, "text", None)) == ("old answer", "new answer")
    assert session.http_interactions == 2 and session.http_played == 1
    assert len(vcrpy_requests) == 1
    with replay_case(path) as again:  # both are in the file now, in the order they were asked
        answers = [
            sdk().messages.create(**ask(question)).content[0] for question in ("old question", "new question")
        ]
    again.raise_for_miss()
    assert [getattr(block, "text", None) for block in answers] == ["old answer", "new answer"]


def test_an_async_client_is_answered_from_the_cassette_too(tmp_path: Path, vcrpy_requests: list[str]) -> None:
    import asyncio

    path = write_case_cassette(
        [llm_span(ask("async?"), text_message("async answer"))], tmp_path / "c.yaml", redactor=Redactor()
    )

    async def ask_async() -> Any:
        async with anthropic.AsyncAnthropic(api_key="test-key", base_url=CLOSED, max_retries=0) as client:
            return (await client.messages.create(**ask("async?"))).content[0]

    with replay_case(path) as session:
        block = asyncio.run(ask_async())
    assert getattr(block, "text", None) == "async answer" and session.http_played == 1
    assert vcrpy_requests == []


def test_only_httpx_transport_methods_get_the_short_cut() -> None:
    def handle_request(self: Any, request: Any) -> Any:  # named like httpx's, but from elsewhere
        return None

    @functools.wraps(handle_request)
    def stub(self: Any, request: Any) -> Any:
        return None

    def patcher(new: Any) -> Any:
        return types.SimpleNamespace(new=new)

    assert _vcrpy.httpx_transport_stub(patcher(stub)) is None  # this test module is not httpx

    @functools.wraps(httpx2.HTTPTransport.handle_request)
    def httpx_stub(self: Any, request: Any) -> Any:
        return None

    assert _vcrpy.httpx_transport_stub(patcher(httpx_stub)) == (httpx_stub, httpx2.HTTPTransport.handle_request)
    assert _vcrpy.httpx_transport_stub(patcher(httpx2.HTTPTransport.handle_request)) is None  # not a stub
