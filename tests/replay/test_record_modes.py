"""Each record mode, through the real Anthropic SDK against the loopback Messages API."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import pytest
import yaml

from pytest_flywheel import track_anthropic
from pytest_flywheel.replay import CassetteMissError, replay_case
from pytest_flywheel.replay.cassette_file import CassetteFormatError
from pytest_flywheel.replay.errors import RecordingError
from pytest_flywheel.replay.modes import RecordModeError
from pytest_flywheel.testing import MessagesAPIServer, text_message

CLOSED = "http://127.0.0.1:9"


def ask(base_url: str, text: str, *, max_retries: int = 0) -> str:
    client = anthropic.Anthropic(api_key="test-key", base_url=base_url, max_retries=max_retries)
    message = client.messages.create(
        model="claude-sonnet-5-5", max_tokens=64, messages=[{"role": "user", "content": text}]
    )
    block = message.content[0]
    assert block.type == "text"
    return block.text


def recorded_questions(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    return [json.loads(item["request"]["body"])["messages"][0]["content"] for item in data["interactions"]]


def recorded_answers(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    return [
        json.loads(item["response"]["body"]["string"])["content"][0]["text"] for item in data["interactions"]
    ]


@pytest.fixture
def recorded(tmp_path: Path, messages_api: MessagesAPIServer) -> Path:
    """A cassette holding "one" -> "1" and "two" -> "2", recorded in ``once`` mode."""
    path = tmp_path / "case.yaml"
    messages_api.queue(text_message("1"), text_message("2"))
    with replay_case(path, record_mode="once") as session:
        assert ask(messages_api.base_url, "one") == "1"
        assert ask(messages_api.base_url, "two") == "2"
    session.raise_for_miss()
    assert len(messages_api.requests) == 2
    return path


def test_once_records_a_missing_cassette_and_none_replays_it_offline(recorded: Path) -> None:
    assert recorded_questions(recorded) == ["one", "two"]
    with replay_case(recorded) as session:
        assert [ask(CLOSED, "one"), ask(CLOSED, "two")] == ["1", "2"]
    session.raise_for_miss()
    assert session.http_played == 2


def test_none_never_writes_even_after_a_miss(recorded: Path) -> None:
    before = recorded.read_bytes()
    with replay_case(recorded, record_mode="none") as session:
        with pytest.raises(CassetteMissError):
            ask(CLOSED, "three")
    assert recorded.read_bytes() == before
    assert [miss.kind for miss in session.misses] == ["request"]


def test_once_does_not_add_to_an_existing_cassette(recorded: Path, messages_api: MessagesAPIServer) -> None:
    before = recorded.read_bytes()
    with replay_case(recorded, record_mode="once"):
        assert ask(CLOSED, "one") == "1"
        with pytest.raises(CassetteMissError, match="Record mode 'once' does not record new requests into a"):
            ask(messages_api.base_url, "three")
    assert recorded.read_bytes() == before
    assert len(messages_api.requests) == 2  # the miss never reached the server


def test_new_episodes_replays_what_it_has_and_records_the_rest(
    recorded: Path, messages_api: MessagesAPIServer
) -> None:
    messages_api.queue(text_message("3"))
    with replay_case(recorded, record_mode="new_episodes") as session:
        assert ask(messages_api.base_url, "two") == "2"  # from the cassette
        assert ask(messages_api.base_url, "three") == "3"  # from the server
    session.raise_for_miss()
    assert len(messages_api.requests) == 3
    assert recorded_questions(recorded) == ["one", "two", "three"]


def test_all_calls_everything_again_and_keeps_what_it_did_not_redo(
    recorded: Path, messages_api: MessagesAPIServer
) -> None:
    messages_api.queue(text_message("1 again"))
    with replay_case(recorded, record_mode="all") as session:
        assert ask(messages_api.base_url, "one") == "1 again"
    session.raise_for_miss()
    assert recorded_questions(recorded) == ["two", "one"]
    assert recorded_answers(recorded) == ["2", "1 again"]


def rewrite_and_check(recorded: Path, messages_api: MessagesAPIServer) -> None:
    """Record the case afresh (one question asked again) and check the cassette holds only that."""
    messages_api.queue(text_message("1 again"))
    with replay_case(recorded, record_mode="rewrite") as session:
        assert ask(messages_api.base_url, "one") == "1 again"
    session.raise_for_miss()
    assert recorded_questions(recorded) == ["one"]
    assert recorded_answers(recorded) == ["1 again"]


def test_rewrite_keeps_only_this_runs_interactions(recorded: Path, messages_api: MessagesAPIServer) -> None:
    rewrite_and_check(recorded, messages_api)


def test_rewrite_with_no_calls_empties_the_cassette(recorded: Path) -> None:
    with replay_case(recorded, record_mode="rewrite"):
        pass
    assert yaml.safe_load(recorded.read_text())["interactions"] == []


def test_rewrite_records_over_a_cut_short_cassette(recorded: Path, messages_api: MessagesAPIServer) -> None:
    """A cassette that no longer parses says "record the cassette again (--flywheel-record=rewrite)", so
    a rewrite must record the case afresh without reading the old file; new_episodes still refuses it."""
    text = recorded.read_text()
    recorded.write_text(text[: text.index("two")])
    with pytest.raises(CassetteFormatError, match=r"--flywheel-record=rewrite"):
        with replay_case(recorded, record_mode="new_episodes"):
            pass
    rewrite_and_check(recorded, messages_api)


def test_an_unknown_record_mode_is_refused() -> None:
    with pytest.raises(RecordModeError, match="Record mode 'sometimes' is not one of none, once"):
        replay_case(Path("x.yaml"), record_mode="sometimes")


def test_a_base_url_with_a_path_prefix_replays_the_same_cassette(recorded: Path) -> None:
    with replay_case(recorded) as session:
        assert ask("http://127.0.0.1:9/gateway/anthropic", "two") == "2"
    session.raise_for_miss()


def test_a_traced_client_built_without_a_key_replays_and_nothing_process_wide_changes(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import threading

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = track_anthropic(anthropic.Anthropic(base_url=CLOSED, max_retries=0))  # built "at import"
    seen_in_another_thread: list[str | None] = []
    environment_before = dict(os.environ)

    def ask_traced(text: str) -> str:
        block = client.messages.create(
            model="claude-sonnet-5-5", max_tokens=64, messages=[{"role": "user", "content": text}]
        ).content[0]
        assert block.type == "text"
        return block.text

    with replay_case(recorded) as session:
        assert ask_traced("one") == "1"
        assert dict(os.environ) == environment_before  # no placeholder key, no other change
        other = threading.Thread(target=lambda: seen_in_another_thread.append(os.environ.get("ANTHROPIC_API_KEY")))
        other.start()
        other.join()
    session.raise_for_miss()
    assert seen_in_another_thread == [None]
    assert dict(os.environ) == environment_before


def test_an_untraced_client_without_a_key_still_gets_the_sdk_s_own_error(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    plain = anthropic.Anthropic(base_url=CLOSED, max_retries=0)
    with pytest.raises(TypeError, match="authentication method"), replay_case(recorded):
        plain.messages.create(model="claude-sonnet-5-5", max_tokens=64, messages=[{"role": "user", "content": "one"}])


def test_recording_with_no_key_is_one_clear_error_and_sends_nothing(
    recorded: Path, monkeypatch: pytest.MonkeyPatch, messages_api: MessagesAPIServer
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = track_anthropic(anthropic.Anthropic(base_url=messages_api.base_url, max_retries=3))
    before, sent_before = recorded.read_text(), len(messages_api.requests)  # the fixture recorded two
    with replay_case(recorded, record_mode="new_episodes") as session:
        # a recorded request still replays in new_episodes ...
        first = client.messages.create(
            model="claude-sonnet-5-5", max_tokens=64, messages=[{"role": "user", "content": "one"}]
        )
        assert first.content[0].text == "1"  # type: ignore[union-attr]
        # ... and a new one, which must go to the API, is refused before it is sent: no retries
        with pytest.raises(RecordingError):
            client.messages.create(
                model="claude-sonnet-5-5", max_tokens=64, messages=[{"role": "user", "content": "three"}]
            )
    with pytest.raises(RecordingError) as raised:
        session.raise_for_miss()
    assert raised.value.kind == "no_key"
    message = str(raised.value)
    assert "needs an Anthropic API key" in message and "ANTHROPIC_API_KEY" in message
    assert "--flywheel-record=none" in message and "\n" not in message
    # and where the request differs from the cassette, as a miss in replay says (a stranger's run)
    assert "the request is not in the cassette (cassette miss at messages[0].content: " in message
    assert len(messages_api.requests) == sent_before
    assert recorded.read_text() == before
