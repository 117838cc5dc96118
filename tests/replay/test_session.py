"""Matching, misses, the judge's bypass and secret headers, through the real Anthropic SDK."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import pytest
import yaml

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import CassetteMissError, replay_case, write_case_cassette
from pytest_flywheel.replay.matching import first_difference, json_equal
from pytest_flywheel.testing import ErrorReply, MessagesAPIServer, text_message

from .spans import ask, llm_span

CLOSED = "http://127.0.0.1:9"
FAKE_KEY = "sk-ant\x2dapi03-FAKEfakeFAKE_0123456789-abcdef"
COOKIE = "session=c00kie-value-42"


def sdk(base_url: str = CLOSED, *, max_retries: int = 0, **options: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=base_url, max_retries=max_retries, **options)  # type: ignore[arg-type]


@pytest.fixture
def cassette(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``case.yaml`` in the working directory: "Where is W1?" -> "Monday", "thanks" -> "welcome"."""
    monkeypatch.chdir(tmp_path)
    spans = [
        llm_span(ask("Where is W1?"), text_message("Monday")),
        llm_span(ask("thanks"), text_message("welcome")),
    ]
    return write_case_cassette(spans, tmp_path / "case.yaml", redactor=Redactor())


# -- matching --------------------------------------------------------------------------------------


def test_json_bodies_match_as_data_whatever_their_key_order_and_whitespace(cassette: Path) -> None:
    data = yaml.safe_load(cassette.read_text())
    for interaction in data["interactions"]:
        body = json.loads(interaction["request"]["body"])
        reordered = dict(reversed(list(body.items())))
        interaction["request"]["body"] = json.dumps(reordered, indent=4)
    cassette.write_text(yaml.safe_dump(data))
    with replay_case(cassette) as session:
        message = sdk().messages.create(**ask("Where is W1?"))
    session.raise_for_miss()
    assert message.content[0].type == "text" and message.content[0].text == "Monday"


def test_json_equality_is_by_value_but_never_confuses_booleans_and_numbers() -> None:
    assert json_equal({"a": 1, "b": [1.0, "x"]}, {"b": [1, "x"], "a": 1.0})
    assert not json_equal({"stream": True}, {"stream": 1})
    assert json_equal({"a": None, "b": [{"c": None}]}, {"b": [{}]})  # null counts as absent
    assert not json_equal([None], [])
    assert (
        first_difference({"m": [{"c": "new"}]}, {"m": [{"c": "old"}]}) == 'm[0].c: "new" here, "old" recorded'
    )
    assert first_difference({"a": 1}, {"a": 1, "b": 2}) == "b: (absent) here, 2 recorded"


def test_identical_requests_play_their_recorded_responses_in_order(tmp_path: Path) -> None:
    spans = [llm_span(ask("again"), text_message("first")), llm_span(ask("again"), text_message("second"))]
    path = write_case_cassette(spans, tmp_path / "c.yaml", redactor=Redactor())
    with replay_case(path) as session:
        answers = [sdk().messages.create(**ask("again")).content[0] for _ in range(2)]
    session.raise_for_miss()
    assert [block.text for block in answers if block.type == "text"] == ["first", "second"]


# -- misses ----------------------------------------------------------------------------------------


def test_a_changed_request_is_a_miss_naming_it_the_difference_and_the_fix(cassette: Path) -> None:
    with replay_case(cassette) as session:
        with pytest.raises(CassetteMissError) as raised:
            sdk(max_retries=5).messages.create(**ask("Where is W2?"))
    # The SDK neither wrapped it into an APIConnectionError nor retried it.
    assert not isinstance(raised.value, anthropic.APIConnectionError)
    assert len(session.misses) == 1
    with pytest.raises(CassetteMissError) as caught:
        session.raise_for_miss()
    assert str(caught.value) == (
        "The cassette case.yaml holds no response to POST http://127.0.0.1:9/v1/messages "
        '(model claude-sonnet-5-5, last user message: "Where is W2?").\n'
        "The closest recorded request (interaction 1 of 2) differs at messages[0].content: "
        '"Where is W2?" here, "Where is W1?" recorded.\n'
        "Record mode 'none' does not record new requests; if the request changed on purpose, run once with "
        "--flywheel-record=new_episodes to record it, or with --flywheel-record=rewrite to record the case "
        "afresh when the prompt changed for good."
    )
    assert (caught.value.kind, caught.value.fix, caught.value.record_mode) == (
        "request",
        "new_episodes",
        "none",
    )


def test_a_request_made_more_often_than_recorded_is_a_miss_that_says_so(cassette: Path) -> None:
    with replay_case(cassette) as session:
        sdk().messages.create(**ask("thanks"))
        with pytest.raises(CassetteMissError):
            sdk().messages.create(**ask("thanks", stream=True))
        with pytest.raises(CassetteMissError):
            sdk().messages.create(**ask("thanks"))
    with pytest.raises(CassetteMissError) as caught:
        session.raise_for_miss()
    message = str(caught.value)
    assert message.startswith(
        "The cassette case.yaml holds no response to POST http://127.0.0.1:9/v1/messages"
    )
    assert "(model claude-sonnet-5-5, streamed, last user message" in message
    assert message.endswith("\n(1 more miss followed this one.)")
    assert str(session.misses[1]) == (
        "The cassette case.yaml has already played back every recorded response to POST "
        'http://127.0.0.1:9/v1/messages (model claude-sonnet-5-5, last user message: "thanks"): the agent made '
        "this request more often than when the case was recorded.\n"
        "Record mode 'none' does not record new requests; run once with --flywheel-record=new_episodes to "
        "record the extra request."
    )


def test_a_missing_cassette_in_none_mode_is_a_miss_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with replay_case(Path("cassettes/absent.yaml")) as session:
        with pytest.raises(CassetteMissError):
            sdk().messages.create(**ask("hello"))
    assert str(session.misses[0]) == (
        "The cassette cassettes/absent.yaml does not exist, so there is nothing to replay for POST "
        'http://127.0.0.1:9/v1/messages (model claude-sonnet-5-5, last user message: "hello").\n'
        "Record mode 'none' does not record; run once with --flywheel-record=once to record the cassette, "
        "or check the case's cassette path."
    )
    assert session.misses[0].fix == "once"
    assert not (tmp_path / "cassettes").exists()


def test_the_last_user_message_of_a_tool_loop_is_summarised(cassette: Path) -> None:
    kwargs = ask("Where is W1?")
    kwargs["messages"] += [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "shipped"}],
        },
    ]
    with replay_case(cassette) as session:
        with pytest.raises(CassetteMissError):
            sdk().messages.create(**kwargs)
    assert 'last user message: "tool_result for toolu_1: shipped")' in str(session.misses[0])


# -- the judge's bypass ----------------------------------------------------------------------------


def test_judge_requests_pass_through_a_none_mode_session_and_are_never_written(
    cassette: Path, messages_api: MessagesAPIServer
) -> None:
    before = cassette.read_bytes()
    messages_api.queue(text_message('{"verdicts": []}'))
    with replay_case(cassette) as session:
        judge = sdk(messages_api.base_url, default_headers={"x-flywheel-judge": "1"})
        reply = judge.messages.create(**ask("JUDGE: does the answer say Monday?"))
        agent = sdk().messages.create(**ask("Where is W1?"))
    session.raise_for_miss()
    assert reply.content[0].type == "text" and reply.content[0].text == '{"verdicts": []}'
    assert agent.content[0].type == "text" and agent.content[0].text == "Monday"
    assert len(messages_api.requests) == 1
    assert messages_api.requests[0].headers["x-flywheel-judge"] == "1"
    assert cassette.read_bytes() == before


def test_judge_requests_are_not_recorded_in_a_recording_mode(
    tmp_path: Path, messages_api: MessagesAPIServer
) -> None:
    path = tmp_path / "c.yaml"
    messages_api.queue(text_message("agent answer"), text_message("judge answer"))
    with replay_case(path, record_mode="new_episodes") as session:
        sdk(messages_api.base_url).messages.create(**ask("agent question"))
        sdk(messages_api.base_url, default_headers={"x-flywheel-judge": "1"}).messages.create(**ask("JUDGE"))
    session.raise_for_miss()
    text = path.read_text()
    assert "agent question" in text and "JUDGE" not in text and "judge answer" not in text


# -- secrets ---------------------------------------------------------------------------------------


def test_no_secret_header_value_reaches_a_recorded_cassette(
    tmp_path: Path, messages_api: MessagesAPIServer
) -> None:
    path = tmp_path / "c.yaml"
    response_secrets = {
        "set-cookie": "sid=RESPONSE-COOKIE-1; HttpOnly",
        "anthropic-organization-id": "org-0b1c2d3e-ORGANISATION",
        "x-upstream-token": "UPSTREAM-TOKEN-9",
    }
    messages_api.queue(
        text_message("fine"), ErrorReply(400, "invalid_request_error", "bad", headers=response_secrets)
    )
    client = anthropic.Anthropic(
        api_key=FAKE_KEY,
        base_url=messages_api.base_url,
        max_retries=0,
        default_headers={
            "cookie": COOKIE,
            "x-api-key": FAKE_KEY,
            "proxy-authorization": "Basic UFJPWFktU0VDUkVU",
            "x-custom-secret": "CUSTOM-SECRET-7",
        },
    )
    with replay_case(path, record_mode="once") as session:
        client.messages.create(**ask("first"))
        with pytest.raises(anthropic.BadRequestError):
            client.messages.create(**ask("second"))
    session.raise_for_miss()
    sent = messages_api.requests[0].headers
    assert sent["authorization"] == f"Bearer {FAKE_KEY}" and sent["cookie"] == COOKIE  # they were really sent
    text = path.read_text()
    secrets = [
        FAKE_KEY,
        "sk-ant-",
        COOKIE,
        "c00kie",
        "UFJPWFktU0VDUkVU",
        "CUSTOM-SECRET-7",
        *response_secrets.values(),
    ]
    assert [secret for secret in secrets if secret in text] == []
    data = yaml.safe_load(text)
    request_headers = data["interactions"][0]["request"]["headers"]
    assert request_headers["authorization"] == ["[REDACTED]"] and request_headers["cookie"] == ["[REDACTED]"]
    assert data["interactions"][1]["response"]["headers"]["set-cookie"] == ["[REDACTED]"]


def test_the_closest_recorded_request_is_the_most_alike_not_the_first(cassette: Path) -> None:
    with replay_case(cassette) as session:
        with pytest.raises(CassetteMissError):
            sdk().messages.create(**ask("thanks!"))
    assert 'differs at messages[0].content: "thanks!" here, "thanks" recorded.' in str(session.misses[0])
