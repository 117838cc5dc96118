"""The part of the project the fixer may read and edit, and why everything else is refused.

Read and edit alike, a path is refused when it

* leads outside the project root (``..``, an absolute path elsewhere, a symlink that points out);
* is in ``.git/``, or an environment file (any path part starting with ``.env``), or flywheel's local
  state (``.flywheel/``, the store);
* is a file git ignores (outside a git repository: virtualenvs, caches and build folders);
* matches one of the project's ``[tool.flywheel] redact`` patterns.

An edit is refused, on top of that, for the exam itself: the regression corpus (the flywheel folder:
suites, cassettes, verdicts, labels), test files (a ``tests``/``test`` folder, ``test_*.py``,
``*_test.py``, ``conftest.py``) and the files that configure how the tests run (``pyproject.toml``,
``pytest.ini``, ``tox.ini``, ``setup.cfg``). A fix must change the code, not the test that judges it.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pytest_flywheel.fix.errors import FixError

#: Folders never listed, read or copied outside a git repository (and never read inside one).
NOISE_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".flywheel",
        ".eggs",
    }
)
#: The most files one listing holds: a larger tree is cut (and the listing says so).
MAX_FILES = 50_000
TEST_FOLDERS = frozenset({"tests", "test"})
TEST_FILE_PATTERNS = ("test_*.py", "*_test.py", "conftest.py")
TEST_CONFIG_FILES = frozenset({"pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg"})


class PathRefused(FixError):
    """A path the fixer may not use; ``reason`` says why, in words the model and the user read."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: refused: {reason}")
        self.path = path
        self.reason = reason


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def git_toplevel(root: Path) -> Path | None:
    """The top folder of the git work tree holding ``root``, or None outside one."""
    done = _git(root, "rev-parse", "--show-toplevel")
    if done is None or done.returncode != 0:
        return None
    text = os.fsdecode(done.stdout).strip()
    return Path(text).resolve() if text else None


def project_files(root: Path) -> tuple[list[str], bool]:
    """The project's files below ``root`` (posix paths relative to it, sorted) and whether git listed them.

    In a git work tree: the files git tracks plus the untracked ones it does not ignore. Elsewhere:
    every file outside :data:`NOISE_DIRS`, without following symlinked folders.
    """
    root = root.resolve()
    if git_toplevel(root) is not None:
        done = _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", ".")
        if done is not None and done.returncode == 0:
            names = sorted({os.fsdecode(item) for item in done.stdout.split(b"\0") if item})
            # A tracked file deleted from the work tree is still listed by git: keep what exists.
            return [name for name in names if os.path.lexists(root / name)][:MAX_FILES], True
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in NOISE_DIRS and not d.endswith(".egg-info"))
        base = Path(folder).relative_to(root)
        for name in sorted(files):
            found.append((base / name).as_posix())
            if len(found) >= MAX_FILES:
                return found, False
    return found, False


@dataclass(frozen=True)
class ProjectArea:
    """The confined view of one project: which files exist for the fixer, which may be read or edited."""

    root: Path
    #: The regression corpus folder (``[tool.flywheel] dir``), relative to the root; None when outside it.
    corpus: PurePosixPath | None
    #: Files never read (the store and its journal files), relative to the root.
    private: frozenset[str]
    redact_patterns: tuple[re.Pattern[str], ...]
    files: tuple[str, ...]
    listed_by_git: bool
    file_set: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "file_set", frozenset(self.files))

    @classmethod
    def build(
        cls,
        root: Path,
        *,
        corpus_dir: Path,
        store: Path | None = None,
        redact_patterns: Sequence[re.Pattern[str]] = (),
    ) -> ProjectArea:
        root = root.resolve()
        corpus = _inside(root, corpus_dir)
        private: set[str] = set()
        if store is not None:
            relative = _inside(root, store)
            if relative is not None:
                private.update(
                    f"{relative.as_posix()}{suffix}" for suffix in ("", "-wal", "-shm", "-journal")
                )
        files, by_git = project_files(root)
        return cls(
            root=root,
            corpus=corpus,
            private=frozenset(private),
            redact_patterns=tuple(redact_patterns),
            files=tuple(files),
            listed_by_git=by_git,
        )

    # -- the rules ----------------------------------------------------------------------------------

    def _read_refusal(self, relative: PurePosixPath) -> str | None:
        parts = relative.parts
        text = relative.as_posix()
        if not _is_utf8(text):
            return "its name is not valid UTF-8, so it cannot be named to the model"
        if ".git" in parts:
            return "it is inside .git/, which the fixer never reads"
        if any(part.startswith(".env") for part in parts):
            return "it is an environment file (.env*), which may hold secrets"
        if ".flywheel" in parts or text in self.private:
            return "it is flywheel's local state (the trace store)"
        for pattern in self.redact_patterns:
            if pattern.search(text):
                return f"its path matches the redact pattern {pattern.pattern!r} of [tool.flywheel]"
        return None

    def _edit_refusal(self, relative: PurePosixPath) -> str | None:
        if self.corpus is not None and (relative == self.corpus or self.corpus in relative.parents):
            return (
                f"it is part of the regression corpus ({self.corpus.as_posix()}/: suites, cassettes, "
                "verdicts); a fix may not change the exam"
            )
        if any(part in TEST_FOLDERS for part in relative.parts[:-1]) or any(
            fnmatch.fnmatchcase(relative.name, pattern) for pattern in TEST_FILE_PATTERNS
        ):
            return "it is a test file; a fix may not change the exam"
        if relative.name in TEST_CONFIG_FILES:
            return "it configures the tests and flywheel; a fix may not change how the exam is run"
        return None

    def relative(self, path: str) -> PurePosixPath:
        """``path`` (relative to the root, or absolute inside it) as a clean relative path, or
        :class:`PathRefused` when it is empty or leads outside the root."""
        if not path or not path.strip():
            raise PathRefused(repr(path), "no path was given")
        if "\0" in path:
            raise PathRefused(repr(path), "the path holds a NUL character")
        if not _is_utf8(path):
            raise PathRefused(
                _printable(path), "its name is not valid UTF-8, so it cannot be named to the model"
            )
        given = Path(path)
        if given.is_absolute():
            inside = _inside(self.root, given, resolve=False)
            if inside is None:
                raise PathRefused(path, "it is outside the project root")
            given = Path(inside)
        normal = os.path.normpath(given.as_posix())
        if normal == ".." or normal.startswith("../") or os.path.isabs(normal):
            raise PathRefused(path, "it is outside the project root")
        if normal == ".":
            raise PathRefused(path, "it is the project root, not a file")
        return PurePosixPath(normal)

    def check(self, path: str, *, edit: bool = False) -> tuple[str, Path]:
        """The relative name and the real location of a file the fixer may read (``edit``: change),
        or :class:`PathRefused` saying why not."""
        relative = self.relative(path)
        shown = relative.as_posix()
        reason = self._read_refusal(relative) or (self._edit_refusal(relative) if edit else None)
        if reason:
            raise PathRefused(shown, reason)
        location = (self.root / relative).resolve()
        real = _inside(self.root, location, resolve=False)
        if real is None:
            raise PathRefused(shown, "it leads outside the project root through a symlink")
        if real != relative:  # a symlink inside the root: its target obeys the same rules
            reason = self._read_refusal(real) or (self._edit_refusal(real) if edit else None)
            if reason:
                raise PathRefused(shown, f"it is a symlink to {real.as_posix()}, and {reason}")
        if shown not in self._file_set and real.as_posix() not in self._file_set:
            if location.is_dir():
                raise PathRefused(shown, "it is a folder; list_files shows what is in it")
            if location.exists():
                why = "git ignores it" if self.listed_by_git else "it is in a folder the fixer skips"
                raise PathRefused(shown, why)
            raise PathRefused(shown, "there is no such file in the project (list_files shows the files)")
        if not location.is_file():
            raise PathRefused(shown, "it is not a regular file")
        return shown, location

    def readable_files(self) -> list[str]:
        """Every listed file the read rules allow, in order."""
        return [name for name in self.files if self._read_refusal(PurePosixPath(name)) is None]

    def may_edit(self, path: str) -> bool:
        try:
            self.check(path, edit=True)
        except PathRefused:
            return False
        return True

    @property
    def _file_set(self) -> frozenset[str]:
        return self.file_set


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a name that was not UTF-8 on disk holds surrogate escapes
        return False
    return True


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _inside(root: Path, path: Path, *, resolve: bool = True) -> PurePosixPath | None:
    """``path`` relative to ``root`` (both resolved when ``resolve``), or None when it is not below it."""
    target = path if path.is_absolute() else root / path
    if resolve:
        target = target.resolve()
    try:
        relative = target.relative_to(root)
    except ValueError:
        try:
            relative = target.resolve().relative_to(root)
        except ValueError:
            return None
    return PurePosixPath(relative.as_posix()) if relative.parts else None


def matching(files: Iterable[str], pattern: str) -> list[str]:
    """The files whose relative path matches the shell-style ``pattern`` (``*`` also crosses folders;
    a pattern with no ``/`` is matched against the file name too)."""
    pattern = pattern.strip() or "*"
    if pattern.startswith("./"):
        pattern = pattern[2:]
    found = []
    for name in files:
        if fnmatch.fnmatchcase(name, pattern) or (
            "/" not in pattern and fnmatch.fnmatchcase(name.rsplit("/", 1)[-1], pattern)
        ):
            found.append(name)
    return found
