"""The one YAML reader: suite files and cassettes, read strictly and within bounds.

Suite files and cassettes are committed by many hands, so a file may be hostile or just wrong. YAML
lets a few hundred bytes stand for a huge value (an alias repeats its anchor's whole value: eight
nested levels of ten aliases each are a hundred million copies in 637 bytes) or for a value that holds
itself (``&r [*r]``). This reader builds plain values straight from libyaml's events (PyYAML's C
parser; its pure-Python parser when PyYAML was built without libyaml), never composing a node tree, and
stops with a :class:`YAMLReadError` (``path:line: what is wrong``, then what to do) at:

* aliases that would repeat more than :attr:`YAMLLimits.max_alias_expansion` characters and values in
  all (what a reader of the value as a tree, such as validation, redaction or JSON, would walk);
* an alias inside its own anchor (a value that contains itself), an alias to no anchor, an anchor
  defined twice;
* nesting deeper than :attr:`YAMLLimits.max_depth` (libyaml itself stops at 1,000);
* a tag the dialect does not know, a value its tag cannot read (``!!int nope``), a mapping key that is
  not a scalar, a second document in the file.

An alias shares its anchor's value, as PyYAML does, so memory stays in proportion to the file. Peak
memory for any file under 1 MB stays well under 200 MB (measured in ``tests/test_yaml_reader.py``).

What plain scalars mean (``no``, ``010``, ``1:20``) and which tags exist is a :class:`Dialect`: cassettes
are read as vcrpy's safe loader reads them (YAML 1.1, see :mod:`pytest_flywheel.replay.cassette_yaml`),
suite files by the YAML 1.2 rules ruamel.yaml writes them with (:mod:`pytest_flywheel.suites.reading`).
A strict dialect (suites) also reports every duplicate key and every key that is not text.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from pytest_flywheel.errors import FlywheelError

STR_TAG = "tag:yaml.org,2002:str"
SEQ_TAG = "tag:yaml.org,2002:seq"
MAP_TAG = "tag:yaml.org,2002:map"
MERGE_TAG = "tag:yaml.org,2002:merge"
VALUE_TAG = "tag:yaml.org,2002:value"

PathKey = str | int

try:
    _EventSource: type[Any] = yaml.CBaseLoader
    _POSITIONS_IN_BYTES = True  # libyaml counts a reader error's position in UTF-8 bytes
except AttributeError:  # PyYAML built without libyaml: slower, same results
    _EventSource = yaml.BaseLoader
    _POSITIONS_IN_BYTES = False


@dataclass(frozen=True)
class YAMLLimits:
    """How far a document may go before it is refused."""

    #: what all aliases together may repeat: each value counts 1, and text its length too
    max_alias_expansion: int = 1_000_000
    #: collections inside collections
    max_depth: int = 100
    #: key problems collected in a strict document before reading stops
    max_problems: int = 100


DEFAULT_LIMITS = YAMLLimits()


@dataclass(frozen=True)
class YAMLProblem:
    """One thing wrong, at a 1-based line.

    ``field`` is where in the data, such as ``cases[2].input`` ('' for the top level), or None for a
    problem of the YAML itself (its syntax, an alias, a tag).
    """

    line: int
    field: str | None
    message: str


class YAMLReadError(FlywheelError, ValueError):
    """A file that is not YAML this project reads; ``str()`` is one ``path:line: what is wrong`` a line."""

    def __init__(self, source: str, problems: Sequence[YAMLProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(
            "\n".join(
                f"{source}:{problem.line}: {problem.field + ': ' if problem.field else ''}{problem.message}"
                for problem in self.problems
            )
        )

    @property
    def line(self) -> int:
        return self.problems[0].line


class _Refused(Exception):
    """Reading stops here: ``line`` is 0-based."""

    def __init__(self, line: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.field = field


ScalarBuilder = Callable[[str], Any]
"""Builds a scalar's value from its text; raises (anything) when the text is not valid for its tag."""
CollectionBuilder = Callable[[Any], Any]
"""Turns a built list (a sequence tag) or dict (a mapping tag) into the tag's value."""


@dataclass(frozen=True)
class Dialect:
    """How one kind of file reads: plain-scalar resolution, the tags it knows, how strict keys are."""

    name: str
    #: implicit resolvers by a scalar's first character ('' for the empty scalar): [(tag, pattern)]
    resolvers: Mapping[str, Sequence[tuple[str, re.Pattern[str]]]]
    #: scalar tags (implicit or explicit) other than text; text is built as it is
    scalars: Mapping[str, ScalarBuilder]
    #: explicit sequence tags other than ``!!seq``
    sequences: Mapping[str, CollectionBuilder] = field(default_factory=dict)
    #: explicit mapping tags other than ``!!map``
    mappings: Mapping[str, CollectionBuilder] = field(default_factory=dict)
    #: keys must be text and unique (each problem reported); otherwise any scalar, the last one wins
    strict_keys: bool = False
    #: what to tell the user about a tag this dialect does not know
    tag_advice: str = "remove the tag"


def resolvers_by_first_character(
    resolvers: Sequence[tuple[str, re.Pattern[str], Sequence[str]]],
) -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """``[(tag, pattern, first characters)]`` (PyYAML's ``add_implicit_resolver`` arguments) as a table."""
    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for tag, pattern, first in resolvers:
        for character in first:
            table.setdefault(character, []).append((tag, pattern))
    return table


class Positions:
    """Where a collection's entries start: the line of each key (mapping) or item (sequence)."""

    __slots__ = ("children", "lines", "start")

    def __init__(self, start: int, lines: dict[Any, int] | array[int]) -> None:
        self.start = start
        self.lines = lines
        self.children: dict[Any, Positions] = {}


@dataclass
class YAMLDocument:
    """A document's plain value and the lines of its entries (``None`` value: an empty file)."""

    data: Any
    positions: Positions | None

    def line_of(self, path: Sequence[PathKey]) -> int:
        """1-based line of the key (or list item) at ``path``; the nearest existing parent's when absent."""
        positions = self.positions
        if positions is None:
            return 1
        line = positions.start
        for step in path:
            lines = positions.lines
            if isinstance(lines, dict):
                if isinstance(step, bool) or step not in lines:
                    break
                line = lines[step]
            elif isinstance(step, int) and 0 <= step < len(lines):
                line = lines[step]
            else:
                break
            child = positions.children.get(step)
            if child is None:
                break
            positions = child
        return line + 1


def read_yaml(
    text: str, *, source: str, dialect: Dialect, limits: YAMLLimits = DEFAULT_LIMITS
) -> YAMLDocument:
    """Read ``text`` (the contents of ``source``, as errors name it) as one YAML document.

    Raises :class:`YAMLReadError` listing what is wrong, each problem with its line.
    """
    events = _EventSource(text)
    builder = _Builder(dialect, limits)
    try:
        return builder.document(events.get_event)
    except _Refused as refused:
        raise YAMLReadError(source, [YAMLProblem(refused.line + 1, refused.field, refused.message)]) from None
    except _Problems as found:  # a strict document's key problems, every one
        raise YAMLReadError(source, found.problems) from None
    except yaml.MarkedYAMLError as exc:
        raise YAMLReadError(source, [_syntax_problem(exc)]) from None
    except yaml.reader.ReaderError as exc:
        line = _line_at(text, exc.position)
        raise YAMLReadError(
            source, [YAMLProblem(line, None, f"not valid YAML: {_reader_problem(exc)}; remove or escape it")]
        ) from None
    except UnicodeEncodeError as exc:  # a lone surrogate: text that did not come from a UTF-8 file
        line = text.count("\n", 0, exc.start) + 1
        raise YAMLReadError(
            source, [YAMLProblem(line, None, "not valid YAML: text that is not Unicode")]
        ) from None
    finally:
        events.dispose()


def _syntax_problem(exc: yaml.MarkedYAMLError) -> YAMLProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    what = exc.problem or exc.context or "not valid YAML"
    if exc.context and exc.problem:
        what = f"{exc.problem} ({exc.context})"
    return YAMLProblem(line, None, f"not valid YAML: {what}")


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    character = exc.character
    code = character if isinstance(character, int) else ord(character) if character else 0
    return f"the character U+{code:04X} is not allowed in YAML"


def _line_at(text: str, position: int) -> int:
    if _POSITIONS_IN_BYTES:
        return text.encode("utf-8", "surrogatepass")[:position].count(b"\n") + 1
    return text.count("\n", 0, position) + 1


def describe(value: Any) -> str:
    """A short phrase for a value in a message."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    return f"{type(value).__name__} {value!r}"[:60]


_NO_KEY = object()
_MERGE = object()  # the value of a plain `<<`
_VALUE = object()  # the value of a plain `=` (YAML 1.1's value key)


class _Frame:
    """A collection being built."""

    __slots__ = (
        "anchor",
        "container",
        "is_map",
        "key",
        "key_line",
        "key_text",
        "line",
        "merges",
        "positions",
        "seen",
        "size",
        "tag",
    )

    def __init__(self, is_map: bool, line: int, tag: str | None, anchor: str | None) -> None:
        self.is_map = is_map
        self.line = line
        self.tag = tag
        self.anchor = anchor
        self.size = 1
        self.container: Any = {} if is_map else []
        self.positions = Positions(line, {} if is_map else array("l"))
        self.key: Any = _NO_KEY
        self.key_line = line
        self.key_text: str | None = None
        self.merges: list[tuple[dict[Any, Any], Positions | None]] | None = None
        self.seen: dict[Any, int] | None = {} if is_map else None


class _Builder:
    def __init__(self, dialect: Dialect, limits: YAMLLimits) -> None:
        self.dialect = dialect
        self.limits = limits
        self.stack: list[_Frame] = []
        #: anchor name -> (value, expanded size, positions, line)
        self.anchors: dict[str, tuple[Any, int, Positions | None, int]] = {}
        self.anchor_lines: dict[str, int] = {}
        self.expanded = 0
        self.problems: list[YAMLProblem] = []

    # -- the event loop ----------------------------------------------------------------------------

    def document(self, get_event: Callable[[], Any]) -> YAMLDocument:
        get_event()  # the stream's start
        event = get_event()
        if type(event) is StreamEndEvent:
            return YAMLDocument(None, None)
        root: tuple[Any, Positions | None] | None = None
        stack = self.stack
        resolvers = self.dialect.resolvers
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                value = event.value
                tag = event.tag
                line = event.start_mark.line
                if tag is None or tag == "!":
                    if event.implicit[0]:
                        for candidate, pattern in resolvers.get(value[:1], ()):
                            if pattern.match(value):
                                value = self._scalar(candidate, value, line)
                                break
                elif tag != STR_TAG:
                    value = self._scalar(tag, value, line)
                size = len(event.value) + 1
                if event.anchor is not None:
                    self._check_new_anchor(event.anchor, line)
                    self.anchor_lines[event.anchor] = line
                    self._define(event.anchor, value, size, None, line)
                if stack:
                    self._add(stack[-1], value, size, None, line, event.value)
                    continue
                root = (value, Positions(line, {}))
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                line = event.start_mark.line
                if len(stack) >= self.limits.max_depth:
                    raise _Refused(
                        line,
                        f"nested more than {self.limits.max_depth} levels deep; "
                        "flatten the data (a deeper value cannot be read safely)",
                    )
                anchor = event.anchor
                if anchor is not None:  # (an alias to it before it ends would be recursive)
                    self._check_new_anchor(anchor, line)
                    self.anchor_lines[anchor] = line
                tag = event.tag
                stack.append(_Frame(kind is MappingStartEvent, line, None if tag == "!" else tag, anchor))
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                value = self._finish(frame)
                if frame.anchor is not None:
                    self._define(frame.anchor, value, frame.size, frame.positions, frame.line)
                if stack:
                    self._add(stack[-1], value, frame.size, frame.positions, frame.line, None)
                    continue
                root = (value, frame.positions)
            elif kind is AliasEvent:
                value, size, positions, line = self._alias(event)
                if stack:
                    self._add(stack[-1], value, size, positions, line, None)
                    continue
                root = (value, positions or Positions(line, {}))
            elif kind is DocumentEndEvent:
                break
            # the root is done: the document's end comes next
        after: Any = get_event()
        if isinstance(after, DocumentStartEvent):
            raise _Refused(
                _line(after),
                "a second YAML document (after ---); a file holds one document: remove the others",
            )
        if self.problems:
            raise _Problems(self.problems)
        assert root is not None
        return YAMLDocument(root[0], root[1])

    # -- scalars, anchors and aliases --------------------------------------------------------------

    def _scalar(self, tag: str, text: str, line: int) -> Any:
        if tag == MERGE_TAG:
            return _MERGE
        if tag == VALUE_TAG:
            return _VALUE
        build = self.dialect.scalars.get(tag)
        if build is None:
            if tag in self.dialect.sequences or tag in self.dialect.mappings or tag in (SEQ_TAG, MAP_TAG):
                raise _Refused(
                    line, f"the tag {_short(tag)} needs a collection, found the text {describe(text)}"
                )
            raise _Refused(line, f"unknown tag {_short(tag)}; {self.dialect.tag_advice}")
        try:
            return build(text)
        except Exception as exc:  # the tag's own reader said no (a bad number, date or base64)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _Refused(
                line, f"{describe(text)} is not a valid {_short(tag)} ({reason}); fix the value"
            ) from None

    def _check_new_anchor(self, anchor: str, line: int) -> None:
        first = self.anchor_lines.get(anchor)
        if first is not None:  # (PyYAML refuses it too)
            raise _Refused(
                line, f"the anchor &{anchor} is defined twice (first at line {first + 1}); rename one of them"
            )

    def _define(self, anchor: str, value: Any, size: int, positions: Positions | None, line: int) -> None:
        self.anchors[anchor] = (value, size, positions, line)

    def _alias(self, event: Any) -> tuple[Any, int, Positions | None, int]:
        line = event.start_mark.line
        name = event.anchor
        found = self.anchors.get(name)
        if found is None:
            if name in self.anchor_lines:
                raise _Refused(
                    line,
                    f"the alias *{name} is inside its own anchor &{name} (line "
                    f"{self.anchor_lines[name] + 1}): a value cannot contain itself; write the value out",
                )
            raise _Refused(line, f"the alias *{name} names no anchor defined before it; define &{name} first")
        value, size, positions, _ = found
        self.expanded += size
        if self.expanded > self.limits.max_alias_expansion:
            raise _Refused(
                line,
                f"aliases repeat more than {self.limits.max_alias_expansion:,} characters and values in "
                f"all (the alias *{name} here repeats {size:,}); write the repeated parts out, or fewer "
                "aliases, so the file stands for the data it shows",
            )
        return value, size, positions, line

    # -- collections -------------------------------------------------------------------------------

    def _add(
        self, frame: _Frame, value: Any, size: int, positions: Positions | None, line: int, text: str | None
    ) -> None:
        frame.size += size
        if not frame.is_map:
            if value is _MERGE or value is _VALUE:
                raise _Refused(line, f"{text!r} is a key; quote it to mean the text")
            items: list[Any] = frame.container
            index = len(items)
            items.append(value)
            frame.positions.lines.append(line)  # type: ignore[union-attr]
            if positions is not None:
                frame.positions.children[index] = positions
            return
        if frame.key is _NO_KEY:
            if value is _VALUE:
                value = "="  # (as PyYAML reads it: a key named "=")
            frame.key = value
            frame.key_line = line
            frame.key_text = text
            return
        key = frame.key
        frame.key = _NO_KEY
        if value is _MERGE or value is _VALUE:
            raise _Refused(line, f"{text!r} cannot be a value; quote it to mean the text")
        if key is _MERGE:
            self._merge(frame, value, positions, line)
            return
        if self.dialect.strict_keys and not self._strict_key(frame, key):
            return
        try:
            frame.container[key] = value
        except TypeError:
            raise _Refused(
                frame.key_line, f"a mapping key must be a scalar, found {describe(key)}; use text as the key"
            ) from None
        frame.positions.lines[key] = frame.key_line
        if positions is not None:
            frame.positions.children[key] = positions

    def _strict_key(self, frame: _Frame, key: Any) -> bool:
        """Whether ``key`` may go in (text, not seen before); otherwise note the problem."""
        if type(key) is not str:
            shown = (
                frame.key_text
                if frame.key_text is not None
                else (
                    "a sequence"
                    if isinstance(key, list)
                    else "a mapping"
                    if isinstance(key, dict)
                    else describe(key)
                )
            )
            self._problem(frame.key_line, self._field(), f"keys must be text, found {shown}; quote it")
            return False
        seen = frame.seen
        assert seen is not None
        first = seen.get(key)
        if first is not None:
            self._problem(
                frame.key_line,
                self._field(key),
                f"duplicate key (first at line {first + 1}); keep one of them",
            )
            return False
        seen[key] = frame.key_line
        return True

    def _problem(self, line: int, field: str, message: str) -> None:
        self.problems.append(YAMLProblem(line + 1, field, message))
        if len(self.problems) >= self.limits.max_problems:
            self.problems.append(
                YAMLProblem(
                    line + 1, field, f"stopped after {self.limits.max_problems} problems; fix these first"
                )
            )
            raise _Problems(self.problems)

    def _field(self, last: Any = _NO_KEY) -> str:
        """Where the top collection is (``cases[2].input``), and ``last`` within it."""
        text = ""
        steps: list[Any] = []
        for frame in self.stack[:-1]:
            steps.append(frame.key if frame.is_map else len(frame.container))
        if last is not _NO_KEY:
            steps.append(last)
        for step in steps:
            text += (
                f"[{step}]"
                if isinstance(step, int) and not isinstance(step, bool)
                else (f".{step}" if text else str(step))
            )
        return text

    def _merge(self, frame: _Frame, value: Any, positions: Positions | None, line: int) -> None:
        merges = frame.merges if frame.merges is not None else []
        frame.merges = merges
        if isinstance(value, dict):
            merges.append((value, positions))
            return
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            # later mappings first: an earlier one in the list wins (PyYAML's order)
            for index in reversed(range(len(value))):
                merges.append((value[index], positions.children.get(index) if positions else None))
            return
        raise _Refused(line, f"'<<' merges a mapping or a list of mappings, found {describe(value)}")

    def _finish(self, frame: _Frame) -> Any:
        container = frame.container
        if frame.merges:
            merged: dict[Any, Any] = {}
            lines: dict[Any, int] = {}
            children: dict[Any, Positions] = {}
            for mapping, positions in frame.merges:
                merged.update(mapping)
                if positions is not None and isinstance(positions.lines, dict):
                    lines.update(positions.lines)
                    children.update(positions.children)
            merged.update(container)
            lines.update(frame.positions.lines)  # type: ignore[arg-type]
            children.update(frame.positions.children)
            container = merged
            frame.positions.lines = lines
            frame.positions.children = children
        tag = frame.tag
        if tag is None or tag == (MAP_TAG if frame.is_map else SEQ_TAG):
            return container
        build = (self.dialect.mappings if frame.is_map else self.dialect.sequences).get(tag)
        if build is None:
            other = self.dialect.sequences if frame.is_map else self.dialect.mappings
            if tag in other or tag in (SEQ_TAG, MAP_TAG):
                needs = "a list" if frame.is_map else "a mapping"
                raise _Refused(
                    frame.line, f"the tag {_short(tag)} needs {needs}, found {describe(container)}"
                )
            raise _Refused(frame.line, f"unknown tag {_short(tag)}; {self.dialect.tag_advice}")
        try:
            return build(container)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _Refused(frame.line, f"not a valid {_short(tag)} ({reason}); fix the value") from None


class _Problems(Exception):
    def __init__(self, problems: list[YAMLProblem]) -> None:
        super().__init__(len(problems))
        self.problems = problems


def _line(event: Any) -> int:
    mark = event.start_mark
    return int(mark.line) if mark is not None else 0


def _short(tag: str) -> str:
    """``tag:yaml.org,2002:int`` → ``!!int``, as the file spells it."""
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag
