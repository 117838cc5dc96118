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

from typing import Any

import yaml

from pytest_flywheel.yaml_data import build_plain_data, scalar_constructors

# vcrpy's loader is a safe loader: YAML 1.1 numbers, booleans and nulls, as PyYAML builds them.
_SCALARS = scalar_constructors(yaml.constructor.SafeConstructor())


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
        return build_plain_data(node, _SCALARS)
    except Exception:  # NotPlainData, or a value PyYAML would build otherwise: let vcrpy read it
        return yamlserializer.deserialize(text)
