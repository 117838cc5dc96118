"""The one conversion of Python values to JSON data, and the one canonical JSON text.

:func:`json_data` turns any value into plain JSON data (dicts with text keys, lists, text, numbers,
booleans, None) by the same rules everywhere: a traced span's arguments and output, a tool result
written to a cassette, a case's output and trajectory in a report, a verdict key.

* pydantic models are dumped (their fields, then these rules), dataclasses become dicts of their fields, enums their
  value, dates and times ISO 8601 text, paths and UUIDs text;
* tuples become lists; sets become lists **sorted by each item's canonical JSON**, so that their order
  does not depend on ``PYTHONHASHSEED``;
* floats that JSON cannot hold (NaN, infinities) become their repr (``"nan"``), so they still hash;
* anything else becomes a *marked repr*, ``{"__flywheel_repr__": "<Foo ...>"}``, and a cycle a marked
  ``<cycle: T>``.

``json_data(value, bounded=True)`` (what tracing uses) also bounds the work: at most
:data:`MAX_NODES` values, :data:`MAX_DEPTH` levels and :data:`MAX_ITEMS` items a list, the rest
replaced by ``{"__flywheel_truncated__": {...}}`` markers. It never raises.

:func:`canonical_json` is the text that keys hash: sorted keys, compact separators, UTF-8 kept as is.
A value whose text would change from one run to the next (a marked repr holding a memory address, such
as ``<Foo object at 0x7f...>``) raises :class:`UnstableValueError` naming where it is, instead of
giving a key that is never found again.

Standard library only: production code (tracing) imports it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from pytest_flywheel.errors import FlywheelError

REPR_KEY = "__flywheel_repr__"
TRUNCATED_KEY = "__flywheel_truncated__"
MAX_NODES = 10_000
MAX_DEPTH = 32
MAX_REPR_CHARS = 2_000
MAX_ITEMS = 1_000

#: A memory address in a repr (``<Foo object at 0x7f3a...>``): different in every process.
ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]{4,}")

_FLAT = frozenset({str, int, bool, type(None)})


class UnstableValueError(FlywheelError):
    """A value whose JSON text changes from run to run, so no key made from it is ever found again."""

    def __init__(self, where: str, shown: str) -> None:
        super().__init__(
            f"{where} holds {shown}, whose text changes on every run (it holds a memory address), so a "
            "verdict judged for it could never be found again; return JSON data (dicts, lists, text, "
            "numbers), a dataclass or a pydantic model, or give that type a __repr__ without an address"
        )
        self.where = where
        self.shown = shown


def marked_repr(value: object) -> dict[str, str]:
    """``{"__flywheel_repr__": repr(value)}``, the repr cut to :data:`MAX_REPR_CHARS`."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ is the value's problem, not the caller's
        text = f"<{type(value).__qualname__} object (repr failed)>"
    if len(text) > MAX_REPR_CHARS:
        text = text[:MAX_REPR_CHARS] + "..."
    return {REPR_KEY: text}


def json_data(value: Any, *, bounded: bool = False, exclude_unset: bool = False) -> Any:
    """``value`` as plain JSON data (see the module docstring); never raises.

    ``exclude_unset`` dumps pydantic models as the Anthropic SDK sends request models (fields that
    were never set left out).
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    # the common case, a flat list of strings or numbers: copied without the general walk
    if (kind is list or kind is tuple) and (not bounded or len(value) <= MAX_ITEMS) and all(
        type(item) in _FLAT for item in value
    ):
        return list(value)
    try:
        return _Converter(bounded, exclude_unset).convert(value, 0)
    except Exception:
        return marked_repr(value)


class _Converter:
    __slots__ = ("bounded", "budget", "exclude_unset", "path")

    def __init__(self, bounded: bool, exclude_unset: bool) -> None:
        self.bounded = bounded
        self.budget = MAX_NODES
        self.exclude_unset = exclude_unset
        self.path: set[int] = set()  # ids of the containers being converted: a cycle is cut, not followed

    def convert(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is float:
            return value if math.isfinite(value) else repr(value)
        if self.bounded:
            self.budget -= 1
            if self.budget < 0 or depth > MAX_DEPTH:
                return {TRUNCATED_KEY: {"reason": "too many values" if self.budget < 0 else "nested too deep"}}
        elif depth > 1000:  # deeper than any JSON parser reads back
            return {TRUNCATED_KEY: {"reason": "nested too deep"}}
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
            return self._set(value, depth)
        dump = getattr(type(value), "model_dump", None)
        if dump is not None and hasattr(type(value), "model_fields"):  # a pydantic model, duck-typed
            # Python mode keeps sets as sets (JSON mode would list them in hash order) and leaves
            # what pydantic does not know to the rules here.
            try:
                dumped = value.model_dump(mode="python", exclude_unset=self.exclude_unset)
            except Exception:
                dumped = value.model_dump(mode="json", exclude_unset=self.exclude_unset)
            return self.convert(dumped, depth + 1)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
            return self._container(fields, depth)
        if isinstance(value, _dt.datetime | _dt.date | _dt.time):
            return value.isoformat()
        if isinstance(value, PurePath):
            return str(value)
        uuid = sys.modules.get("uuid")  # a UUID exists only if uuid was imported: no need to import it
        if uuid is not None and isinstance(value, uuid.UUID):
            return str(value)
        return marked_repr(value)

    def _set(self, value: set[Any] | frozenset[Any], depth: int) -> list[Any]:
        marker = id(value)
        if marker in self.path:
            return [marked_repr(f"<cycle: {type(value).__qualname__}>")]
        self.path.add(marker)
        try:
            items = [self.convert(item, depth + 1) for item in value]
        finally:
            self.path.discard(marker)
        items.sort(key=_sort_text)
        if self.bounded and len(items) > MAX_ITEMS:
            omitted = len(items) - MAX_ITEMS
            return [*items[:MAX_ITEMS], {TRUNCATED_KEY: {"items_omitted": omitted}}]
        return items

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
            if self.bounded and len(value) > MAX_ITEMS:
                converted = [self.convert(item, depth + 1) for item in value[:MAX_ITEMS]]
                converted.append({TRUNCATED_KEY: {"items_omitted": len(value) - MAX_ITEMS}})
                return converted
            return [self.convert(item, depth + 1) for item in value]
        finally:
            self.path.discard(marker)


def _key(key: Any) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, bool) or key is None:
        return json.dumps(key)  # true / false / null, as json.dumps spells such keys
    if isinstance(key, int | float):
        return json.dumps(key) if not isinstance(key, float) or math.isfinite(key) else repr(key)
    return repr(key)


def _sort_text(item: Any) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any, *, where: str = "the value") -> str:
    """The canonical JSON text of ``value``: sorted keys, compact, UTF-8 kept as is.

    Raises :class:`UnstableValueError` (naming ``where`` and the path inside it) when the text would
    differ between two runs of the same program.
    """
    try:
        # plain JSON data (the usual case: outputs and trajectories were converted already) goes
        # straight through the C encoder
        text = _CANONICAL.encode(value)
    except (TypeError, ValueError):
        text = _CANONICAL.encode(json_data(value))
    if REPR_KEY in text:
        _check_stable(json_data(value), where)
    return text


def _check_stable(data: Any, where: str) -> None:
    stack: list[tuple[Any, str]] = [(data, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            shown = node.get(REPR_KEY)
            if isinstance(shown, str) and ADDRESS.search(shown):
                raise UnstableValueError(path, shown if len(shown) <= 120 else shown[:117] + "...")
            stack.extend((item, f"{path}[{json.dumps(key, ensure_ascii=False)}]") for key, item in node.items())
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(node))


def sha256_key(value: Any, *, where: str = "the value") -> str:
    """``"sha256:" + hex digest`` of :func:`canonical_json`; the prefix names the algorithm."""
    return "sha256:" + hashlib.sha256(canonical_json(value, where=where).encode("utf-8")).hexdigest()
