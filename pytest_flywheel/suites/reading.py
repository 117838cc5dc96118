"""Reading a suite file fast, with the line of every key, under YAML 1.2 rules.

Suite files are *edited* with ruamel.yaml's round-trip mode (comments and order survive, see
:mod:`pytest_flywheel.suites.editing`), but reading one that way costs about a second per thousand cases.
A pytest run reads every suite it collects, so reading goes through libyaml (PyYAML's C parser, which
vcrpy already depends on): about fifteen times faster, and its nodes still carry line numbers.

PyYAML resolves plain scalars by YAML 1.1 rules (``no`` is false, ``1:20`` is 80), ruamel.yaml by YAML
1.2 rules (both are strings) and ruamel writes them unquoted. :class:`SuiteYAMLLoader` therefore
resolves by the YAML 1.2 rules ruamel uses, so what is written is what is read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from pytest_flywheel.suites.errors import SuiteProblem
from pytest_flywheel.yaml_data import NotPlainData, build_plain_data, scalar_constructors

_BaseLoader: type[yaml.SafeLoader]
try:
    _BaseLoader = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml: slower, same results
    _BaseLoader = yaml.SafeLoader

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"

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
    (_MERGE, re.compile(r"^(?:<<)$"), ["<"]),
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


class SuiteYAMLLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """A safe loader (C parser when available) that resolves scalars by YAML 1.2 rules, like ruamel.yaml."""

    yaml_implicit_resolvers: dict[Any, Any] = {}

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        # YAML 1.2 spells octal 0o17; PyYAML's constructor only knows the 1.1 spelling 017.
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0b"):
            return sign * int(digits[2:], 2)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits)  # YAML 1.2: a leading 0 is still decimal (010 is ten)


for _tag, _regexp, _first in _RESOLVERS_1_2:
    SuiteYAMLLoader.add_implicit_resolver(_tag, _regexp, _first)
SuiteYAMLLoader.add_constructor("tag:yaml.org,2002:int", SuiteYAMLLoader.construct_yaml_int)


PathKey = str | int


@dataclass
class ParsedYAML:
    """A YAML document as plain JSON-like data, plus its node tree for line numbers."""

    data: Any
    root: yaml.Node

    def line_of(self, path: tuple[PathKey, ...]) -> int:
        """1-based line of the key (or list item) at ``path``; the nearest existing parent when it is absent."""
        node: yaml.Node = self.root
        line = node.start_mark.line
        for step in path:
            found = _child(node, step)
            if found is None:
                break
            anchor, node = found
            line = anchor.start_mark.line
        return line + 1


def _child(node: yaml.Node, step: PathKey) -> tuple[yaml.Node, yaml.Node] | None:
    """(the node to point at, the value node) for one step of a path."""
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        found: tuple[yaml.Node, yaml.Node] | None = None
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == step:
                found = (key, value)  # the last one wins, as in the constructed data
        return found
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        item = node.value[step]
        return item, item
    return None


def parse_yaml(text: str, path: str) -> tuple[ParsedYAML | None, list[SuiteProblem]]:
    """Parse ``text`` (the contents of ``path``); on a syntax error, no document and the problems."""
    loader = SuiteYAMLLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, [
                SuiteProblem(
                    path,
                    1,
                    "suite",
                    "the file is empty; expected a mapping with version, name, target and cases",
                )
            ]
        problems = list(_key_problems(root, path))
        if problems:
            return None, problems
        try:
            data = build_plain_data(root, scalar_constructors(loader))
        except NotPlainData:  # a timestamp, a tag, an alias, a merge key: the loader builds it
            data = to_plain(loader.construct_document(root))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or exc.context or "not valid YAML"
        if exc.context and exc.problem:
            what = f"{exc.problem} ({exc.context})"
        return None, [SuiteProblem(path, line, "yaml", f"not valid YAML: {what}")]
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        return None, [SuiteProblem(path, 1, "yaml", f"not valid YAML: {exc}")]
    finally:
        loader.dispose()
    return ParsedYAML(data=data, root=root), []


def _key_problems(root: yaml.Node, path: str) -> Iterator[SuiteProblem]:
    """Duplicate keys (PyYAML would silently keep the last) and keys that are not text."""
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    seen_nodes: set[int] = set()
    while stack:
        node, field = stack.pop()
        if id(node) in seen_nodes:  # an alias points back at a node already walked
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if key.tag == _MERGE:
                    stack.append((value, field))
                    continue
                if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
                    shown = (
                        key.value
                        if isinstance(key, yaml.ScalarNode)
                        else "a " + type(key).__name__[:-4].lower()
                    )
                    yield SuiteProblem(
                        path,
                        key.start_mark.line + 1,
                        field or "suite",
                        f"keys must be text, found {shown}; quote it",
                    )
                    continue
                child = f"{field}.{key.value}" if field else key.value
                if key.value in first_line:
                    yield SuiteProblem(
                        path,
                        key.start_mark.line + 1,
                        child,
                        f"duplicate key (first at line {first_line[key.value]}); keep one of them",
                    )
                else:
                    first_line[key.value] = key.start_mark.line + 1
                stack.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                stack.append((item, f"{field}[{index}]"))


def to_plain(value: Any) -> Any:
    """Times become ISO 8601 text (suite data is JSON: inputs were JSON in the trace)."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat().replace("+00:00", "Z")
    return value
