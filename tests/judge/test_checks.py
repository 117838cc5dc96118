"""Deterministic checks: every kind passing and failing, output rendering, malformed specs."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from pytest_flywheel.judge import CheckError, CheckResult, CheckSpecError, check_label, output_text, run_check

MESSAGE_JSON: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-5-5",
    "content": [
        {"type": "text", "text": "Your refund of $20 is on its way."},
        {"type": "tool_use", "id": "toolu_1", "name": "x", "input": {"secret": "not text"}},
        {"type": "text", "text": "Anything else?"},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}

TRAJECTORY: list[dict[str, Any]] = [
    {"type": "llm", "model": "claude-sonnet-5-5", "stop_reason": "tool_use", "input_tokens": 10,
     "output_tokens": 5, "tool_uses": [{"name": "lookup_order", "input": {"order_id": "A-17"}}]},
    {"type": "tool", "name": "lookup_order", "arguments": {"order_id": "A-17", "options": {"deep": True, "n": 2}},
     "result": {"status": "shipped"}},
    {"type": "tool", "name": "send_email", "arguments": {"to": "a@example.com"}, "error": {"type": "Timeout",
                                                                                          "message": "slow"}},
]


def check(spec: dict[str, Any], output: Any = "Your refund is on its way.", **kwargs: Any) -> CheckResult:
    return run_check(spec, output=output, trajectory=kwargs.pop("trajectory", TRAJECTORY), **kwargs)


@pytest.mark.parametrize(
    ("spec", "passed", "reason"),
    [
        ({"contains": "refund"}, True, "the output contains 'refund'"),
        ({"contains": "voucher"}, False, "the output does not contain 'voucher'"),
        ({"contains": ["refund", "voucher"]}, False, "the output does not contain 'voucher'"),
        ({"not_contains": "sorry"}, True, "the output contains none of 'sorry'"),
        ({"not_contains": ["sorry", "way"]}, False, "the output contains 'way'"),
        ({"regex": r"(?i)^your REFUND"}, True, "/(?i)^your REFUND/ matches 'Your refund'"),
        ({"regex": r"\d+ days"}, False, "no match for /\\d+ days/ in the output"),
    ],
)
def test_text_checks(spec: dict[str, Any], passed: bool, reason: str) -> None:
    result = check(spec)
    assert (result.passed, result.reason) == (passed, reason)


def test_text_checks_read_the_text_of_a_message_json_and_an_sdk_message() -> None:
    sdk_message = anthropic.types.Message.model_validate(MESSAGE_JSON)
    for output in (MESSAGE_JSON, sdk_message):
        assert output_text(output) == "Your refund of $20 is on its way.\nAnything else?"
        assert check({"contains": "Anything else"}, output).passed
        assert not check({"contains": "not text"}, output).passed


def test_other_values_are_checked_as_json() -> None:
    assert output_text({"b": 1, "a": "é"}) == '{"a": "é", "b": 1}'
    assert check({"contains": '"status": "ok"'}, {"status": "ok"}).passed
    assert output_text(None) == ""
    not_a_message = {"content": [{"type": "text", "text": "hi"}]}
    assert output_text(not_a_message) == '{"content": [{"text": "hi", "type": "text"}]}'


SCHEMA = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}


@pytest.mark.parametrize(
    ("output", "passed", "reason"),
    [
        ({"answer": "yes"}, True, "the output matches the schema"),
        ('{"answer": "yes"}', True, "the output matches the schema"),
        ({"answer": 3}, False, "at answer: 3 is not of type 'string'"),
        ({}, False, "at (root): 'answer' is a required property"),
        ("not json", False, "the output is not JSON (Expecting value at character 0)"),
    ],
)
def test_json_schema(output: Any, passed: bool, reason: str) -> None:
    result = check({"json_schema": SCHEMA}, output)
    assert (result.passed, result.reason, result.label) == (passed, reason, "json_schema")


def test_json_schema_reads_a_message_text_as_json() -> None:
    message = {**MESSAGE_JSON, "content": [{"type": "text", "text": '{"answer": "yes"}'}]}
    assert check({"json_schema": SCHEMA}, message).passed


@pytest.mark.parametrize(
    ("spec", "passed", "reason"),
    [
        ({"tool_called": "lookup_order"}, True, "lookup_order was called 1 time(s)"),
        ({"tool_called": "lookup_order", "args": {"order_id": "A-17"}}, True, "lookup_order was called with"),
        ({"tool_called": {"name": "lookup_order", "args": {"options": {"deep": True}}}}, True, "was called with"),
        ({"tool_called": "lookup_order", "args": {"order_id": "B-2"}}, False, "but never with"),
        ({"tool_called": "lookup_order", "args": {"options": {"deep": False}}}, False, "but never with"),
        ({"tool_called": "refund"}, False, "refund was not called (tools called: lookup_order, send_email)"),
        ({"tool_called": "send_email"}, True, "send_email was called"),
    ],
)
def test_tool_called(spec: dict[str, Any], passed: bool, reason: str) -> None:
    result = check(spec)
    assert result.passed is passed and reason in result.reason


def test_tool_called_ignores_tool_uses_the_model_only_asked_for() -> None:
    only_asked = [entry for entry in TRAJECTORY if entry["type"] == "llm"]
    result = check({"tool_called": "lookup_order"}, trajectory=only_asked)
    assert not result.passed and result.reason == "lookup_order was not called (no tool was called)"


def test_latency_and_cost() -> None:
    assert check({"max_latency_ms": 500}, latency_ms=120.4).passed
    slow = check({"max_latency_ms": 100}, latency_ms=120.4)
    assert not slow.passed and slow.reason == "took 120 ms (limit 100 ms)"
    assert check({"max_cost_usd": 0.01}, cost_usd=0.0042).passed
    dear = check({"max_cost_usd": 0.001}, cost_usd=0.0042)
    assert not dear.passed and dear.reason == "cost $0.004200 (limit $0.001)"


def test_latency_or_cost_not_measured_is_an_error_not_a_pass() -> None:
    with pytest.raises(CheckError, match="needs the case's latency"):
        check({"max_latency_ms": 100})
    with pytest.raises(CheckError, match="needs the case's LLM cost"):
        check({"max_cost_usd": 1})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "A check must be a mapping"),
        ({"contians": "x"}, "Unknown check 'contians'"),
        ({"contains": "x", "regex": "y"}, "names 2 kinds"),
        ({"contains": 3}, "contains: expected a non-empty string or a list of them, found 3"),
        ({"contains": "x", "ignore_case": True}, "unexpected keys ignore_case"),
        ({"regex": "(unclosed"}, "is not a valid regular expression"),
        ({"json_schema": {"type": "nonsense"}}, "json_schema: the schema is not valid"),
        ({"json_schema": "object"}, "expected a JSON Schema"),
        ({"tool_called": ""}, "expected a tool name"),
        ({"tool_called": "x", "args": ["a"]}, "args must be a mapping"),
        ({"tool_called": {"args": {}}}, "expected a tool name, or a mapping with name"),
        ({"max_latency_ms": "fast"}, "expected a number of at least 0"),
        ({"max_cost_usd": -1}, "expected a number of at least 0"),
        ({"max_cost_usd": True}, "expected a number of at least 0"),
    ],
)
def test_malformed_specs_are_clear_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(CheckSpecError) as caught:
        check(spec, latency_ms=1, cost_usd=0)
    assert message in str(caught.value)


def test_unknown_kinds_go_to_the_custom_hook() -> None:
    def custom(kind: str, spec: dict[str, Any]) -> CheckResult | None:
        return CheckResult(True, "custom said yes", kind) if kind == "is_polite" else None

    assert check({"is_polite": True}, custom=custom).reason == "custom said yes"
    with pytest.raises(CheckSpecError, match="Unknown check 'is_rude'"):
        check({"is_rude": True}, custom=custom)


def test_labels() -> None:
    assert check_label({"contains": "refund"}) == "contains: 'refund'"
    assert check_label({"tool_called": "lookup", "args": {"id": "A"}}) == "tool_called: lookup(id='A')"
    assert check_label({"max_latency_ms": 300}) == "max_latency_ms: 300"
    assert check({"contains": "refund"}).label == "contains: 'refund'"
