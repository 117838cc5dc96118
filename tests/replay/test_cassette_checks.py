"""A malformed cassette is a CassetteFormatError naming its file and line, never a vcrpy traceback, a
"played back every response" or "does not exist" that points elsewhere."""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import replay_case, write_case_cassette
from pytest_flywheel.replay.cassette_file import CassetteFormatError
from pytest_flywheel.testing import text_message

from .spans import ask, llm_span, tool_span


def recorded(tmp_path: Path) -> Path:
    spans = [
        llm_span(ask("Where is W1?"), text_message("Monday.")),
        tool_span("lookup_order", {"order_id": "W1"}, {"status": "packed"}),
    ]
    return write_case_cassette(spans, tmp_path / "case.yaml", redactor=Redactor())


def edited(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=10_000))
    return path


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the first line of ``path`` holding ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} is not in {path}")


def replay(path: Path) -> None:
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url="https://api.anthropic.com", max_retries=0)
    with replay_case(path) as session:
        client.messages.create(**ask("Where is W1?"))
    session.raise_for_miss()


def interaction(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = data["interactions"][0]
    return found


# (what to break, the text on the line the error must name, what the error says)
BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "no response": (
        lambda data: interaction(data).pop("response"),
        "- request:",
        r"interactions\[0\]: the interaction has no 'response'",
    ),
    "an int body": (
        lambda data: interaction(data)["response"].update(body={"string": 5}),
        "string: 5",
        r"interactions\[0\]\.response\.body\.string: the response body must be text, found int 5",
    ),
    "a body that is not a mapping": (
        lambda data: interaction(data)["response"].update(body=7),
        "body: 7",
        r"interactions\[0\]\.response\.body: the response body must be a mapping with 'string'",
    ),
    "scalar headers": (
        lambda data: interaction(data)["response"].update(headers="content-type: text/plain"),
        "headers: 'content-type: text/plain'",
        r"interactions\[0\]\.response\.headers: headers must be a mapping of names to lists of values",
    ),
    "no status code": (
        lambda data: interaction(data)["response"]["status"].pop("code"),
        "status:",
        r"interactions\[0\]\.response\.status: the response status has no code \(such as code: 200\)",
    ),
    "a status code that is text": (
        lambda data: interaction(data)["response"]["status"].update(code="OK"),
        "code: OK",
        r"interactions\[0\]\.response\.status\.code: the status code must be a number from 100 to 599",
    ),
    "a JSON body that is not JSON": (
        lambda data: interaction(data)["response"].update(body={"string": "{not json"}),
        "string: '{not json'",
        r"interactions\[0\]\.response\.body\.string: the response body is not valid JSON for its "
        r"content-type application/json \(Expecting property name",
    ),
    "no request method": (
        lambda data: interaction(data)["request"].pop("method"),
        "- request:",
        r"interactions\[0\]\.request\.method: the request's method is missing",
    ),
    "interactions that are not a list": (
        lambda data: data.update(interactions={"a": 1}),
        "interactions:",
        r"interactions: expected a list of interactions, found a mapping",
    ),
    "a tool call with neither result nor error": (
        lambda data: data["tool_interactions"][0].pop("result"),
        "- tool: lookup_order",
        r"tool_interactions\[0\]: expected exactly one of 'result' or 'error'",
    ),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_malformed_cassette_names_its_file_line_and_fix(tmp_path: Path, name: str) -> None:
    change, line_text, message = BROKEN[name]
    path = edited(recorded(tmp_path), change)
    with pytest.raises(CassetteFormatError) as raised:
        replay(path)
    error = raised.value
    assert error.path == path
    expected_line = line_of(path, line_text)
    assert re.match(rf"{re.escape(str(path))}:{expected_line}: {message}", str(error)), str(error)
    assert str(error).endswith("record the cassette again (--flywheel-record=rewrite)")
    assert pickle.loads(pickle.dumps(error)).args == error.args  # (it crosses pytest-xdist)


@pytest.mark.parametrize("text", ["", "\n\n  \n", "# only a comment\n", "~\n"])
def test_an_empty_cassette_is_a_format_error_not_a_missing_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(text)
    with pytest.raises(
        CassetteFormatError, match=r"case\.yaml:1: the file (is empty|holds no data); delete it"
    ):
        replay(path)


def test_a_cassette_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "case.yaml"
    path.write_bytes(b"version: 1\ninteractions:\n- \xff\xfe\n")
    with pytest.raises(CassetteFormatError, match=r"case\.yaml:3: not UTF-8 text \(byte 27\)"):
        replay(path)


def test_an_alias_bomb_in_a_tool_result_is_refused_at_its_line(tmp_path: Path) -> None:
    path = recorded(tmp_path)
    levels = ["b0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = path.read_text().replace("result:\n", "result:\n    " + "\n    ".join(levels) + "\n    ", 1)
    path.write_text(text)
    with pytest.raises(
        CassetteFormatError, match=r"aliases repeat more than 1,000,000 characters and values"
    ):
        replay(path)
    assert raised_line(path) == line_of(path, "b5: &b5")  # where the repeats pass the limit


def raised_line(path: Path) -> int:
    with pytest.raises(CassetteFormatError) as raised:
        replay(path)
    return raised.value.line


def test_hand_written_single_header_values_replay_as_one_header_each(tmp_path: Path) -> None:
    """``content-type: application/json`` (not a list) would reach httpx as one header per character."""
    path = edited(
        recorded(tmp_path),
        lambda data: interaction(data)["response"].update(headers={"content-type": "application/json"}),
    )
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url="https://api.anthropic.com", max_retries=0)
    with replay_case(path) as session:
        reply = client.messages.with_raw_response.create(**ask("Where is W1?"))
    session.raise_for_miss()
    assert reply.headers.get_list("content-type") == ["application/json"]
    assert reply.parse().content[0].text == "Monday."  # type: ignore[union-attr]
