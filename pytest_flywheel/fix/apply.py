"""Applying an approved fix: the source edits and the validation's cassettes and verdicts, together.

Before anything is written, every file is checked against what the fix was made from (the text the
fixer read; the flywheel files as they were copied for validation): a file someone changed since is
an error and nothing is written. Each file is then written atomically (:func:`write_atomic`); if one
write fails, or the process is interrupted between two, the files already written are put back as
they were. The project's folder lock is held throughout, as ``flywheel suite add`` holds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_flywheel.files import folder_lock, write_atomic
from pytest_flywheel.fix.errors import FixError
from pytest_flywheel.fix.patch import FileEdit, digest


@dataclass(frozen=True)
class Applied:
    """What was written, relative to the project root."""

    sources: list[str]
    corpus: list[str]


def _current(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # (under a file: no such file either)
        return None
    except OSError as exc:
        raise FixError(f"{path} cannot be read ({exc.strerror or exc}); nothing was applied.") from None


def apply_fix(
    root: Path,
    edits: Sequence[FileEdit],
    *,
    artifacts: Mapping[str, bytes] | None = None,
    originals: Mapping[str, str | None] | None = None,
) -> Applied:
    """Write ``edits`` and ``artifacts`` under ``root``, all or none (see the module docstring)."""
    artifacts = artifacts or {}
    originals = originals or {}
    plan: list[tuple[str, bytes, bytes | None]] = []  # (relative path, new bytes, old bytes)
    with folder_lock(root):
        for edit in edits:
            old = _current(root / edit.path)
            if old is None or digest(old) != edit.before_digest:
                raise FixError(
                    f"{edit.path} changed after the fixer read it; nothing was applied. Run flywheel fix again."
                )
            plan.append((edit.path, edit.after.encode("utf-8"), old))
        for path, data in sorted(artifacts.items()):
            old = _current(root / path)
            expected = originals.get(path)
            if (None if old is None else digest(old)) != expected:
                raise FixError(
                    f"{path} changed while the fix was being validated; nothing was applied. Run flywheel "
                    "fix again."
                )
            plan.append((path, data, old))
        written: list[tuple[str, bytes | None]] = []
        try:
            for path, data, old in plan:
                write_atomic(root / path, data)
                written.append((path, old))
        except BaseException as exc:  # an OSError, or Ctrl-C between two files: put back what was written
            for path, old in reversed(written):
                try:
                    if old is None:
                        (root / path).unlink(missing_ok=True)
                    else:
                        write_atomic(root / path, old)
                except OSError:
                    pass
            if isinstance(exc, OSError):
                raise FixError(
                    f"writing {exc.filename or 'a file'} failed ({exc.strerror or exc}); the files written "
                    "before it were put back, nothing was applied."
                ) from exc
            raise
    edited = {edit.path for edit in edits}
    return Applied(
        sources=[path for path, _, _ in plan if path in edited],
        corpus=[path for path, _, _ in plan if path not in edited],
    )
