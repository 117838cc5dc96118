"""Reading cassette YAML fast, with exactly the result of vcrpy's own safe loader.

vcrpy's loader parses and composes with libyaml (C), then builds the Python values node by node
through PyYAML's generic constructor machinery, which is most of the time of opening a small cassette.
A cassette is plain data: mappings, lists, strings, numbers, booleans and nulls. Those are built here
directly from the composed nodes (numbers, booleans and nulls by PyYAML's own scalar constructors, so
``0x1f``, ``1_000``, ``yes`` or ``.inf`` read as they always did). A document holding anything else
(``!!binary`` bodies, timestamps, vcrpy's Python tags, merge keys, anchors used twice) is read again
by vcrpy's loader, as is one whose values cannot be built here: whatever it returns or raises is the
answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

_scalar_constructor = yaml.constructor.SafeConstructor()
_SCALARS: dict[str, Callable[[ScalarNode], Any]] = {
    "tag:yaml.org,2002:int": _scalar_constructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _scalar_constructor.construct_yaml_float,
    "tag:yaml.org,2002:bool": _scalar_constructor.construct_yaml_bool,
    "tag:yaml.org,2002:null": _scalar_constructor.construct_yaml_null,
}


class _NotPlainData(Exception):
    """The document holds something only vcrpy's loader builds."""


def _build(node: Node, seen: set[int]) -> Any:
    kind = type(node)
    if kind is ScalarNode:
        if node.tag == _STR:
            return node.value
        construct = _SCALARS.get(node.tag)
        if construct is None:
            raise _NotPlainData(node.tag)
        return construct(node)  # type: ignore[arg-type]
    if id(node) in seen:  # an alias: vcrpy's loader shares the value, and may be recursive
        raise _NotPlainData("alias")
    seen.add(id(node))
    if kind is MappingNode and node.tag == _MAP:
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _NotPlainData("merge key")
            mapping[_build(key_node, seen)] = _build(value_node, seen)
        return mapping
    if kind is SequenceNode and node.tag == _SEQ:
        return [_build(item, seen) for item in node.value]
    raise _NotPlainData(node.tag)


def load_cassette_yaml(text: str) -> Any:
    """``text`` as vcrpy's safe cassette loader reads it (same values, same errors)."""
    from vcr.serializers import yamlserializer

    loader = yamlserializer._CassetteLoader(text)
    try:
        node = loader.get_single_node()  # a syntax error is raised here, as by vcrpy's loader
    finally:
        loader.dispose()
    if node is None:
        return None
    try:
        return _build(node, set())
    except Exception:  # not plain data, or a value PyYAML would build otherwise: let vcrpy read it
        return yamlserializer.deserialize(text)
