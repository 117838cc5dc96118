"""Keeping captured values under the payload limit, and scrubbed of secrets.

Values are made JSON-safe in the calling thread when a span opens or closes, by
:func:`pytest_flywheel.canonical.json_data` with ``bounded=True`` (arguments and return values may be
mutated later, so they are copied then; the work is bounded and never raises).

:func:`stored` runs in the writer thread: the value as the store keeps it. A value whose JSON is larger
than the limit is replaced by
``{"__flywheel_truncated__": {"bytes": N, "limit": L}, "preview": "<the first part of its JSON>"}``
(:func:`bounded`), and secrets are scrubbed by the project's redactor, with one look at the value's JSON
text deciding whether there is anything to scrub at all.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pytest_flywheel.canonical import TRUNCATED_KEY

if TYPE_CHECKING:
    from pytest_flywheel.redaction import Redactor

_SCALARS = frozenset({int, float, bool, type(None)})


def stored(value: Any, max_bytes: int, redactor: Redactor) -> Any:
    """``value`` as the store keeps it: within ``max_bytes`` (see :func:`bounded`), secrets scrubbed.

    ``value`` itself when nothing needed changing. A value cut to a preview is scrubbed whole first:
    in the cut JSON text a credential-like key no longer reads as one.
    """
    kind = type(value)
    if kind in _SCALARS or ((kind is dict or kind is list) and not value):
        return value
    if kind is str and len(value) * 6 + 2 <= max_bytes:  # JSON escapes at most 6 bytes a char
        return redactor.text(_utf8(value))
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates: repaired, so that SQLite takes the batch
        text = text.encode("utf-8", "replace").decode("utf-8")
        value = json.loads(text)
        size = len(text.encode("utf-8"))
    if size > max_bytes:
        return bounded(redactor.value(value), max_bytes)
    if redactor.clean_json_text(text):  # the one look at the text: most values end here
        return value
    return redactor.value(value)


def _utf8(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


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
