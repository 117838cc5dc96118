"""Opening a store: one SQLite file in WAL mode, migrated on open, safe for several processes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.store.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 30_000


class StoreError(FlywheelError, RuntimeError):
    """The trace store cannot be opened or used."""


class StoreVersionError(StoreError):
    """A store holding a migration this version does not know: a newer pytest-flywheel wrote it.

    It is refused before anything is written to it (no migration, no WAL switch, no span).
    """


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (and create and migrate, unless ``readonly``) the SQLite store at ``path``."""
    path = Path(path)
    if readonly:
        if not path.exists():
            raise StoreError(f"no trace store at {path}: run an agent decorated with @track first")
        if path.is_dir():
            raise StoreError(f"{path} is not a trace store but a folder: point at the .db file in it")
        if not path.is_file():
            raise StoreError(f"{path} is not a trace store but a device or a pipe: point at a .db file")
        try:
            conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the trace store {path}: {exc}") from None
        try:
            # SQLite reads the file only at the first statement: a text file fails here, not later,
            # and so does an SQLite file (or an empty one) that no pytest-flywheel ever migrated.
            conn.execute("SELECT 1 FROM schema_migrations LIMIT 1")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(
                f"{path} is not a pytest-flywheel trace store ({exc}): point at the .flywheel/flywheel.db "
                "your agent writes"
            ) from None
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the trace store {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        check_version(conn, path)
    except BaseException:
        conn.close()
        raise
    if not readonly:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot prepare the trace store {path}: {exc}") from exc
    return conn


def check_version(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a store with a migration this version does not know (:class:`StoreVersionError`), and a
    file that is not an SQLite database (:class:`StoreError`). Reads only."""
    try:
        rows = conn.execute("SELECT name FROM schema_migrations").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return  # a new, empty file: nothing to compare
        raise StoreError(f"cannot read the trace store {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{path} is not a pytest-flywheel trace store ({exc}); point FLYWHEEL_STORE (or --store) at "
            "the .flywheel/flywheel.db your agent writes, or move the file away"
        ) from None
    known = {name for name, _ in MIGRATIONS}
    unknown = sorted(str(row[0]) for row in rows if row[0] not in known)
    if unknown:
        raise StoreVersionError(
            f"the trace store {path} was written by a newer pytest-flywheel (it has the migration"
            f"{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}, which this version does not know); "
            "upgrade pytest-flywheel (pip install -U pytest-flywheel), or point FLYWHEEL_STORE (or --store) "
            "at another file. Nothing was written to it."
        )


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded in ``schema_migrations``; return their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    applied: list[str] = []
    for name, sql in MIGRATIONS:
        if conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone():
            continue
        # BEGIN IMMEDIATE takes the write lock first, so two processes migrating a new file
        # serialise here and the second sees the first's record.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("COMMIT")
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", (name, time.time())
            )
            conn.execute("COMMIT")
            applied.append(name)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
