"""Which recorded request a missed one comes closest to, and where the two first differ.

A cassette miss points at the recorded request most like the one the agent made. Like vcrpy's own
``find_requests_with_most_matches``, the candidates are the recorded requests that pass the most of
replay's four matchers (method, API path, query, body; none passing is no candidate); among those,
the one whose body is most alike wins, the first in the cassette on a tie.

"Most alike" is :func:`closeness`: the share of two JSON bodies that is the same, found by walking
them side by side (dictionaries by key, lists by their common start and end and then by position,
strings by their common start and end, and the words their differing stretches still share) and
comparing whole subtrees with Python's own equality, so that what is equal costs one C-level
comparison and only what differs is looked into. It stands in
for ``difflib.SequenceMatcher(...).ratio()`` over the two bodies' canonical JSON text, which picks
the same request on the conversations agents send (tests/replay/test_closest.py checks that against
it) but is quadratic in the bodies' length: seconds to minutes per miss on a long conversation.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_flywheel.replay.matching import (
    ABSENT,
    MAX_DEPTH,
    Difference,
    RequestKey,
    _bodies_match,
    find_difference,
    json_equal,
)

# -- how alike two bodies are -------------------------------------------------------------------------


def _size(value: Any) -> int:
    """The length of a JSON value's compact text (what it weighs in a body)."""
    if value is ABSENT:
        return 0
    if isinstance(value, str):
        return len(value) + 2
    try:
        return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr))
    except (ValueError, RecursionError):
        return len(repr(value))


def common_prefix(one: Sequence[Any], other: Sequence[Any]) -> int:
    """How many leading items (characters) two sequences share: by halving, each step one C-level
    slice comparison, so a long shared start costs no Python loop over it."""
    low, high = 0, min(len(one), len(other))
    if one[:high] == other[:high]:
        return high
    while low < high:  # the shared start is at least low items long and at most high
        middle = (low + high + 1) // 2
        if one[low:middle] == other[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def common_suffix(one: Sequence[Any], other: Sequence[Any], limit: int) -> int:
    """How many trailing items two sequences share, at most ``limit`` (by halving, as above)."""
    high = min(len(one), len(other), limit)
    if high <= 0:
        return 0
    if one[len(one) - high :] == other[len(other) - high :]:
        return high
    low = 0
    while low < high:
        middle = (low + high + 1) // 2
        if one[len(one) - middle : len(one) - low] == other[len(other) - middle : len(other) - low]:
            low = middle
        else:
            high = middle - 1
    return low


_WORD = re.compile(r"\w+|[^\w\s]+")
#: How much of two differing stretches of text is looked at for words they share.
_WORDS_LOOKED_AT = 4096


def _shared_words(live: str, recorded: str) -> int:
    """How many characters of words the two texts share (as many times as both hold each word):
    what a character diff would still find in common between two texts that differ all along."""
    if not live or not recorded:
        return 0
    mine = Counter(_WORD.findall(live, 0, _WORDS_LOOKED_AT))
    theirs = Counter(_WORD.findall(recorded, 0, _WORDS_LOOKED_AT))
    return sum(len(word) * count for word, count in (mine & theirs).items())


def _distance(live: Any, recorded: Any, depth: int) -> int:
    """About how many characters of two JSON values' texts differ (0 when they are equal)."""
    if live is recorded:
        return 0
    same_kind = type(live) is type(recorded)
    if same_kind and not isinstance(live, dict) and live == recorded:
        return 0
    if depth > MAX_DEPTH:
        return _size(live) + _size(recorded)
    if isinstance(live, str) and isinstance(recorded, str):
        start = common_prefix(live, recorded)
        end = common_suffix(live, recorded, min(len(live), len(recorded)) - start)
        shared = _shared_words(live[start : len(live) - end], recorded[start : len(recorded) - end])
        return len(live) + len(recorded) - 2 * (start + end + shared)
    if isinstance(live, dict) and isinstance(recorded, dict):
        if live == recorded:
            return 0
        total = 0
        for key in live.keys() | recorded.keys():
            one, other = live.get(key), recorded.get(key)
            if one is None or other is None:  # absent, or null (which counts as absent)
                total += 0 if one is other else len(str(key)) + 4 + _size(one) + _size(other)
            else:
                total += _distance(one, other, depth + 1)
        return total
    if isinstance(live, list) and isinstance(recorded, list):
        start = common_prefix(live, recorded)
        end = common_suffix(live, recorded, min(len(live), len(recorded)) - start)
        middle_live, middle_recorded = live[start : len(live) - end], recorded[start : len(recorded) - end]
        total = sum(
            _distance(one, other, depth + 1) for one, other in zip(middle_live, middle_recorded, strict=False)
        )
        paired = min(len(middle_live), len(middle_recorded))
        return total + sum(_size(item) + 1 for item in middle_live[paired:] + middle_recorded[paired:])
    if not same_kind and json_equal(live, recorded):  # 1 and 1.0
        return 0
    return _size(live) + _size(recorded)


def closeness(live: Any, recorded: Any, *, total: int | None = None) -> float:
    """How alike two request bodies (JSON values, or text when not JSON) are, from 0 to 1.

    ``total`` is the length of the two bodies' texts together, when it is known (it is worked out
    otherwise)."""
    if total is None:
        total = _size(live) + _size(recorded)
    if total == 0:
        return 1.0
    try:
        distance = _distance(live, recorded, 0)
    except RecursionError:
        distance = total
    return max(0.0, 1.0 - distance / total)


# -- the closest recorded request ---------------------------------------------------------------------


@dataclass(frozen=True)
class Closest:
    """The recorded request closest to a live one: its ``index`` in the cassette, which of replay's
    matchers it fails (``method``, ``path``, ``query``, ``body``) and ``closeness`` of the bodies."""

    index: int
    failed: tuple[str, ...]
    closeness: float

    @property
    def matches(self) -> bool:
        """It passes every matcher: the live request is in the cassette (its response already played)."""
        return not self.failed


def _body_value(key: RequestKey) -> Any:
    return key.data if key.data is not ABSENT else key.raw.decode("utf-8", "replace")


def failed_matchers(live: RequestKey, recorded: RequestKey) -> tuple[str, ...]:
    """Which of replay's matchers a live request fails against a recorded one (none: they match)."""
    failed = []
    if live.method != recorded.method:
        failed.append("method")
    if live.path != recorded.path:
        failed.append("path")
    if live.query != recorded.query:
        failed.append("query")
    if not _bodies_match(live.data, live.raw, recorded.data, recorded.raw):
        failed.append("body")
    return tuple(failed)


def closest_request(live: RequestKey, recorded: Sequence[RequestKey]) -> Closest | None:
    """The recorded request closest to ``live`` (None when the cassette holds no request that passes
    any matcher). A recorded request that passes every matcher is returned at once."""
    fewest: int | None = None
    candidates: list[tuple[int, tuple[str, ...]]] = []
    for index, key in enumerate(recorded):
        failed = failed_matchers(live, key)
        if not failed:
            return Closest(index, failed, 1.0)
        if len(failed) == 4 or (fewest is not None and len(failed) > fewest):
            continue
        if fewest is None or len(failed) < fewest:
            fewest, candidates = len(failed), []
        candidates.append((index, failed))
    if not candidates:
        return None
    live_body = _body_value(live)
    best: Closest | None = None
    for index, failed in candidates:
        # The bodies' lengths as they were sent and recorded: no need to write them out again.
        total = len(live.raw) + len(recorded[index].raw)
        score = closeness(live_body, _body_value(recorded[index]), total=total)
        if best is None or score > best.closeness:
            best = Closest(index, failed, score)
    return best


@dataclass(frozen=True)
class Diagnosis:
    """Why a live request missed: the closest recorded request (``index`` in the cassette, None when
    none is like it), whether it is the very same request (``already_played``: its response was
    played already), where its body differs (``difference``), and what else differs (``mismatch``:
    ``the API path: /v1/complete here, /v1/messages recorded``)."""

    index: int | None
    already_played: bool = False
    difference: Difference | None = None
    mismatch: str | None = None


#: Top-level body keys looked at last for the first difference: a changed system prompt, tool or
#: parameter is what the whole case's requests share, so it is named before a message.
_LOOKED_AT_LAST = ("messages",)


def diagnose(
    live: RequestKey, recorded: Sequence[RequestKey], *, live_path: str, recorded_paths: Sequence[str]
) -> Diagnosis:
    """Why ``live`` matches none of ``recorded`` (the cassette's requests, in order); ``live_path`` and
    ``recorded_paths`` are the URL paths as sent, for the words."""
    closest = closest_request(live, recorded)
    if closest is None:
        return Diagnosis(None)
    if closest.matches:
        return Diagnosis(closest.index, already_played=True)
    other = recorded[closest.index]
    mismatches = []
    if "method" in closest.failed:
        mismatches.append(f"the method: {live.method} here, {other.method} recorded")
    if "path" in closest.failed:
        mismatches.append(f"the API path: {live_path} here, {recorded_paths[closest.index]} recorded")
    if "query" in closest.failed:
        mismatches.append(f"the query: {_query(live)} here, {_query(other)} recorded")
    difference = None
    if "body" in closest.failed:
        if live.data is not ABSENT and other.data is not ABSENT:
            difference = find_difference(live.data, other.data, last_keys=_LOOKED_AT_LAST)
        if difference is None:  # not both JSON: the texts
            difference = Difference("", _body_value(live), _body_value(other))
    return Diagnosis(closest.index, difference=difference, mismatch="; ".join(mismatches) or None)


def _query(key: RequestKey) -> str:
    return "?" + "&".join(f"{name}={value}" for name, value in key.query) if key.query else "(none)"
