"""The fixer's proposed edits as one unified diff, in the format ``git apply`` (and ``patch -p1``) read.

Paths in the diff are relative to the top of the git work tree when the project is inside one (so that
``git apply FILE`` works from any folder of the repository: run in a subfolder, git silently skips a
patch whose paths are relative to that subfolder), and relative to the project root otherwise.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

NO_NEWLINE = "\\ No newline at end of file\n"

_GREEN, _RED, _CYAN, _BOLD, _RESET = "\x1b[32m", "\x1b[31m", "\x1b[36m", "\x1b[1m", "\x1b[0m"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FileEdit:
    """One file's proposed change: its text when the fixer first read it, and after every edit."""

    path: str  # relative to the project root, posix
    before: str
    after: str
    reasons: list[str] = field(default_factory=list)

    @property
    def before_digest(self) -> str:
        return digest(self.before.encode("utf-8"))

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def line_counts(self) -> tuple[int, int]:
        """(lines removed, lines added)."""
        removed = added = 0
        for line in _diff_lines(self.before, self.after, "a", "b"):
            if line.startswith("-") and not line.startswith("---"):
                removed += 1
            elif line.startswith("+") and not line.startswith("+++"):
                added += 1
        return removed, added


def split_lines(text: str) -> list[str]:
    """Lines with their ends, split at ``\n`` only (``str.splitlines`` also splits at form feeds and
    other characters a source file may hold, which diff tools treat as part of a line)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _diff_lines(before: str, after: str, old_name: str, new_name: str) -> list[str]:
    lines: list[str] = []
    for line in difflib.unified_diff(
        split_lines(before),
        split_lines(after),
        fromfile=old_name,
        tofile=new_name,
        n=3,
    ):
        if line.endswith("\n"):
            lines.append(line)
        else:  # the file's last line has no newline: say so, as diff and git do
            lines.append(line + "\n")
            lines.append(NO_NEWLINE)
    return lines


def unified_diff(edits: Iterable[FileEdit], *, prefix: str = "") -> str:
    """The diff of every changed file, ``prefix`` (``"sub/folder/"`` or ``""``) put before each path."""
    out: list[str] = []
    for edit in sorted(edits, key=lambda item: item.path):
        if not edit.changed:
            continue
        name = f"{prefix}{edit.path}"
        out.append(f"diff --git a/{name} b/{name}\n")
        out.extend(_diff_lines(edit.before, edit.after, f"a/{name}", f"b/{name}"))
    return "".join(out)


def colour(diff: str) -> str:
    """The diff with terminal colours: additions green, removals red, hunk headers cyan."""
    painted: list[str] = []
    for line in split_lines(diff):
        body, end = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        if line.startswith(("diff --git", "--- ", "+++ ")):
            painted.append(f"{_BOLD}{body}{_RESET}{end}")
        elif line.startswith("@@"):
            painted.append(f"{_CYAN}{body}{_RESET}{end}")
        elif line.startswith("+"):
            painted.append(f"{_GREEN}{body}{_RESET}{end}")
        elif line.startswith("-"):
            painted.append(f"{_RED}{body}{_RESET}{end}")
        else:
            painted.append(line)
    return "".join(painted)
