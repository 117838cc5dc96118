"""Keeping captured values under the payload limit.

Values are made JSON-safe in the calling thread when a span opens or closes, by
:func:`pytest_flywheel.canonical.json_data` with ``bounded=True`` (arguments and return values may be
mutated later, so they are copied then; the work is bounded and never raises).

:func:`bounded` runs in the writer thread: a value whose JSON is larger than the limit is replaced by
``{"__flywheel_truncated__": {"bytes": N, "limit": L}, "preview": "<the first part of its JSON>"}``.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_flywheel.canonical import TRUNCATED_KEY


def bounded(value: Any, max_bytes: int) -> Any:
    """``value`` itself when its JSON (UTF-8) fits in ``max_bytes``, else a truncation marker.

    Strings that UTF-8 cannot encode (lone surrogates) are repaired on the way, so that one odd
    string never makes SQLite refuse a whole batch.
    """
    if value is None or value == {} or value == []:
        return value
    if type(value) is str and len(value) * 6 + 2 <= max_bytes:  # JSON escapes at most 6 bytes a char
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
        value = json.loads(text)
        size = len(text.encode("utf-8"))
    if size <= max_bytes:
        return value
    preview_chars = max(0, (max_bytes - 120) // 6)
    return {TRUNCATED_KEY: {"bytes": size, "limit": max_bytes}, "preview": text[:preview_chars]}


def is_truncated(value: Any) -> bool:
    """Whether ``value`` is a truncation marker left by :func:`bounded`."""
    return isinstance(value, dict) and TRUNCATED_KEY in value
