"""``flywheel``: the command line. Each subcommand lives in its own module and is a thin call into a piece."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pytest_flywheel import __version__
from pytest_flywheel.errors import FlywheelError

#: Modules of ``pytest_flywheel.cli`` that each define ``register(subparsers) -> None``.
#: A registered subparser sets ``func=handler``; ``handler(args) -> int`` returns the exit code.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "traces", "suite", "analyze", "runs", "report", "stats", "test", "verdicts", "judge", "fix", "triage",
    "candidates", "importing", "collect",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flywheel",
        description="Turn an LLM agent's production failures into pytest regression tests.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"pytest_flywheel.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pytest_flywheel.cli.{name}":
                raise
            continue  # a subcommand not built yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from pytest_flywheel.cli.test import split_passthrough

    parser = build_parser()
    args = parser.parse_args(split_passthrough(list(sys.argv[1:] if argv is None else argv)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except FlywheelError as exc:
        print(f"flywheel: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`flywheel traces list | head`): not an error worth a traceback.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
