"""Making captured values JSON-safe, and keeping them under the payload limit.

:func:`json_safe` runs in the calling thread when a span opens or closes (arguments and return values
may be mutated later, so they are copied then); it never raises and its work is bounded
(:data:`MAX_NODES` values, :data:`MAX_DEPTH` levels). What JSON cannot hold is kept as a *marked
repr*: ``{"__flywheel_repr__": "<Foo object at ...>"}``.

:func:`bounded` runs in the writer thread: a value whose JSON is larger than the limit is replaced by
``{"__flywheel_truncated__": {"bytes": N, "limit": L}, "preview": "<the first part of its JSON>"}``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import math
import sys
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

REPR_KEY = "__flywheel_repr__"
TRUNCATED_KEY = "__flywheel_truncated__"
MAX_NODES = 10_000
MAX_DEPTH = 32
MAX_REPR_CHARS = 2_000
MAX_ITEMS = 1_000


def marked_repr(value: object) -> dict[str, str]:
    """``{"__flywheel_repr__": repr(value)}``, the repr cut to :data:`MAX_REPR_CHARS`."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ is the value's problem, not the agent's
        text = f"<{type(value).__qualname__} object (repr failed)>"
    if len(text) > MAX_REPR_CHARS:
        text = text[:MAX_REPR_CHARS] + "..."
    return {REPR_KEY: text}


_FLAT = frozenset({str, int, bool, type(None)})


def json_safe(value: Any, *, exclude_unset: bool = False) -> Any:
    """A JSON-safe copy of ``value``: plain dicts (string keys), lists, strings, numbers, bools, None.

    Pydantic models are dumped (``exclude_unset`` as the Anthropic SDK sends request models),
    dataclasses become dicts, enums their value, dates ISO strings; anything else a marked repr.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    # the common case, a flat list of strings or numbers: copied without the general walk
    if (kind is list or kind is tuple) and len(value) <= MAX_ITEMS and all(
            type(item) in _FLAT for item in value):
        return list(value)
    try:
        return _Converter(exclude_unset).convert(value, 0)
    except Exception:
        return marked_repr(value)


class _Converter:
    __slots__ = ("budget", "exclude_unset", "path")

    def __init__(self, exclude_unset: bool) -> None:
        self.budget = MAX_NODES
        self.exclude_unset = exclude_unset
        self.path: set[int] = set()  # ids of the containers being converted: a cycle is cut, not followed

    def convert(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is float:
            return value if math.isfinite(value) else repr(value)
        self.budget -= 1
        if self.budget < 0 or depth > MAX_DEPTH:
            return {TRUNCATED_KEY: {"reason": "too many values" if self.budget < 0 else "nested too deep"}}
        if kind is dict or kind is list or kind is tuple or isinstance(value, Mapping | list | tuple):
            return self._container(value, depth)
        if isinstance(value, enum.Enum):
            return self.convert(value.value, depth + 1)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, bool | int):
            return int(value)
        if isinstance(value, float):
            return self.convert(float(value), depth)
        if isinstance(value, set | frozenset):
            items = list(value)
            try:
                items.sort()
            except TypeError:
                pass
            return self._container(items, depth)
        dump = getattr(type(value), "model_dump", None)
        if dump is not None and hasattr(type(value), "model_fields"):  # a pydantic model, duck-typed
            mode_json = value.model_dump(mode="json", exclude_unset=self.exclude_unset)
            return self.convert(mode_json, depth + 1)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return self._container(fields, depth)
        if isinstance(value, _dt.datetime | _dt.date | _dt.time):
            return value.isoformat()
        if isinstance(value, PurePath):
            return str(value)
        uuid = sys.modules.get("uuid")  # a UUID exists only if uuid was imported: no need to import it here
        if uuid is not None and isinstance(value, uuid.UUID):
            return str(value)
        return marked_repr(value)

    def _container(self, value: Any, depth: int) -> Any:
        marker = id(value)
        if marker in self.path:
            return marked_repr(f"<cycle: {type(value).__qualname__}>")
        self.path.add(marker)
        try:
            if isinstance(value, Mapping):
                return {
                    (key if type(key) is str else _key(key)): self.convert(item, depth + 1)
                    for key, item in value.items()
                }
            converted = [self.convert(item, depth + 1) for item in value[:MAX_ITEMS]]
            if len(value) > MAX_ITEMS:
                converted.append({TRUNCATED_KEY: {"items_omitted": len(value) - MAX_ITEMS}})
            return converted
        finally:
            self.path.discard(marker)


def _key(key: Any) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    return key if isinstance(key, str) else repr(key)


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
