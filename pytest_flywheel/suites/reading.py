"""Reading a suite file fast, with the line of every key, under YAML 1.2 rules.

Suite files are *edited* with ruamel.yaml's round-trip mode (comments and order survive, see
:mod:`pytest_flywheel.suites.editing`), but reading one that way costs about a second per thousand cases.
A pytest run reads every suite it collects, so reading goes through the project's one bounded reader
(:mod:`pytest_flywheel.yaml_reader`, on libyaml's events): about fifteen times faster, with the line of
every key and item, and an alias bomb or a recursive alias refused with its line.

PyYAML resolves plain scalars by YAML 1.1 rules (``no`` is false, ``1:20`` is 80), ruamel.yaml by YAML
1.2 rules (both are strings) and ruamel writes them unquoted. :data:`SUITE_DIALECT` therefore resolves
by the YAML 1.2 rules ruamel uses, so what is written is what is read. Keys must be text and unique,
timestamps become ISO 8601 text, and no other tags are read: suite data is JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from pytest_flywheel.suites.errors import SuiteProblem
from pytest_flywheel.yaml_reader import (
    DEFAULT_LIMITS,
    MERGE_TAG,
    Dialect,
    PathKey,
    YAMLDocument,
    YAMLLimits,
    YAMLReadError,
    read_yaml,
    resolvers_by_first_character,
)

__all__ = ["SUITE_DIALECT", "PathKey", "parse_yaml"]

# The YAML 1.2 resolvers of ruamel.yaml (ruamel/yaml/resolver.py), the version it reads and writes.
_RESOLVERS_1_2: list[tuple[str, re.Pattern[str], list[str]]] = [
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    ),
    (
        "tag:yaml.org,2002:int",
        re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)$"),
        list("-+0123456789"),
    ),
    (MERGE_TAG, re.compile(r"^(?:<<)$"), ["<"]),
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    (
        "tag:yaml.org,2002:timestamp",
        re.compile(
            r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
            |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?
            (?:[Tt]|[\ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
            (?:[\ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
            re.X,
        ),
        list("0123456789"),
    ),
]


def _int_1_2(text: str) -> int:
    # YAML 1.2 spells octal 0o17; PyYAML's constructor only knows the 1.1 spelling 017.
    text = text.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if digits.startswith("0b"):
        return sign * int(digits[2:], 2)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    return sign * int(digits)  # YAML 1.2: a leading 0 is still decimal (010 is ten)


def _iso_time(text: str) -> str:
    """A timestamp as ISO 8601 text (suite data is JSON: inputs were JSON in the trace)."""
    value = _SAFE.construct_yaml_timestamp(yaml.ScalarNode(_TIMESTAMP, text))
    return str(value.isoformat()).replace("+00:00", "Z")


def _safe(tag: str) -> Callable[[str], Any]:
    method = type(_SAFE).yaml_constructors[tag]
    return lambda text: method(_SAFE, yaml.ScalarNode(tag, text))


_SAFE = SafeConstructor()
_TIMESTAMP = "tag:yaml.org,2002:timestamp"

SUITE_DIALECT = Dialect(
    name="suite file (YAML 1.2, as ruamel.yaml writes it)",
    resolvers=resolvers_by_first_character(_RESOLVERS_1_2),
    scalars={
        "tag:yaml.org,2002:int": _int_1_2,
        "tag:yaml.org,2002:float": _safe("tag:yaml.org,2002:float"),
        "tag:yaml.org,2002:bool": _safe("tag:yaml.org,2002:bool"),
        "tag:yaml.org,2002:null": _safe("tag:yaml.org,2002:null"),
        _TIMESTAMP: _iso_time,
    },
    strict_keys=True,
    tag_advice="a suite file holds JSON data (text, numbers, true/false, null, lists and mappings): "
    "remove the tag",
)


def parse_yaml(
    text: str, path: str, *, limits: YAMLLimits = DEFAULT_LIMITS
) -> tuple[YAMLDocument | None, list[SuiteProblem]]:
    """Parse ``text`` (the contents of ``path``); when it is not a usable document, None and the problems."""
    try:
        document = read_yaml(text, source=path, dialect=SUITE_DIALECT, limits=limits)
    except YAMLReadError as exc:
        return None, [
            SuiteProblem(path, problem.line, _field(problem.field), problem.message)
            for problem in exc.problems
        ]
    if document.positions is None and document.data is None:
        return None, [
            SuiteProblem(
                path, 1, "suite", "the file is empty; expected a mapping with version, name, target and cases"
            )
        ]
    return document, []


def _field(field: str | None) -> str:
    if field is None:
        return "yaml"  # the YAML itself: its syntax, an alias, a tag
    return field or "suite"
