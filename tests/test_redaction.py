from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.config import ConfigError, load_settings
from pytest_flywheel.redaction import REDACTED, Redactor, build_redactor, is_secret_header

EMAIL = r"[\w.+-]+@[\w-]+\.[\w.]+"
CARD = r"\b(?:\d[ -]?){13,16}\b"


@pytest.mark.parametrize(
    "name",
    [
        "x-api-key",
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "set-cookie",
        "anthropic-organization-id",
        "X-Auth-Token",
        "x-goog-api-key",
        "idempotency-key",
        "X-Client-Secret",
        "x-session-id",
    ],
)
def test_credential_headers_keep_their_name_but_lose_their_value(name: str) -> None:
    scrubbed = Redactor().headers({name: "s3cr3t-value", "request-id": "req_123"})
    assert scrubbed == {name: REDACTED, "request-id": "req_123"}
    assert is_secret_header(name)


def test_vcrpy_style_header_lists_are_scrubbed_value_by_value() -> None:
    headers = {"set-cookie": ["a=1", "b=2"], "content-type": ["application/json"]}
    assert Redactor().headers(headers) == {
        "set-cookie": [REDACTED, REDACTED],
        "content-type": ["application/json"],
    }


def test_ordinary_headers_are_kept_but_a_key_in_their_value_is_not() -> None:
    scrubbed = Redactor().headers({"x-debug": "used sk-ant\x2dapi03-abcDEF_123-xyz", "request-id": "req_9"})
    assert scrubbed == {"x-debug": f"used {REDACTED}", "request-id": "req_9"}


def test_anthropic_keys_and_bearer_tokens_are_scrubbed_from_text() -> None:
    text = "key=sk-ant\x2dapi03-AAAA_bbbb-1234 header Authorization: Bearer abc.def-123456 done"
    assert Redactor().text(text) == f"key={REDACTED} header Authorization: Bearer {REDACTED} done"


def test_project_patterns_and_the_hook_apply_to_text() -> None:
    redactor = Redactor([EMAIL, CARD], hook=lambda text: text.replace("Alice", "[NAME]"))
    text = "Alice (alice.smith+shop@example.co.uk) paid with 4111 1111 1111 1111."
    assert redactor.text(text) == f"[NAME] ({REDACTED}) paid with {REDACTED}."


def test_a_hook_returning_none_leaves_the_text_alone() -> None:
    assert Redactor(hook=lambda text: None).text("plain") == "plain"


def test_json_values_are_redacted_deeply_and_credential_keys_lose_their_values() -> None:
    redactor = Redactor([EMAIL])
    value: dict[str, Any] = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "mail bob@example.com"}]}],
        "auth": {"api_key": "plain-looking", "password": "hunter2", "access_token": "tok"},
        "usage": {"input_tokens": 12, "output_tokens": 3},
        "max_tokens": 100,
    }
    assert redactor.value(value) == {
        "messages": [{"role": "user", "content": [{"type": "text", "text": f"mail {REDACTED}"}]}],
        "auth": {"api_key": REDACTED, "password": REDACTED, "access_token": REDACTED},
        "usage": {"input_tokens": 12, "output_tokens": 3},
        "max_tokens": 100,
    }
    assert value["auth"]["password"] == "hunter2"  # the original is not touched


def test_a_json_body_stays_valid_json_and_an_unchanged_body_stays_byte_identical() -> None:
    redactor = Redactor([EMAIL])
    body = b'{"content": "write to \\"bob@example.com\\" now"}'
    redacted = redactor.body(body)
    assert json.loads(redacted) == {"content": f'write to "{REDACTED}" now'}
    clean = b'{ "model" : "claude-sonnet-5-5" }'
    assert redactor.body(clean) is clean


def test_event_streams_and_binary_bodies() -> None:
    redactor = Redactor([EMAIL])
    sse = 'event: x\ndata: {"text":"bob@example.com"}\n\n'
    assert redactor.body(sse) == f'event: x\ndata: {{"text":"{REDACTED}"}}\n\n'
    gzipped = b"\x1f\x8b\x08\x00\xff\xfe"
    assert redactor.body(gzipped) is gzipped


def test_credential_query_parameters_are_scrubbed_from_urls() -> None:
    url = Redactor().url("https://api.example.com/v1/messages?api_key=abc&beta=true")
    assert url == "https://api.example.com/v1/messages?api_key=%5BREDACTED%5D&beta=true"


def test_redaction_is_idempotent() -> None:
    redactor = Redactor([EMAIL, CARD])
    once = redactor.text("sk-ant-api03-xyz1234 bob@example.com 4242424242424242 Bearer abcdefgh")
    assert redactor.text(once) == once


def test_build_redactor_reads_the_project_patterns(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.flywheel]\nredact = [{json.dumps(EMAIL)}]\n")
    redactor = build_redactor(load_settings(tmp_path, environ={}), hook=lambda text: text.upper())
    assert redactor.text("to bob@example.com") == f"TO {REDACTED}"


def test_an_invalid_project_pattern_is_a_config_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flywheel]\nredact = ["card(\\\\d+"]\n')
    with pytest.raises(ConfigError) as caught:
        build_redactor(load_settings(tmp_path, environ={}))
    message = str(caught.value)
    assert message.startswith(
        f"{tmp_path / 'pyproject.toml'}: [tool.flywheel] redact: 'card(\\\\d+' is not a valid"
    )
    assert message.endswith("fix or remove it.")


class FullRedactor(Redactor):
    """Always parses a JSON body: what the quick look at JSON text must agree with."""

    def clean_json_text(self, text: str) -> bool:
        return False


KEY = "sk-ant\x2dapi03-FAKEfakeFAKE_0123456789-abcdef"
SECRET_PLACES: list[Any] = [
    {"model": "m", "messages": [{"role": "user", "content": "hello"}]},
    {"content": [{"type": "text", "text": f"your key is {KEY}"}]},
    {"api_key": "abc", "other": 1},
    {"X-API-Key": "abc"},
    {"Session_Token": ["not a string value"]},
    {"password": ""},
    {"api_key\n": "value under a key ending in a newline"},
    {"nested": {"deeper": [{"refresh-token": "r"}]}},
    {"header": "Authorization: Bearer\tabcdefghijk"},
    {"header": "bearer\nabcdefghijk"},
    {"text": "the bearer of bad news"},
    {"text": "sk-ant"},
    {"text": 'line one\nline two "quoted" \\ back'},
    {"k\u00e9y": "\u00fcn\u00efc\u00f8d\u00e9", "token": "t"},
    ["apikey", "password"],
    {"text": "mentions api_key: in passing"},
]


@pytest.mark.parametrize("value", SECRET_PLACES)
@pytest.mark.parametrize("dump", [{}, {"ensure_ascii": False}, {"indent": 2}, {"separators": (",", ":")}])
def test_the_quick_look_at_json_text_changes_nothing_full_redaction_would_not(
    value: Any, dump: dict[str, Any]
) -> None:
    text = json.dumps(value, **dump)
    for quick, full in ((Redactor(), FullRedactor()), (Redactor(hook=lambda t: None), FullRedactor())):
        assert quick.body(text) == full.body(text)
        assert quick.body(text.encode()) == full.body(text.encode())


def test_the_quick_look_skips_parsing_only_when_it_is_sure() -> None:
    assert Redactor().clean_json_text('{"model": "m", "max_tokens": 5}')
    assert not Redactor().clean_json_text('{"text": "sk-ant-x"}')
    assert not Redactor().clean_json_text('{"Api-Key" : "x"}')
    assert not Redactor().clean_json_text('{"text": "caf\\u00e9"}')  # an escape: parse to be sure
    assert not Redactor().clean_json_text('{"h": "BEARER abcdefgh"}')
    assert not Redactor().clean_json_text('{"PASSWORD":"x"}')
    assert not Redactor().clean_json_text('{"x-auth-token" :\n "x"}')
    assert Redactor().clean_json_text('{"keyboard": "token ring", "author": "x"}')  # words, not credential keys
    assert not Redactor(patterns=[r"\d{16}"]).clean_json_text('{"card": "1234"}')
    # Secrets hidden behind escapes are still found (the escape sends the text to the full path).
    for text in ('{"api\\u005fkey": "v"}', '{"t": "sk\\u002dant-abcdefgh"}'):
        assert Redactor().body(text) == FullRedactor().body(text) != text


class SwitchableHook:
    def __init__(self) -> None:
        self.on = False
        self.seen: list[str] = []

    def active(self) -> bool:
        return self.on

    def __call__(self, text: str) -> str | None:
        self.seen.append(text)
        return text.replace("Juniper", "[CUSTOMER]")


def test_a_hook_that_says_it_is_active_sees_json_bodies_and_one_that_says_not_is_spared() -> None:
    hook = SwitchableHook()
    redactor = Redactor(hook=hook)
    body = '{"customer": "Juniper"}'
    assert redactor.body(body) == body and hook.seen == []
    hook.on = True
    assert json.loads(redactor.body(body)) == {"customer": "[CUSTOMER]"}


def test_an_inactive_hook_is_never_called_and_an_active_one_sees_every_piece_of_text() -> None:
    hook = SwitchableHook()
    redactor = Redactor(hook=hook)
    value = {"customer": "Juniper", "notes": ["Juniper again"], "count": 2}
    headers = {"x-customer": "Juniper"}
    assert redactor.value(value) == value and redactor.headers(headers) == headers
    assert redactor.text("Juniper") == "Juniper" and hook.seen == []
    hook.on = True
    assert redactor.value(value) == {"customer": "[CUSTOMER]", "notes": ["[CUSTOMER] again"], "count": 2}
    assert redactor.headers(headers) == {"x-customer": "[CUSTOMER]"}
    assert redactor.text("Juniper") == "[CUSTOMER]"
    assert hook.seen == ["Juniper", "Juniper again", "Juniper", "Juniper"]
