"""Scrubbing secrets and personal data out of everything pytest-flywheel writes to files or stores.

One :class:`Redactor` is applied to cassettes (requests and responses: headers, URLs, bodies, JSON
values), tool interactions, suite inputs, trace previews and, in the tracing writer, every span and
feedback stored (:func:`pytest_flywheel.tracing.serialize.stored`; this module uses the standard
library only, since production code imports tracing and tracing imports this). It always removes:

* headers that carry credentials: ``x-api-key``, ``authorization``, ``proxy-authorization``,
  ``cookie``, ``set-cookie``, ``anthropic-organization-id``, and any header whose name contains
  ``key``, ``token``, ``secret``, ``auth``, ``cookie``, ``session``, ``password``, ``signature`` or
  ``credential`` (request ids and rate-limit counts without those words are kept);
* anything in text that looks like an Anthropic key (``sk-ant-...``) or a bearer token;
* JSON values under keys named like credentials (``api_key``, ``password``, ``access_token``...);

plus the project's own patterns: the ``[tool.flywheel] redact`` regexes and a hook (the plugin wires
``pytest_flywheel_redact`` to it) for things like e-mail addresses and card numbers. Every match is
replaced by ``[REDACTED]``. Redaction is idempotent, which replay relies on: a live request is
redacted the same way as the recorded one before the two are compared.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pytest_flywheel.config import ConfigError

if TYPE_CHECKING:
    from pytest_flywheel.config import Settings

REDACTED = "[REDACTED]"

#: Headers always scrubbed, whatever their name says.
SECRET_HEADERS = frozenset(
    {
        "x-api-key",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "anthropic-organization-id",
    }
)
#: A header whose name contains one of these words is scrubbed too.
SECRET_HEADER_WORDS = (
    "key",
    "token",
    "secret",
    "auth",
    "cookie",
    "session",
    "password",
    "signature",
    "credential",
)

_ANTHROPIC_KEY = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{6,}")
_SECRET_KEY_NAMES = (
    r"(x[-_])?("
    r"api[-_]?key|authorization|proxy[-_]authorization|password|passwd|secret|client[-_]secret"
    r"|(access|refresh|id|auth|session|bearer)[-_]?token|cookie|set[-_]cookie"
    r")"
)
_SECRET_JSON_KEY = re.compile(rf"(?i)^{_SECRET_KEY_NAMES}$")
# Where such a key could be in JSON text, written without escapes (see Redactor.clean_json_text).
# (``$`` also matches before a final newline, which JSON text escapes as ``\n``.)
_SECRET_KEY_IN_JSON = re.compile(rf'(?i)"{_SECRET_KEY_NAMES}(?:\\n)?"\s*:')
# Words one of which every name in _SECRET_KEY_NAMES holds (lower-cased): without any, no such key.
_SECRET_KEY_WORDS = ("key", "auth", "passw", "secret", "token", "cookie")

# Text in which neither of the two built-in text patterns above can match (a quick first look).
_MAYBE_SECRET = re.compile(r"sk-ant-|(?i:bearer\s)")
_SCALARS = frozenset({int, float, bool, type(None)})


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: Any) -> bool:
    """Whether a JSON key names a credential (keys repeat endlessly; each is looked at once)."""
    return isinstance(key, str) and _SECRET_JSON_KEY.match(key) is not None


RedactHook = Callable[[str], "str | None"]
"""A user's redaction step: the text with its secrets replaced, or None to leave it as it is.

A hook that is sometimes a no-op may also have an ``active()`` method saying whether it can change
anything now; it is asked once per piece redacted (a header set, a body, a value), and while it says
no, the hook is not called.
"""

_Body = TypeVar("_Body", bytes, str)


@functools.lru_cache(maxsize=1024)
def is_secret_header(name: str) -> bool:
    """Whether a header of this name carries something that must not be written down."""
    lowered = name.lower()
    return lowered in SECRET_HEADERS or any(word in lowered for word in SECRET_HEADER_WORDS)


class Redactor:
    """Replaces secrets with ``[REDACTED]`` in headers, text, JSON values, URLs and HTTP bodies.

    ``patterns`` are extra regular expressions (strings or compiled) whose every match is replaced;
    ``hook`` is a last step over every piece of text (returning None leaves the text unchanged).
    """

    def __init__(
        self, patterns: Iterable[str | re.Pattern[str]] = (), hook: RedactHook | None = None
    ) -> None:
        self.patterns: tuple[re.Pattern[str], ...] = tuple(
            pattern if isinstance(pattern, re.Pattern) else re.compile(pattern) for pattern in patterns
        )
        self.hook = hook

    # -- text and values ---------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """``text`` with every secret and every match of the project's patterns replaced."""
        return self._text(text, self._active_hook())

    def value(self, value: Any) -> Any:
        """A JSON-safe value with every string redacted, and values under credential-like keys replaced.

        Keys are kept as they are (they are structure, not data). Returns a new value; ``value`` is
        not changed.
        """
        return self._value(value, self._active_hook())

    def _active_hook(self) -> RedactHook | None:
        """The hook, asked once per piece redacted whether it is active (see :data:`RedactHook`)."""
        hook = self.hook
        if hook is None:
            return None
        active = getattr(hook, "active", None)
        return hook if not callable(active) or active() else None

    def _text(self, text: str, hook: RedactHook | None) -> str:
        if not text:
            return text
        if _MAYBE_SECRET.search(text) is not None:
            text = _ANTHROPIC_KEY.sub(REDACTED, text)
            text = _BEARER.sub(lambda match: match.group(1) + REDACTED, text)
        for pattern in self.patterns:
            text = pattern.sub(REDACTED, text)
        if hook is not None:
            hooked = hook(text)
            if hooked is not None:
                text = str(hooked)
        return text

    def _value(self, value: Any, hook: RedactHook | None) -> Any:
        kind = type(value)
        if kind in _SCALARS:  # (the common cases first, by exact type: this runs on every JSON node)
            return value
        if kind is str:
            return self._text(value, hook)
        if kind is dict or isinstance(value, Mapping):
            redacted: dict[Any, Any] = {}
            for key, item in value.items():
                if type(item) is str:
                    redacted[key] = REDACTED if item and _is_secret_key(key) else self._text(item, hook)
                elif isinstance(item, str) and item and _is_secret_key(key):
                    redacted[key] = REDACTED
                else:
                    redacted[key] = self._value(item, hook)
            return redacted
        if kind is list or isinstance(value, list | tuple):
            return [self._value(item, hook) for item in value]
        if isinstance(value, str):
            return self._text(value, hook)
        return value

    # -- HTTP --------------------------------------------------------------------------------------

    def headers(self, headers: Mapping[str, Any]) -> dict[str, Any]:
        """Headers (``{name: value}`` or vcrpy's ``{name: [values]}``) with credentials scrubbed.

        A credential header keeps its name, so a reviewer sees it was sent, but not its value.
        """
        scrubbed: dict[str, Any] = {}
        hook = self._active_hook()
        for name, value in headers.items():
            secret = is_secret_header(name)
            if isinstance(value, list | tuple):
                scrubbed[name] = [REDACTED if secret else self._text(str(item), hook) for item in value]
            elif value is None:
                scrubbed[name] = value
            else:
                scrubbed[name] = REDACTED if secret else self._text(str(value), hook)
        return scrubbed

    def url(self, url: str) -> str:
        """``url`` with credential-like query parameters and secret-looking text scrubbed."""
        parts = urlsplit(url)
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            if any(_SECRET_JSON_KEY.match(name) or is_secret_header(name) for name, _ in pairs):
                query = urlencode(
                    [
                        (name, REDACTED if _SECRET_JSON_KEY.match(name) or is_secret_header(name) else value)
                        for name, value in pairs
                    ]
                )
                url = urlunsplit(parts._replace(query=query))
        return self.text(url)

    def body(self, body: _Body) -> _Body:
        """An HTTP body with secrets scrubbed: a JSON body as data (so the JSON stays valid), any
        other text as text; binary data (a body that is not UTF-8) is returned as it is.

        An unchanged body is returned unchanged, byte for byte.
        """
        if isinstance(body, bytes):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                return body
            redacted = self._body_text(text)
            return body if redacted == text else redacted.encode("utf-8")
        return self._body_text(body)

    def _body_text(self, text: str) -> str:
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            if self.clean_json_text(text):
                return text
            try:
                data = json.loads(text)
            except ValueError:
                pass
            else:
                redacted = self.value(data)
                if redacted == data:
                    return text
                return json.dumps(redacted, ensure_ascii=False, separators=(",", ":"))
        return self.text(text)

    def clean_json_text(self, text: str) -> bool:
        """Whether JSON text certainly has nothing to redact, found without parsing it.

        Only with no project patterns and no active hook. Without ``\\u`` escapes, every key and every
        string reads in the text as it will once parsed, except for escaped characters that the
        built-in patterns never need: no credential-like key followed by a colon, no ``sk-ant-`` and no
        ``bearer`` anywhere means redacting the parsed data would change nothing.
        """
        if self.patterns or self._active_hook() is not None or "\\u" in text:
            return False
        # Substring tests on the lower-cased text first: a case-insensitive regex is ten times slower,
        # and the tracing writer asks this of every span.
        lowered = text.lower()
        if "sk-ant-" in lowered or "bearer" in lowered:
            return False
        if any(word in lowered for word in _SECRET_KEY_WORDS):
            return _SECRET_KEY_IN_JSON.search(text) is None
        return True


def build_redactor(settings: Settings | None = None, hook: RedactHook | None = None) -> Redactor:
    """The project's redactor: the built-in secret scrubbing, ``settings.redact`` and ``hook``.

    An invalid regex in ``[tool.flywheel] redact`` is a :class:`~pytest_flywheel.config.ConfigError`
    naming it.
    """
    patterns: list[re.Pattern[str]] = []
    for source in settings.redact if settings is not None else ():
        try:
            patterns.append(re.compile(source))
        except re.error as exc:
            where = settings.root / "pyproject.toml" if settings is not None else "pyproject.toml"
            raise ConfigError(
                f"{where}: [tool.flywheel] redact: {source!r} is not a valid regular expression ({exc}); "
                "fix or remove it."
            ) from None
    return Redactor(patterns, hook)
