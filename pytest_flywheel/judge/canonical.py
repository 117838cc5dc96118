"""Canonical JSON: one byte string per value, so that equal values hash equally on every machine.

Sorted keys, compact separators, UTF-8 text kept as is (``ensure_ascii=False``). Values that are not
JSON already (pydantic models, dataclasses, SDK objects, tuples, sets) are turned into JSON first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (dict, list, str, int, float, bool, None)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        # NaN and infinities are not JSON; spell them so they still hash and read distinctly
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, set | frozenset):
        items = [to_jsonable(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, ensure_ascii=False))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):  # pydantic models, Anthropic SDK objects
        return to_jsonable(model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    return repr(value)


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``."""
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_key(value: Any) -> str:
    """``"sha256:" + hex digest`` of the canonical JSON; the prefix names the algorithm."""
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
