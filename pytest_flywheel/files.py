"""Writing files safely: the one atomic writer and the one folder lock of the package.

:func:`write_atomic` writes through a temporary file in the same folder, flushed to disk and renamed
over the target, so that a process killed at any moment leaves the old file or the new one, never half
of one. A new file gets the permissions any file the user creates gets (``0666`` less the umask); a
file that existed keeps its own.

:func:`folder_lock` serialises read-change-write cycles between processes (two ``flywheel suite add``
at once, two pytest sessions merging verdicts) by locking the folder itself, so no lock file appears
in the user's committed tree.

Standard library only: tracing, the store and the CLI all use it.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Temporary files older than this, left next to a target by a killed writer, are removed by the next
#: write (never a fresh one: it may be another process's write in progress).
STALE_TEMP_SECONDS = 3600.0


def temporary_name(path: Path) -> Path:
    """A fresh name next to ``path`` for a file that will be renamed over it: ``.NAME.PID-RANDOM.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def write_atomic(path: Path, data: str | bytes, *, sync: bool = True) -> Path:
    """Write ``data`` (text as UTF-8 with ``\\n`` line ends, or bytes) to ``path``: all or nothing.

    ``sync`` flushes the file to disk before the rename (a crash of the machine then leaves the old or
    the new content too). Raises ``OSError`` with the old file untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        keep_mode: int | None = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        keep_mode = None
    temporary = temporary_name(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    # 0o666 through os.open: the kernel applies the umask, as for any file the user creates.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(payload)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            if keep_mode is not None and hasattr(os, "fchmod"):
                os.fchmod(descriptor, keep_mode)
            if sync:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _remove_stale_temporaries(path)
    return path


def _remove_stale_temporaries(path: Path) -> None:
    now = time.time()
    try:
        leftovers = list(path.parent.glob(f".{path.name}.*.tmp"))
    except OSError:
        return
    for leftover in leftovers:
        try:
            if now - leftover.stat().st_mtime > STALE_TEMP_SECONDS:
                leftover.unlink()
        except OSError:
            pass


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if missing) for the block.

    The folder's own descriptor is locked (``flock``): the lock goes with the process, so a process
    killed while holding it never leaves it held. Where ``fcntl`` does not exist (Windows) a
    ``.flywheel.lock`` file in the folder is locked instead.
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        with _windows_lock(folder):
            yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


@contextmanager
def _windows_lock(folder: Path) -> Iterator[None]:  # pragma: no cover - Windows
    import msvcrt

    handle = open(folder / ".flywheel.lock", "a+b")
    try:
        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
                break
            except OSError:
                time.sleep(0.05)
        yield
    finally:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        finally:
            handle.close()
