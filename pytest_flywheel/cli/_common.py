"""Small pieces every subcommand shares: where the store is, time display, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_flywheel.cli import values
from pytest_flywheel.config import load_settings
from pytest_flywheel.store import Store


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=values.path,
        metavar="PATH",
        help="The trace store (default: FLYWHEEL_STORE, or store in [tool.flywheel])",
    )


def add_target_store_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--store`` of a command that writes into the store (created when missing)."""
    parser.add_argument("--store", type=values.output, metavar="PATH", help=help)


def add_json_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--json``: every listing and show has it (times ISO-8601 UTC, ``duration_ms``, ``cost_usd``)."""
    parser.add_argument("--json", action="store_true", help=help)


def store_path(args: argparse.Namespace) -> Path:
    explicit = getattr(args, "store", None)
    return Path(explicit) if explicit else load_settings().store


def open_store_for_reading(args: argparse.Namespace) -> Store:
    """Open the store named by ``--store`` (or the settings) read-only; a missing file is a clear error."""
    from pytest_flywheel.store.queries import open_store_for_reading as open_path

    return open_path(store_path(args))


def safe_text(text: str) -> str:
    """``text`` printable on any terminal: bytes that are not UTF-8 (a file name given as such reaches
    Python as lone surrogates, which a strict UTF-8 stdout refuses) are shown as ``\\xNN`` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def require_store(path: Path) -> Path:
    """``path`` when it is a pytest-flywheel store; otherwise the reason, as a FlywheelError (a folder, a
    device, a text file, an empty or foreign SQLite file). Checked read-only, so a command that then
    writes to the store never turns a file that was not one into one."""
    from pytest_flywheel.store.queries import open_store_for_reading as open_path

    open_path(path).close()
    return path


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def print_json_line(value: Any) -> None:
    """One compact JSON object on one line (for ``--json`` listings: one object per item)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
