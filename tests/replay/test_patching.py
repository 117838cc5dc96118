"""vcrpy's transport patches, owned by a ``TransportPatches``: each session answers from its own
cassette, nothing is patched once the last session closes and no hold is left, and files are read
anew. Every test runs both ways, the fast path and vcrpy's public context manager: same results."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2
import pytest
from vcr import patch as vcr_patch

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import CassetteMissError, replay_case, write_case_cassette
from pytest_flywheel.replay.cassette_file import CassetteFormatError
from pytest_flywheel.replay.transport import TransportPatches
from pytest_flywheel.testing import MessagesAPIServer, text_message

from .spans import ask, llm_span

CLOSED = "http://127.0.0.1:9"
# What vcrpy saved of httpx2's transports when it was imported: the real methods.
REAL_HANDLE_REQUEST = vcr_patch._Httpx2HttpTransport_handle_request
REAL_HANDLE_ASYNC_REQUEST = vcr_patch._Httpx2AsyncHttpTransport_handle_async_request


def sdk(base_url: str = CLOSED) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=base_url, max_retries=0)


def reply_to(client: anthropic.Anthropic, question: str) -> str:
    block = client.messages.create(**ask(question)).content[0]
    assert block.type == "text"
    return block.text


def transports_are_real() -> bool:
    return (
        httpx2.HTTPTransport.handle_request is REAL_HANDLE_REQUEST
        and httpx2.AsyncHTTPTransport.handle_async_request is REAL_HANDLE_ASYNC_REQUEST
    )


@pytest.fixture
def cassettes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """``a.yaml`` answers "Where is A?" with "Alpha", ``b.yaml`` "Where is B?" with "Bravo"."""
    monkeypatch.chdir(tmp_path)
    first = write_case_cassette(
        [llm_span(ask("Where is A?"), text_message("Alpha"))], tmp_path / "a.yaml", redactor=Redactor()
    )
    second = write_case_cassette(
        [llm_span(ask("Where is B?"), text_message("Bravo"))], tmp_path / "b.yaml", redactor=Redactor()
    )
    return first, second


@pytest.fixture(params=["fast", "public"])
def patches(request: pytest.FixtureRequest) -> Iterator[TransportPatches]:
    """The session's transport patches, the fast way or vcrpy's public way, held like the plugin
    holds them while suite cases run."""
    owned = TransportPatches(fast=request.param == "fast")
    assert owned.fast == (request.param == "fast")
    owned.hold()
    try:
        yield owned
    finally:
        owned.release()
    assert transports_are_real() and not owned.installed


def test_a_session_on_its_own_patches_the_transports_only_while_it_is_open(
    cassettes: tuple[Path, Path],
) -> None:
    assert transports_are_real()
    with replay_case(cassettes[0]) as session:
        assert not transports_are_real()
        assert reply_to(sdk(), "Where is A?") == "Alpha"
    session.raise_for_miss()
    assert transports_are_real()


def test_patches_held_across_sessions_still_answer_each_from_its_own_cassette(
    cassettes: tuple[Path, Path], patches: TransportPatches
) -> None:
    first, second = cassettes
    with replay_case(first, patches=patches) as one:
        assert reply_to(sdk(), "Where is A?") == "Alpha"
    # the fast path keeps its patches in between sessions; the public one takes them out
    assert patches.installed == patches.fast and transports_are_real() != patches.fast
    with replay_case(second, patches=patches) as two:
        assert reply_to(sdk(), "Where is B?") == "Bravo"
        with pytest.raises(CassetteMissError):
            sdk().messages.create(**ask("Where is A?"))  # the first cassette's request, not this one's
    one.raise_for_miss()
    with pytest.raises(CassetteMissError) as missed:
        two.raise_for_miss()
    assert str(missed.value).startswith("The cassette b.yaml holds no response to POST")
    assert 'differs at messages[0].content: "Where is A?" here, "Where is B?" recorded' in str(missed.value)
    assert (one.http_played, two.http_played) == (1, 1)
    assert one.misses == []


def test_between_held_sessions_requests_reach_the_real_server_and_are_recorded_nowhere(
    cassettes: tuple[Path, Path], patches: TransportPatches
) -> None:
    first, second = cassettes
    before = (first.read_text(), second.read_text())
    with replay_case(first, record_mode="new_episodes", patches=patches):
        reply_to(sdk(), "Where is A?")
    with MessagesAPIServer() as server:
        server.queue(text_message("live answer"))
        assert reply_to(sdk(server.base_url), "anything") == "live answer"
        assert len(server.message_requests) == 1
    with replay_case(second, record_mode="new_episodes", patches=patches):
        reply_to(sdk(), "Where is B?")
    assert (first.read_text(), second.read_text()) == before


def test_releasing_the_hold_inside_a_session_leaves_the_patches_until_it_closes(
    cassettes: tuple[Path, Path], patches: TransportPatches
) -> None:
    with replay_case(cassettes[0], patches=patches):
        patches.release()
        patches.release()  # a second release counts for nothing
        assert reply_to(sdk(), "Where is A?") == "Alpha"
    assert transports_are_real() and not patches.installed


def test_a_cassette_that_cannot_be_loaded_leaves_nothing_patched(tmp_path: Path, patches: TransportPatches) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("interactions: [unclosed\n")
    with pytest.raises(CassetteFormatError):
        with replay_case(broken, patches=patches):
            pass  # pragma: no cover - the session never opens
    patches.release()
    assert transports_are_real() and not patches.installed


def test_a_cassette_edited_between_sessions_is_read_again(
    cassettes: tuple[Path, Path], patches: TransportPatches
) -> None:
    first = cassettes[0]
    with replay_case(first, patches=patches):
        assert reply_to(sdk(), "Where is A?") == "Alpha"
    first.write_text(first.read_text().replace("Alpha", "Alpine"))
    with replay_case(first, patches=patches) as again:
        assert reply_to(sdk(), "Where is A?") == "Alpine"
    again.raise_for_miss()


def test_a_request_is_matched_as_recorded_when_vcrpy_filters_it_several_times(
    cassettes: tuple[Path, Path], patches: TransportPatches
) -> None:
    """The same question asked twice, recorded once: the second ask is a miss (played already)."""
    with replay_case(cassettes[0], patches=patches) as session:
        assert reply_to(sdk(), "Where is A?") == "Alpha"
        with pytest.raises(CassetteMissError):
            sdk().messages.create(**ask("Where is A?"))
    assert session.misses[0].kind == "request"
    assert "has already played back every recorded response" in str(session.misses[0])


def test_a_closed_session_and_its_cassette_are_freed_without_the_cycle_collector(
    cassettes: tuple[Path, Path],
) -> None:
    import gc
    import weakref

    gc.collect()
    gc.disable()
    try:
        with replay_case(cassettes[0]) as session:
            assert reply_to(sdk(), "Where is A?") == "Alpha"
        assert session.http_played == 1 and session.unplayed == {"http": 0, "tools": 0}  # counts stay
        freed = [weakref.ref(session), weakref.ref(session.vcr_cassette)]
        del session
        assert [ref() for ref in freed] == [None, None]
    finally:
        gc.enable()


def test_async_requests_replay_in_held_sessions_and_reach_the_server_between_them(
    cassettes: tuple[Path, Path], patches: TransportPatches
) -> None:
    import asyncio

    async def ask_async(base_url: str, question: str) -> str:
        async with anthropic.AsyncAnthropic(api_key="test-key", base_url=base_url, max_retries=0) as client:
            message = await client.messages.create(**ask(question))
        block = message.content[0]
        assert block.type == "text"
        return block.text

    with replay_case(cassettes[0], patches=patches):
        assert asyncio.run(ask_async(CLOSED, "Where is A?")) == "Alpha"
    with MessagesAPIServer() as server:
        server.queue(text_message("live async answer"))
        assert asyncio.run(ask_async(server.base_url, "anything")) == "live async answer"
    with replay_case(cassettes[1], patches=patches):
        assert asyncio.run(ask_async(CLOSED, "Where is B?")) == "Bravo"


class CountingRedactor(Redactor):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes | str] = []

    def body(self, body):  # type: ignore[no-untyped-def,override]
        self.bodies.append(body)
        return super().body(body)


def test_a_secret_in_a_request_body_is_recorded_redacted_and_replays_each_body_redacted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patches: TransportPatches
) -> None:
    monkeypatch.chdir(tmp_path)
    secret = "sk-ant\x2dapi03-FAKEfakeFAKE_0123456789-abcdef"
    path = tmp_path / "secret.yaml"
    with MessagesAPIServer() as server:
        server.queue(text_message("noted"))
        with replay_case(path, record_mode="once", patches=patches):
            assert reply_to(sdk(server.base_url), f"my key is {secret}") == "noted"
    text = path.read_text()
    assert secret not in text and "[REDACTED]" in text

    redactor = CountingRedactor()
    with replay_case(path, redactor=redactor, patches=patches) as session:
        assert reply_to(sdk(), f"my key is {secret}") == "noted"
    session.raise_for_miss()
    request_bodies = [body for body in redactor.bodies if isinstance(body, bytes) and b'"messages"' in body]
    # One for the recorded request, one for the live one; vcrpy's further passes are remembered.
    assert len(request_bodies) == 2
    assert sum(1 for body in request_bodies if isinstance(body, bytes) and secret.encode() in body) == 1
