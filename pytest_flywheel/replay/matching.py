"""How a live request (or tool call) is matched to a recorded one.

Requests match on method, API path, query and body. The body is compared as JSON data when both
sides are JSON: key order and whitespace do not matter, ``1`` equals ``1.0``, but ``true`` never
equals ``1``, and a key whose value is ``null`` counts as absent (the API treats them alike, and
the SDK sends ``"citations": null`` back or not depending on whether the response it parsed had the
key); anything else is compared byte for byte. The query is compared without ``beta``
(``?beta=true`` marks beta endpoints in some SDK versions and not in others). Scheme, host and port
are *not* compared:
a case recorded against ``https://api.anthropic.com`` replays wherever ``ANTHROPIC_BASE_URL`` points
(a proxy, a closed loopback port in CI). The path is compared from its ``/v1/`` on, so a base URL
with a path prefix replays too.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlparse

from pytest_flywheel.canonical import REPR_KEY

_MISSING = object()
_UNPARSED = object()
# How tracing records an argument JSON cannot hold (pytest_flywheel.tracing.serialize), and the part of
# a default repr that changes from one process to the next.
_REPR_KEY = REPR_KEY
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_SHOWN = 60


def json_equal(left: Any, right: Any) -> bool:
    """Whether two JSON values are the same data (numbers by value, booleans never equal to numbers)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        if _REPR_KEY in left and _REPR_KEY in right:  # an object traced as its repr: ignore its address
            return _ADDRESS.sub("", str(left[_REPR_KEY])) == _ADDRESS.sub("", str(right[_REPR_KEY]))
        left, right = _present(left), _present(right)
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and bool(left == right)


def _present(mapping: dict[Any, Any]) -> dict[Any, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _short(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def first_difference(live: Any, recorded: Any, path: str = "") -> str | None:
    """Where two JSON values first differ, as ``path: live value != recorded value``, or None."""
    found = find_difference(live, recorded)
    if found is None:
        return None
    where = ".".join(part for part in (path.lstrip("."), found.path) if part).replace(".[", "[") or "(body)"
    if found.kind == "length":
        return f"{where}: {len(found.live)} items here, {len(found.recorded)} recorded"
    return f"{where}: {_short(found.live)} here, {_short(found.recorded)} recorded"


#: The value of a key one side does not have (a key whose value is ``null`` counts as absent).
ABSENT: Any = _MISSING
#: Below this depth two differing JSON values count as wholly different (hostile nesting stays cheap
#: and far from the recursion limit).
MAX_DEPTH = 64


@dataclass(frozen=True)
class Difference:
    """Where two JSON values first differ.

    ``path`` is the JSON path (``system``, ``messages[3].content[0].text``; empty for the whole
    value). For ``kind == "value"``, ``live`` and ``recorded`` are the two values there
    (:data:`ABSENT` when one side lacks the key); for ``kind == "length"`` they are two lists whose
    items agree as far as the shorter one goes.
    """

    path: str
    live: Any
    recorded: Any
    kind: Literal["value", "length"] = "value"

    @property
    def shown_path(self) -> str:
        """The path, or ``(body)`` for the whole value."""
        return self.path or "(body)"


def find_difference(
    live: Any, recorded: Any, *, first_keys: Sequence[str] = (), last_keys: Sequence[str] = ()
) -> Difference | None:
    """The first place where two JSON values differ (as :func:`json_equal` sees them), or None.

    Dictionaries are walked in the recorded one's key order, then the keys only the live one has;
    at the top level, ``first_keys`` come first and ``last_keys`` last. Lists are walked by
    position, and a list that is only longer or shorter differs at the list itself.
    """
    try:
        return _difference(live, recorded, "", 0, tuple(first_keys), tuple(last_keys))
    except RecursionError:  # nested deeper than Python recurses: the values differ, nothing finer
        return Difference("", live, recorded)


def _key_order(
    live: dict[Any, Any], recorded: dict[Any, Any], first: tuple[str, ...], last: tuple[str, ...]
) -> list[Any]:
    keys = list(recorded) + [key for key in live if key not in recorded]
    if first or last:
        rank = {key: index for index, key in enumerate(first)}
        rank.update({key: len(first) + 1 + index for index, key in enumerate(last)})
        keys.sort(key=lambda key: rank.get(key, len(first)))  # stable: the others keep their order
    return keys


def _difference(
    live: Any, recorded: Any, path: str, depth: int, first: tuple[str, ...] = (), last: tuple[str, ...] = ()
) -> Difference | None:
    if depth > MAX_DEPTH:
        return None if json_equal(live, recorded) else Difference(path, live, recorded)
    if isinstance(live, dict) and isinstance(recorded, dict):
        if _REPR_KEY in live and _REPR_KEY in recorded:  # an object traced as its repr
            return None if json_equal(live, recorded) else Difference(path, live, recorded)
        live, recorded = _present(live), _present(recorded)
        for key in _key_order(live, recorded, first, last):
            found = _difference(
                live.get(key, _MISSING),
                recorded.get(key, _MISSING),
                f"{path}.{key}" if path else str(key),
                depth + 1,
            )
            if found:
                return found
        return None
    if isinstance(live, list) and isinstance(recorded, list):
        for index, (one, other) in enumerate(zip(live, recorded, strict=False)):
            found = _difference(one, other, f"{path}[{index}]", depth + 1)
            if found:
                return found
        return None if len(live) == len(recorded) else Difference(path, live, recorded, "length")
    if live is _MISSING or recorded is _MISSING or not json_equal(live, recorded):
        return Difference(path, live, recorded)
    return None


def _canonical(value: Any) -> str:
    if isinstance(value, dict):
        value = {key: item for key, item in value.items() if item is not None}
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)


def similarity(live_body: Any, recorded_body: Any) -> float:
    """How alike two request bodies are, from 0 to 1 (to point at the closest recorded request)."""
    live, recorded = parse_json_body(live_body), parse_json_body(recorded_body)
    left = _canonical(live) if live is not _MISSING else _as_bytes(live_body).decode("utf-8", "replace")
    right = (
        _canonical(recorded)
        if recorded is not _MISSING
        else _as_bytes(recorded_body).decode("utf-8", "replace")
    )
    return difflib.SequenceMatcher(None, left, right, autojunk=False).ratio()


def parse_json_body(body: Any) -> Any:
    """The JSON value of a request body (bytes or text), or ``_MISSING`` when it is not JSON."""
    if body is None:
        return _MISSING
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return _MISSING
    if not isinstance(body, str) or not body.strip():
        return _MISSING
    try:
        return json.loads(body)
    except ValueError:
        return _MISSING


def _as_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return repr(body).encode()


# -- vcrpy matchers (called as matcher(live_request, recorded_request); AssertionError = no match) --


def _bodies_match(live_data: Any, live_raw: bytes, recorded_data: Any, recorded_raw: bytes) -> bool:
    """Two bodies, as parsed by :func:`parse_json_body` and as bytes: equal as JSON data when both are
    JSON, byte for byte otherwise."""
    if live_data is not _MISSING and recorded_data is not _MISSING:
        return json_equal(live_data, recorded_data)
    return live_raw == recorded_raw


def json_body(live: Any, recorded: Any) -> None:
    """vcrpy matcher: bodies equal as JSON data, or byte for byte when either is not JSON."""
    live_data, recorded_data = parse_json_body(live.body), parse_json_body(recorded.body)
    live_raw, recorded_raw = _as_bytes(live.body), _as_bytes(recorded.body)
    if _bodies_match(live_data, live_raw, recorded_data, recorded_raw):
        return
    if live_data is not _MISSING and recorded_data is not _MISSING:
        raise AssertionError(first_difference(live_data, recorded_data) or "the JSON bodies differ")
    raise AssertionError(f"the bodies differ ({len(live_raw)} bytes here, {len(recorded_raw)} recorded)")


def api_path(path: str) -> str:
    """The part of a URL path the API routes on: from the last ``/v1/`` on (the whole path without one)."""
    index = path.rfind("/v1/")
    return path[index:] if index >= 0 else (path or "/")


def api_path_matcher(live: Any, recorded: Any) -> None:
    """vcrpy matcher: the same API path, whatever the base URL's host, port or path prefix."""
    if api_path(live.path) != api_path(recorded.path):
        raise AssertionError(f"{live.path} here, {recorded.path} recorded")


#: Query parameters that say which SDK sent a request rather than what it asks for.
IGNORED_QUERY_PARAMETERS = frozenset({"beta"})


def api_query(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A request's query parameters (as vcrpy's ``Request.query`` lists them) that say what it asks
    for: all but :data:`IGNORED_QUERY_PARAMETERS`."""
    return [pair for pair in pairs if pair[0] not in IGNORED_QUERY_PARAMETERS]


def api_query_matcher(live: Any, recorded: Any) -> None:
    """vcrpy matcher: the same query parameters, apart from :data:`IGNORED_QUERY_PARAMETERS`."""
    mine, theirs = api_query(live.query), api_query(recorded.query)
    if mine != theirs:
        raise AssertionError(f"query {mine} here, {theirs} recorded")


# -- the same match, without vcrpy's request objects (replay's fast path) --------------------------


class RequestKey:
    """What the matchers above compare of one request, worked out once.

    ``matches`` gives exactly the answer of vcrpy's ``requests_match`` with replay's matchers (method,
    :func:`api_path_matcher`, :func:`api_query_matcher`, :func:`json_body`) for two requests with
    these methods, URIs and bodies; a recorded request's key is kept for the session, so its URI and
    body are parsed once however many live requests are compared with it.
    """

    __slots__ = ("_data", "body", "method", "path", "query", "raw")

    def __init__(self, method: str, uri: str, body: Any) -> None:
        parsed = urlparse(uri)
        self.method = method
        self.path = api_path(parsed.path)
        self.query = api_query(sorted(parse_qsl(parsed.query)))  # (vcrpy's Request.query is sorted)
        self.body = body
        self.raw = _as_bytes(body)
        self._data: Any = _UNPARSED

    @property
    def data(self) -> Any:
        """The body parsed as JSON (parsed on first use: equal bytes need no parsing)."""
        if self._data is _UNPARSED:
            self._data = parse_json_body(self.body)
        return self._data

    def matches(self, recorded: RequestKey) -> bool:
        """Whether a live request with this key matches a recorded one with ``recorded``."""
        return (
            self.method == recorded.method
            and self.path == recorded.path
            and self.query == recorded.query
            # the same bytes are the same JSON data; only different bytes are parsed and compared
            and (self.raw == recorded.raw or _bodies_match(self.data, self.raw, recorded.data, recorded.raw))
        )
