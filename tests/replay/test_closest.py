"""The closest recorded request to a missed one: the structural finder against the way it replaced.

Until the finder, a miss asked vcrpy's ``find_requests_with_most_matches`` and took the recorded
request whose canonical JSON body was most alike by ``difflib.SequenceMatcher`` (``similarity``).
That stays the reference here: on the changes an agent's requests go through (a prompt edit, a tool
changed, a parameter, a message, a tool result, a history cut short) the finder must pick the same
recorded request. The reference is quadratic in the bodies' length, so these conversations are short;
``benchmarks/miss_diagnostics.py`` checks the same on 40-turn ones.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from vcr.cassette import Cassette
from vcr.request import Request

from pytest_flywheel.replay.cassette_file import load_cassette_data
from pytest_flywheel.replay.closest import (
    closeness,
    closest_request,
    common_prefix,
    common_suffix,
    diagnose,
)
from pytest_flywheel.replay.matching import (
    ABSENT,
    MAX_DEPTH,
    RequestKey,
    find_difference,
    first_difference,
    json_equal,
    similarity,
)
from pytest_flywheel.replay.session import _MATCH_ON

from .conversations import conversation, retail_data

URI = "https://api.anthropic.com/v1/messages"
LIVE_URI = "http://127.0.0.1:9/v1/messages"
Body = dict[str, Any]


def todays_pick(recorded: list[tuple[str, str, bytes]], live: tuple[str, str, bytes]) -> int | None:
    """The closest recorded request as ``_request_missed`` found it before the finder: vcrpy's most
    matching requests, then the most alike body by SequenceMatcher, the first on a tie."""
    cassette = Cassette("reference.yaml", match_on=_MATCH_ON)
    for method, uri, body in recorded:
        cassette.data.append((Request(method, uri, body, {}), {"status": {"code": 200}}))
    request = Request(live[0], live[1], live[2], {})
    similar = cassette.find_requests_with_most_matches(request)
    if not similar:
        return None
    chosen = max(similar, key=lambda item: similarity(request.body, item[0].body))[0]
    return next(index for index, (stored, _) in enumerate(cassette.data) if stored is chosen)


def structural_pick(recorded: list[tuple[str, str, bytes]], live: tuple[str, str, bytes]) -> int | None:
    found = closest_request(RequestKey(*live), [RequestKey(*item) for item in recorded])
    return None if found is None else found.index


def assert_same_pick(recorded: list[tuple[str, str, bytes]], live: tuple[str, str, bytes]) -> None:
    """The finder picks what the reference picks; or, where the reference's own ratios of the two are
    a near tie (within 0.01), a request that differs from the live one in fewer top-level keys
    (SequenceMatcher counts the letters "stream" and "system" share as alike)."""
    ours, theirs = structural_pick(recorded, live), todays_pick(recorded, live)
    if ours == theirs:
        return
    assert ours is not None and theirs is not None, (ours, theirs)
    ratios = [similarity(live[2], recorded[index][2]) for index in (ours, theirs)]
    assert abs(ratios[0] - ratios[1]) < 0.01, (ours, theirs, ratios)
    assert _keys_differing(live[2], recorded[ours][2]) < _keys_differing(live[2], recorded[theirs][2])


def _keys_differing(one: bytes, other: bytes) -> int:
    left, right = json.loads(one), json.loads(other)
    return sum(not json_equal(left.get(key), right.get(key)) for key in left.keys() | right.keys())


def encoded(body: Body) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# -- changes an agent's request goes through ---------------------------------------------------------


def _replace_word(text: str, rng: random.Random, word: str = "CHANGED") -> str:
    words = text.split(" ")
    words[rng.randrange(len(words))] = word
    return " ".join(words)


def _edit_tool_result(body: Body, rng: random.Random) -> None:
    for message in reversed(body["messages"]):
        content = message["content"]
        if isinstance(content, list) and content[0].get("type") == "tool_result":
            content[0]["content"] = content[0]["content"].replace('"', "'", 3)
            return


CHANGES: dict[str, Callable[[Body, random.Random], None]] = {
    "a word of the system prompt": lambda body, rng: body.update(system=_replace_word(body["system"], rng)),
    "a sentence added to the system prompt": lambda body, rng: body.update(
        system=body["system"] + "\nAlways answer in French."
    ),
    "a tool's description": lambda body, rng: body["tools"][-1].update(
        description=body["tools"][-1]["description"] + " Use sparingly."
    ),
    "a tool added": lambda body, rng: body["tools"].append(
        {"name": "escalate", "description": "Hand over to a person.", "input_schema": {"type": "object"}}
    ),
    "a tool removed": lambda body, rng: body["tools"].pop(0),
    "max_tokens": lambda body, rng: body.update(max_tokens=700),
    "temperature added": lambda body, rng: body.update(temperature=0.2),
    "the model": lambda body, rng: body.update(model="claude-haiku-5-5"),
    "streamed": lambda body, rng: body.update(stream=True),
    "the first question": lambda body, rng: body["messages"][0].update(
        content=_replace_word(body["messages"][0]["content"], rng, "urgently")
    ),
    "a tool result": _edit_tool_result,
    "the last two messages dropped": lambda body, rng: body.update(messages=body["messages"][:-2]),
    "only the last three messages kept": lambda body, rng: body.update(messages=body["messages"][-3:]),
    "a message inserted first": lambda body, rng: body["messages"].insert(
        0, {"role": "user", "content": "Context: the customer is a member."}
    ),
}


def _requests(calls: list[tuple[Body, Body]]) -> list[tuple[str, str, bytes]]:
    return [("POST", URI, encoded(kwargs)) for kwargs, _ in calls]


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_finder_picks_todays_closest_request_in_a_generated_conversation(change: str) -> None:
    data = retail_data(None, seed=7)
    data.policy = data.policy[:400]  # (short bodies: the reference is quadratic)
    calls = conversation(data, turns=6, seed=3)
    recorded = _requests(calls)
    body = copy.deepcopy(calls[3][0])
    CHANGES[change](body, random.Random(change))
    live = ("POST", LIVE_URI, encoded(body))
    assert structural_pick(recorded, live) == todays_pick(recorded, live)


def _corpus_requests(corpus: Path) -> list[tuple[str, str, bytes]]:
    found = []
    for path in sorted((corpus / "cassettes").glob("*.yaml")):
        for interaction in load_cassette_data(path.read_text(), source=path)["interactions"]:
            request = interaction["request"]
            body = request["body"]
            found.append(
                (request["method"], request["uri"], body.encode() if isinstance(body, str) else body)
            )
    return found


def test_the_finder_picks_todays_closest_request_among_real_recorded_traffic(corpus: Path) -> None:
    recorded = _corpus_requests(corpus)
    assert len(recorded) >= 6
    rng = random.Random(11)
    compared = 0
    for method, uri, raw in recorded:
        body = json.loads(raw)
        changes = [
            lambda body: body.update(max_tokens=body["max_tokens"] + 1),
            lambda body: body["messages"][0].update(content="What is the weather in Lisbon?"),
            lambda body: body["tools"][0].update(description="Look the weather up."),
            lambda body: body.update(system="You are terse."),
            lambda body: body["messages"].append({"role": "user", "content": "And tomorrow?"}),
        ]
        for change in changes:
            changed = copy.deepcopy(body)
            change(changed)
            live = (method, uri.replace("https://api.anthropic.com", "http://127.0.0.1:9"), encoded(changed))
            assert_same_pick(recorded, live)
            compared += 1
    # and the tau-bench shop's conversations, built from the corpus
    data = retail_data(corpus, seed=5)
    data.policy = data.policy[:600]
    calls = conversation(data, turns=5, seed=rng.randrange(100))
    shop = _requests(calls)
    for change in ("a word of the system prompt", "a tool result", "the last two messages dropped"):
        body = copy.deepcopy(calls[3][0])
        CHANGES[change](body, rng)
        live = ("POST", LIVE_URI, encoded(body))
        assert_same_pick(shop, live)
        compared += 1
    assert compared >= 30


# -- the pieces ----------------------------------------------------------------------------------------


def test_common_prefix_and_suffix_agree_with_a_plain_loop() -> None:
    rng = random.Random(1)

    def plain_prefix(one: str, other: str) -> int:
        count = 0
        while count < min(len(one), len(other)) and one[count] == other[count]:
            count += 1
        return count

    for _ in range(2000):
        shared = "".join(rng.choice("ab") for _ in range(rng.randrange(0, 40)))
        one = shared + "".join(rng.choice("abc") for _ in range(rng.randrange(0, 6)))
        other = shared + "".join(rng.choice("abc") for _ in range(rng.randrange(0, 6)))
        assert common_prefix(one, other) == plain_prefix(one, other)
        start = common_prefix(one, other)
        limit = min(len(one), len(other)) - start
        assert common_suffix(one, other, limit) == min(plain_prefix(one[::-1], other[::-1]), limit)
    assert common_prefix([1, 2, {"a": 3}], [1, 2, {"a": 4}]) == 2


def test_closeness_is_one_for_equal_bodies_and_falls_with_what_differs() -> None:
    body = {
        "model": "m",
        "system": "You are a helpful support agent. " * 20,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert closeness(body, copy.deepcopy(body)) == 1.0
    assert closeness({"a": 1, "b": None}, {"a": 1.0}) == 1.0  # the matchers' equality: null is absent
    one_word = {**body, "system": body["system"].replace("helpful", "patient", 1)}
    rewritten = {**body, "system": "Answer in French. " * 30}
    assert 1.0 > closeness(one_word, body) > 0.95 > closeness(rewritten, body) > 0.0
    assert closeness("plain text", "plain text!") > closeness("plain text", "other words")


def test_the_first_difference_names_a_json_path_and_looks_at_messages_last() -> None:
    recorded = {"messages": [{"role": "user", "content": "a"}], "system": "old", "max_tokens": 5}
    live = {"messages": [{"role": "user", "content": "b"}], "system": "new", "max_tokens": 5}
    assert find_difference(live, recorded).path == "messages[0].content"  # type: ignore[union-attr]
    found = find_difference(live, recorded, last_keys=("messages",))
    assert found is not None and (found.path, found.live, found.recorded) == ("system", "new", "old")
    added = find_difference({**recorded, "temperature": 0.2}, recorded)
    assert added is not None and (added.path, added.live, added.recorded) == ("temperature", 0.2, ABSENT)
    longer = find_difference({"m": [1, 2, 3]}, {"m": [1, 2]})
    assert longer is not None and (longer.path, longer.kind) == ("m", "length")
    assert find_difference({"a": [1, {"b": None}]}, {"a": [1.0, {}]}) is None
    # the matcher's words are built on it and stay as they were
    assert first_difference({"m": [1, 2, 3]}, {"m": [1, 2]}) == "m: 3 items here, 2 recorded"


def test_deep_nesting_is_diagnosed_within_a_bounded_depth() -> None:
    live = RequestKey("POST", URI, ('{"a": ' + "[" * 300 + '"x"' + "]" * 300 + "}").encode())
    recorded = RequestKey("POST", URI, ('{"a": ' + "[" * 300 + '"y"' + "]" * 300 + "}").encode())
    found = diagnose(live, [recorded], live_path="/v1/messages", recorded_paths=["/v1/messages"])
    assert found.index == 0 and found.difference is not None
    assert found.difference.path == "a" + "[0]" * MAX_DEPTH
    assert 0.0 < closeness(live.data, recorded.data) < 1.0


def test_what_differs_besides_the_body_is_named() -> None:
    body = encoded({"model": "m", "messages": []})
    live = RequestKey("POST", "http://127.0.0.1:9/v1/messages/count_tokens?x=1", body)
    recorded = [
        RequestKey("GET", "https://api.anthropic.com/v1/models", b""),
        RequestKey("POST", "https://api.anthropic.com/v1/messages", body),
    ]
    found = diagnose(
        live, recorded, live_path="/v1/messages/count_tokens", recorded_paths=["/v1/models", "/v1/messages"]
    )
    assert (found.index, found.difference, found.already_played) == (1, None, False)
    assert found.mismatch == (
        "the API path: /v1/messages/count_tokens here, /v1/messages recorded; the query: ?x=1 here, (none) recorded"
    )
    # the same request again: in the cassette, its response played already
    again = diagnose(
        recorded[1], recorded, live_path="/v1/messages", recorded_paths=["/v1/models", "/v1/messages"]
    )
    assert (again.index, again.already_played) == (1, True)
    # nothing alike at all: no closest request
    alone = diagnose(
        RequestKey("PUT", "https://x/other?a=1", b"{}"),
        recorded[:1],
        live_path="/other",
        recorded_paths=["/v1/models"],
    )
    assert alone.index is None


def test_bodies_that_are_not_json_are_compared_as_text() -> None:
    live = RequestKey("POST", URI, "grüße, \xff".encode("latin-1"))
    recorded = [RequestKey("POST", URI, b"hello there"), RequestKey("POST", URI, "grüße!".encode("latin-1"))]
    found = diagnose(live, recorded, live_path="/v1/messages", recorded_paths=["/v1/messages"] * 2)
    assert found.index == 1 and found.difference is not None and found.difference.path == ""
    assert isinstance(found.difference.live, str) and isinstance(found.difference.recorded, str)
