"""The fixer's tools, confined to the project (see :mod:`pytest_flywheel.fix.area`).

``list_files``, ``read_file`` and ``search_code`` read the project; ``edit_file`` records an exact
replacement as a proposed edit (nothing is written: later reads see the edited text); ``finish`` ends
the work with a summary. A refused path is answered as a tool error that says why, so the model can
take another way, and is kept in :attr:`FixerTools.refusals` for the user to see. Every piece of file
text sent to the model goes through the project's redactor first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flywheel.fix.area import PathRefused, ProjectArea, matching
from pytest_flywheel.fix.patch import FileEdit, split_lines

MAX_LISTED = 300
MAX_READ_LINES = 400
MAX_READ_CHARS = 40_000
MAX_FILE_BYTES = 1_000_000
MAX_MATCHES = 100
MAX_LINE_CHARS = 300
MAX_EDIT_CHARS = 100_000

TOOLS: list[dict[str, Any]] = [
    {
        "name": "list_files",
        "description": "The project's files whose path matches a shell-style pattern (relative to the "
        "project root; * also crosses folders; a pattern without / also matches file names), e.g. "
        f"'*.py' or 'src/agent/*'. At most {MAX_LISTED} paths.",
        "input_schema": {
            "type": "object",
            "properties": {"pattern": {"type": "string", "description": "Default '*' (every file)."}},
            "additionalProperties": False,
        },
    },
    {
        "name": "read_file",
        "description": "Lines of one file, numbered, with your proposed edits already applied. At most "
        f"{MAX_READ_LINES} lines per call: page with start_line and end_line (1-based, inclusive).",
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "start_line": {"type": "integer", "minimum": 1},
                "end_line": {"type": "integer", "minimum": 1},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
    },
    {
        "name": "search_code",
        "description": "Lines matching a Python regular expression across the project's files "
        f"(as path:line: text, at most {MAX_MATCHES}); path_pattern narrows the files like list_files.",
        "input_schema": {
            "type": "object",
            "properties": {
                "regex": {"type": "string", "minLength": 1},
                "path_pattern": {"type": "string"},
            },
            "required": ["regex"],
            "additionalProperties": False,
        },
    },
    {
        "name": "edit_file",
        "description": "Propose replacing old_text, which must occur exactly once in the file (copy it "
        "exactly, with its indentation; include nearby lines to make it unique), by new_text. The edit "
        "is recorded for the user to review, not written. The file must exist. Suite files, cassettes, "
        "verdicts, tests and test configuration may not be edited.",
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "old_text": {"type": "string", "minLength": 1},
                "new_text": {"type": "string"},
                "reason": {"type": "string", "description": "Why this change fixes the failing cases."},
            },
            "required": ["path", "old_text", "new_text", "reason"],
            "additionalProperties": False,
        },
    },
    {
        "name": "finish",
        "description": "End your work. summary: what went wrong and what your edits change, for the "
        "user who decides whether to apply them. Call it once, after your last edit (or with no edit "
        "when no change to the code can fix the cases).",
        "input_schema": {
            "type": "object",
            "properties": {"summary": {"type": "string", "minLength": 1}},
            "required": ["summary"],
            "additionalProperties": False,
        },
    },
]


@dataclass(frozen=True)
class Refusal:
    """A tool call the confinement refused."""

    tool: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"tool": self.tool, "path": self.path, "reason": self.reason}


class ToolProblem(Exception):
    """A tool call that cannot be answered (bad arguments, text not found); told to the model."""


class FixerTools:
    """The tool calls of one fixer session, with its proposed edits."""

    def __init__(self, area: ProjectArea, *, redact: Callable[[str], str] | None = None) -> None:
        self.area = area
        self.redact = redact or (lambda text: text)
        self.edits: dict[str, FileEdit] = {}
        self.refusals: list[Refusal] = []
        self.summary: str | None = None

    # -- dispatch -------------------------------------------------------------------------------------

    def call(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """``(text for the model, is_error)`` of one tool call."""
        handlers: dict[str, Callable[..., str]] = {
            "list_files": self.list_files,
            "read_file": self.read_file,
            "search_code": self.search_code,
            "edit_file": self.edit_file,
            "finish": self.finish,
        }
        handler = handlers.get(name)
        if handler is None:
            return f"There is no tool named {name!r}.", True
        try:
            return _sendable(handler(**_arguments(name, arguments))), False
        except PathRefused as exc:
            self.refusals.append(Refusal(name, _sendable(exc.path), exc.reason))
            return _sendable(f"Refused: {exc.path}: {exc.reason}."), True
        except ToolProblem as exc:
            return _sendable(str(exc)), True

    # -- reading --------------------------------------------------------------------------------------

    def text_of(self, path: str, *, edit: bool = False) -> tuple[str, str]:
        """``(relative path, current text)`` of a file the rules allow, with the proposed edits."""
        shown, location = self.area.check(path, edit=edit)
        if shown in self.edits:
            return shown, self.edits[shown].after
        return shown, _read_text(shown, location)

    def list_files(self, pattern: str = "*") -> str:
        found = matching(self.area.readable_files(), pattern)
        if not found:
            return f"No file matches {pattern!r}."
        shown = found[:MAX_LISTED]
        more = (
            f"\n... and {len(found) - len(shown)} more: narrow the pattern."
            if len(found) > len(shown)
            else ""
        )
        return "\n".join(shown) + more

    def read_file(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        shown, text = self.text_of(path)
        lines = split_lines(text)
        total = len(lines)
        if total == 0:
            return f"{shown} is empty."
        start = max(1, start_line)
        if start > total:
            raise ToolProblem(f"{shown} has {total} lines; start_line {start} is past its end.")
        end = min(total, end_line if end_line is not None else start + MAX_READ_LINES - 1)
        end = min(end, start + MAX_READ_LINES - 1)
        if end < start:
            raise ToolProblem(f"end_line {end_line} is before start_line {start}.")
        body: list[str] = []
        size = 0
        for number in range(start, end + 1):
            line = f"{number:>5}| {lines[number - 1].rstrip(chr(10)).rstrip(chr(13))}"
            size += len(line) + 1
            if size > MAX_READ_CHARS:
                end = number - 1
                break
            body.append(line)
        header = f"{shown} (lines {start}-{end} of {total})"
        if end < total:
            header += f"; read on with start_line={end + 1}"
        return self.redact(header + ":\n" + "\n".join(body))

    def search_code(self, regex: str, path_pattern: str = "*") -> str:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise ToolProblem(f"{regex!r} is not a valid Python regular expression: {exc}.") from None
        hits: list[str] = []
        for name in matching(self.area.readable_files(), path_pattern):
            try:
                _, text = self.text_of(name)
            except (PathRefused, ToolProblem):
                continue  # a file the rules refuse, or one that is not text, is not searched
            for number, line in enumerate(split_lines(text), start=1):
                line = line.rstrip("\r\n")
                if len(line) > 10 * MAX_LINE_CHARS:
                    line = line[: 10 * MAX_LINE_CHARS]  # a minified line: bound what the regex walks
                if pattern.search(line):
                    hits.append(f"{name}:{number}: {line[:MAX_LINE_CHARS]}")
                    if len(hits) >= MAX_MATCHES:
                        hits.append(f"... stopped at {MAX_MATCHES} matches: narrow the regex or the paths.")
                        return self.redact("\n".join(hits))
        return self.redact("\n".join(hits)) if hits else f"No line matches {regex!r}."

    # -- editing --------------------------------------------------------------------------------------

    def edit_file(self, path: str, old_text: str, new_text: str, reason: str) -> str:
        shown, text = self.text_of(path, edit=True)
        if not old_text:
            raise ToolProblem("old_text is empty: give the exact text to replace.")
        if old_text == new_text:
            raise ToolProblem("new_text is the same as old_text: nothing would change.")
        if len(new_text) > MAX_EDIT_CHARS:
            raise ToolProblem(
                f"new_text is {len(new_text):,} characters; keep one edit under {MAX_EDIT_CHARS:,}."
            )
        if "\r\n" in text and "\r\n" not in old_text:  # the model reads lines without their \r
            old_text, new_text = old_text.replace("\n", "\r\n"), new_text.replace("\n", "\r\n")
        count = text.count(old_text)
        if count == 0:
            raise ToolProblem(
                f"old_text was not found in {shown}: read the file again and copy the text exactly, "
                "with its indentation."
            )
        if count > 1:
            raise ToolProblem(
                f"old_text occurs {count} times in {shown}: include more lines to make it unique."
            )
        start = text.index(old_text)
        if self.redact(old_text) != old_text or self.redact(new_text) != new_text:
            raise PathRefused(
                shown,
                "the text to replace, or the new text, holds a secret or matches a redact pattern of "
                "[tool.flywheel]",
            )
        after = text[:start] + new_text + text[start + len(old_text) :]
        edit = self.edits.get(shown)
        if edit is None:
            edit = self.edits[shown] = FileEdit(path=shown, before=text, after=after)
        else:
            edit.after = after
        edit.reasons.append(reason.strip())
        removed, added = FileEdit(shown, text, after).line_counts()
        return f"Edit recorded for review (not written): {shown}, -{removed} +{added} lines."

    def finish(self, summary: str) -> str:
        self.summary = summary.strip()
        return "Finished."

    @property
    def changed_edits(self) -> list[FileEdit]:
        return [edit for _, edit in sorted(self.edits.items()) if edit.changed]


def _arguments(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The tool's keyword arguments, type-checked (the model's JSON is not trusted to follow the schema)."""
    schema = next(tool["input_schema"] for tool in TOOLS if tool["name"] == name)
    properties: dict[str, Any] = schema["properties"]
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        raise ToolProblem(f"{name} takes no argument {', '.join(unknown)}.")
    missing = [key for key in schema.get("required", []) if key not in arguments]
    if missing:
        raise ToolProblem(f"{name} needs {', '.join(missing)}.")
    checked: dict[str, Any] = {}
    for key, value in arguments.items():
        kind = properties[key]["type"]
        if kind == "string" and not isinstance(value, str):
            raise ToolProblem(f"{name}: {key} must be a string.")
        if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ToolProblem(f"{name}: {key} must be a whole number of 1 or more.")
        checked[key] = value
    return checked


def _sendable(text: str) -> str:
    """``text`` as UTF-8 can carry it: the SDK encodes every request, and a lone surrogate (from a
    name or argument that was not UTF-8) would make it fail."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _read_text(shown: str, location: Path) -> str:
    try:
        size = location.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ToolProblem(f"{shown} is {size:,} bytes; files over {MAX_FILE_BYTES:,} bytes are not read.")
        data = location.read_bytes()
    except OSError as exc:
        raise ToolProblem(f"{shown} cannot be read: {exc.strerror or exc}.") from None
    if b"\0" in data:
        raise ToolProblem(f"{shown} is a binary file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolProblem(f"{shown} is not UTF-8 text.") from None
