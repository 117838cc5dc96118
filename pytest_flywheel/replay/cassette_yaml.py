"""Reading cassette YAML: the values vcrpy's safe loader gives, through the project's one bounded reader.

vcrpy reads cassettes with a safe loader (``vcr.serializers.yamlserializer``): YAML 1.1 plain scalars
(``yes`` is true, ``0x1f`` is 31, ``1:20`` is 80), the standard tags (``!!binary`` bodies, timestamps,
sets, ordered maps) and a few Python tags old cassettes hold (``!!python/tuple``, ``!!python/str``, a
pickled ``BytesIO`` or ``iter`` request body). :data:`CASSETTE_DIALECT` reads exactly those, with
PyYAML's own scalar constructors, so each value is what vcrpy builds (a differential test against
``yamlserializer.deserialize`` checks every cassette in the shared corpus and in the tests).

Where it differs it refuses: an alias bomb, a value that contains itself, a tag vcrpy would not read
either; each as a :class:`~pytest_flywheel.yaml_reader.YAMLReadError` naming the line.
"""

from __future__ import annotations

import functools
from io import BytesIO
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from pytest_flywheel.yaml_reader import (
    DEFAULT_LIMITS,
    Dialect,
    ScalarBuilder,
    YAMLDocument,
    YAMLLimits,
    read_yaml,
)

_YAML = "tag:yaml.org,2002:"
_PYTHON = "tag:yaml.org,2002:python/"


def _safe_scalars() -> dict[str, ScalarBuilder]:
    """PyYAML's safe constructors of scalar tags, each as a function of the scalar's text."""
    constructor = SafeConstructor()
    table = type(constructor).yaml_constructors

    def build(tag: str, text: str) -> Any:
        return table[tag](constructor, ScalarNode(tag, text))

    tags = ("null", "bool", "int", "float", "binary", "timestamp")
    return {_YAML + name: functools.partial(build, _YAML + name) for name in tags}


def _pairs(items: list[Any]) -> list[tuple[Any, Any]]:
    """``!!omap`` / ``!!pairs``: a list of one-entry mappings as a list of (key, value)."""
    pairs: list[tuple[Any, Any]] = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError("expected a list of one-entry mappings")
        pairs.extend(item.items())
    return pairs


def _set(mapping: dict[Any, Any]) -> set[Any]:
    return set(mapping)


def _bytes_io(mapping: dict[Any, Any]) -> BytesIO:
    # vcrpy's reading of a pickled BytesIO body: the buffer's content, nothing else of the pickle
    state = mapping.get("state") or (b"",)
    data = state[0] if state else b""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return BytesIO(data or b"")


def _iter(mapping: dict[Any, Any]) -> Any:
    args: Any = mapping.get("args") or ([],)
    return iter(args[0] if args else [])


CASSETTE_DIALECT = Dialect(
    name="cassette (vcrpy's safe loader, YAML 1.1)",
    resolvers={
        first: [(tag, pattern) for tag, pattern in entries]
        for first, entries in Resolver.yaml_implicit_resolvers.items()
        if first is not None
    },
    scalars={**_safe_scalars(), _PYTHON + "str": str, _PYTHON + "unicode": str},
    sequences={_PYTHON + "tuple": tuple, _YAML + "omap": _pairs, _YAML + "pairs": _pairs},
    mappings={
        _YAML + "set": _set,
        _PYTHON + "object/new:_io.BytesIO": _bytes_io,
        _PYTHON + "object/apply:builtins.iter": _iter,
    },
    tag_advice="vcrpy's safe loader does not read it either: record the cassette again",
)


def read_cassette_yaml(text: str, *, source: str, limits: YAMLLimits = DEFAULT_LIMITS) -> YAMLDocument:
    """``text`` (the file ``source``) as vcrpy's safe loader reads it, with the line of every entry.

    Raises :class:`~pytest_flywheel.yaml_reader.YAMLReadError` (``source:line: what is wrong``).
    """
    return read_yaml(text, source=source, dialect=CASSETTE_DIALECT, limits=limits)
