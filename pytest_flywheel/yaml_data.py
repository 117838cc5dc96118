"""Building plain data (mappings, lists, text, numbers, booleans, nulls) from composed YAML nodes.

PyYAML's C parser composes a document's nodes quickly, then its generic constructor machinery builds
the values node by node in Python, which is most of the time of reading a cassette or a suite file.
Plain data is built here directly from the nodes; numbers, booleans and nulls by the reader's own
scalar constructors, so each keeps its reading rules (vcrpy's YAML 1.1, the suites' YAML 1.2). Anything
else (an explicit or unknown tag, a timestamp, a merge key, an anchor used twice) raises
:class:`NotPlainData`, and the reader builds that document its usual way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from yaml.constructor import BaseConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

STR_TAG = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"

ScalarConstructors = Mapping[str, Callable[[ScalarNode], Any]]
"""How a reader builds each scalar tag other than text (int, float, bool, null), by tag."""

_SCALAR_TAGS = (
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
)


def scalar_constructors(constructor: BaseConstructor) -> ScalarConstructors:
    """``constructor``'s own ways of building numbers, booleans and nulls (a PyYAML loader or
    constructor: whatever rules its class registered, YAML 1.1 or 1.2)."""
    table = type(constructor).yaml_constructors
    return {tag: functools.partial(table[tag], constructor) for tag in _SCALAR_TAGS}


class NotPlainData(Exception):
    """The document holds something the reader's own constructor must build."""


def build_plain_data(node: Node, scalars: ScalarConstructors) -> Any:
    """The value of ``node`` as plain data; raises :class:`NotPlainData` for anything else."""
    return _build(node, scalars, set())


def _build(node: Node, scalars: ScalarConstructors, seen: set[int]) -> Any:
    kind = type(node)
    if kind is ScalarNode:
        if node.tag == STR_TAG:
            return node.value
        construct = scalars.get(node.tag)
        if construct is None:
            raise NotPlainData(node.tag)
        return construct(node)  # type: ignore[arg-type]
    if id(node) in seen:  # an alias: the reader shares the value, and it may be recursive
        raise NotPlainData("alias")
    seen.add(id(node))
    if kind is MappingNode and node.tag == _MAP:
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                raise NotPlainData("merge key")
            mapping[_build(key_node, scalars, seen)] = _build(value_node, scalars, seen)
        return mapping
    if kind is SequenceNode and node.tag == _SEQ:
        return [_build(item, scalars, seen) for item in node.value]
    raise NotPlainData(node.tag)
