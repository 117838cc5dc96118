"""Editing suite files in place: ruamel.yaml round-trip, so comments, key order and hand edits survive.

Writes are atomic: the new text goes to a temporary file in the same folder, which is then renamed over
the old one, so a reader (or a crash) never sees half a suite.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import LiteralScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.suites.models import SUITE_FORMAT_VERSION

_DEFAULT_INDENT = (2, 4, 2)  # mapping, sequence, dash offset: "cases:\n  - id: ..."


class _SuiteRepresenter(RoundTripRepresenter):
    """ruamel's round-trip representer, but ``None`` is written ``null``: a bare ``customer_id:`` reads
    like a value someone forgot, and ``null`` written by hand would otherwise come back empty."""


def _represent_none(representer: RoundTripRepresenter, data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


_SuiteRepresenter.add_representer(type(None), _represent_none)


def _yaml() -> YAML:
    yaml = YAML()  # round-trip, YAML 1.2
    yaml.Representer = _SuiteRepresenter
    yaml.preserve_quotes = True
    yaml.width = 4096  # long sentences stay on one line: cleaner diffs
    mapping, sequence, offset = _DEFAULT_INDENT
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _literal_ok(text: str) -> bool:
    """A multi-line string that a ``|`` block keeps exactly (no trailing spaces, tabs or CRs)."""
    if "\n" not in text or "\r" in text or "\t" in text:
        return False
    return all(line == line.rstrip(" ") for line in text.split("\n")) and not text.startswith((" ", "\n"))


def to_yaml_node(value: Any, *, key: str | None = None) -> Any:
    """Plain data as ruamel nodes laid out for people: block mappings, ``|`` blocks for multi-line text,
    tags in one flow list."""
    if isinstance(value, dict):
        mapping = CommentedMap()
        for name, item in value.items():
            mapping[name] = to_yaml_node(item, key=name)
        return mapping
    if isinstance(value, list):
        seq = CommentedSeq(to_yaml_node(item) for item in value)
        if key == "tags":
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and _literal_ok(value):
        return LiteralScalarString(value)
    return value


def _last_position(node: Any) -> tuple[Any, Any] | None:
    """The deepest (container, key or index) on the path of last entries, where ruamel keeps the comment
    lines that follow a node."""
    found: tuple[Any, Any] | None = None
    while isinstance(node, CommentedMap | CommentedSeq) and len(node):
        last = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        found = (node, last)
        node = node[last]
    return found


def _carry_trailing_comment(old: Any, new: Any) -> None:
    """Comments after a replaced case (often the end of the file) move to the case that replaces it."""
    source, target = _last_position(old), _last_position(new)
    if source is None or target is None or type(source[0]) is not type(target[0]):
        return
    entry = source[0].ca.items.get(source[1])
    if entry is not None:
        target[0].ca.items[target[1]] = entry


class SuiteDocument:
    """A suite file open for editing. Read with :meth:`read` or start with :meth:`new`; :meth:`dumps` the text."""

    def __init__(self, path: Path, data: CommentedMap, yaml: YAML) -> None:
        self.path = path
        self.data = data
        self._yaml = yaml

    @classmethod
    def read(cls, path: Path) -> SuiteDocument:
        """Open an existing suite file (already validated: see ``load_suite``), keeping its indentation."""
        yaml = _yaml()
        text = path.read_text(encoding="utf-8-sig")
        try:
            data, indent, dash_offset = load_yaml_guess_indent(text, yaml=yaml)
        except YAMLError as exc:
            raise FlywheelError(f"{path}: cannot be edited: {exc}") from None
        if not isinstance(data, CommentedMap):
            raise FlywheelError(f"{path}: cannot be edited: expected a mapping at the top")
        if indent is not None and dash_offset is not None:
            yaml.indent(mapping=max(2, indent - dash_offset), sequence=indent, offset=dash_offset)
        return cls(path, data, yaml)

    @classmethod
    def new(cls, path: Path, *, name: str, target: str | None, description: str | None) -> SuiteDocument:
        data = CommentedMap()
        data["version"] = SUITE_FORMAT_VERSION
        data["name"] = name
        if description:
            data["description"] = description
        if target:
            data["target"] = target
        data["cases"] = CommentedSeq()
        data.yaml_set_start_comment(
            f"pytest-flywheel suite. Run it with: pytest --flywheel-suite={name}\n"
            "Each case calls the target with its input and checks every assertion on the result."
        )
        return cls(path, data, _yaml())

    @property
    def cases(self) -> CommentedSeq:
        cases = self.data.get("cases")
        if not isinstance(cases, CommentedSeq):
            cases = CommentedSeq()
            self.data["cases"] = cases  # `cases:` left empty: start the list
        if cases.fa.flow_style() or not cases:
            cases.fa.set_block_style()  # `cases: []` grows into a block list, one case per item
        return cases

    def case_index(self, case_id: str) -> int | None:
        for index, case in enumerate(self.data.get("cases") or []):
            if isinstance(case, dict) and case.get("id") == case_id:
                return index
        return None

    def put_case(self, case: dict[str, Any], *, replace_index: int | None = None) -> None:
        """Append a case, or put it in the place of the case at ``replace_index``."""
        node = to_yaml_node(case)
        if replace_index is None:
            self.cases.append(node)
        else:
            _carry_trailing_comment(self.cases[replace_index], node)
            self.cases[replace_index] = node

    def update_case(self, index: int, values: dict[str, Any], *, remove: tuple[str, ...] = ()) -> None:
        """Set ``values`` on the case at ``index`` in place and drop the keys in ``remove``: the keys it
        keeps keep their place and their comments."""
        node = self.cases[index]
        if not isinstance(node, CommentedMap):
            self.put_case(values, replace_index=index)
            return
        for key in remove:
            if key not in values:
                node.pop(key, None)
        for key, value in values.items():
            new = to_yaml_node(value, key=key)
            if key in node:
                _carry_trailing_comment(node[key], new)
            node[key] = new

    def set_target(self, target: str) -> None:
        if "target" in self.data:
            self.data["target"] = target
        else:
            self.data.insert(
                min(len(self.data), self._position_after("description", "name")), "target", target
            )

    def _position_after(self, *keys: str) -> int:
        names = list(self.data)
        for key in keys:
            if key in names:
                return names.index(key) + 1
        return len(names)

    def dumps(self) -> str:
        buffer = io.StringIO()
        self._yaml.dump(self.data, buffer)
        return buffer.getvalue()


def dump_document(data: dict[str, Any], *, comment: str | None = None) -> str:
    """Plain data as a YAML document laid out as suite files are (block mappings, ``|`` blocks for
    multi-line text, tags in one flow list), with ``comment`` lines at the top; for other reviewable
    files of the corpus (proposed cases)."""
    node = to_yaml_node(data)
    if comment:
        node.yaml_set_start_comment(comment)
    buffer = io.StringIO()
    _yaml().dump(node, buffer)
    return buffer.getvalue()
