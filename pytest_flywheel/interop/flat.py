"""Flattened attribute lists (``llm.input_messages.0.message.role``) turned back into nested data."""

from __future__ import annotations

import json
from typing import Any


def parse_json_text(value: Any) -> Any:
    """A string that holds a JSON object or array, parsed; anything else as it is."""
    if isinstance(value, str):
        text = value.lstrip()
        if text[:1] in ("{", "["):
            try:
                return json.loads(value)
            except ValueError:
                return value
    return value


def unflatten(attributes: dict[str, Any], prefix: str) -> list[Any]:
    """The items under ``prefix`` (which ends with a dot), e.g. ``gen_ai.prompt.``: keys
    ``prefix.N.a.b`` become ``items[N]["a"]["b"]``; numeric segments further in become lists too."""
    root: dict[Any, Any] = {}
    size = len(prefix)
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        node = root
        parts = key[size:].split(".")
        for index, part in enumerate(parts):
            step: Any = int(part) if part.isdigit() else part
            if index == len(parts) - 1:
                node[step] = value
            else:
                child = node.get(step)
                if not isinstance(child, dict):
                    child = node[step] = {}
                node = child
    result = _listify(root)
    return result if isinstance(result, list) else []


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(isinstance(key, int) for key in converted):
        return [converted[key] for key in sorted(converted)]
    return converted


def has_prefix(attributes: dict[str, Any], prefix: str) -> bool:
    return any(key.startswith(prefix) for key in attributes)
