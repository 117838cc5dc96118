"""``flywheel``: the command line. Each subcommand lives in its own module and is a thin call into a piece."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pytest_flywheel import __version__
from pytest_flywheel.cli.parsers import ROOT_PROG, CommandParser, finish_parser
from pytest_flywheel.errors import FlywheelError

#: The subcommands, in the order of the loop: ``flywheel --help`` lists them so. Each is a module of
#: ``pytest_flywheel.cli`` defining ``register(subparsers) -> None``; a registered subparser sets
#: ``func=handler``, and ``handler(args) -> int`` returns the exit status. This is the one table of
#: them: a new subcommand gets a line here, in the step of the loop it belongs to.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    # log: traces from elsewhere (files, other stores, an OTLP receiver)
    "importing",
    "collect",
    # analyze: what production did, and where it went wrong
    "traces",
    "analyze",
    "triage",
    # capture: a bad trace becomes a case (or a proposed one, reviewed first)
    "suite",
    "candidates",
    # fix: a change proposed for the failing cases, validated, applied on a yes
    "fix",
    # validate: run the suites, compare and report the runs, review the judge
    "test",
    "runs",
    "report",
    "verdicts",
    "judge",
    # watch production: trends and what to capture next
    "stats",
)

DESCRIPTION = """\
Turn an LLM agent's production failures into pytest regression tests. The commands follow the loop:
bring traces in (import, collect), find the bad ones, where they went wrong and how they group
(traces, analyze, triage), capture them as cases (suite, candidates), fix them (fix), run and
compare the suites and review their judge (test, runs, report, verdicts, judge), and watch
production (stats)."""

EPILOG = """\
Every listing and show takes --json (times in ISO-8601 UTC, durations in duration_ms, costs in
cost_usd). `flywheel COMMAND --help` describes a command.

exit status:
  0  done
  1  nothing matched, or the command failed (the reason follows "flywheel: error:" on stderr)
  2  usage error: an unknown option, a missing argument, or a value that cannot be right"""


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=ROOT_PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="Show the version and exit"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"pytest_flywheel.cli.{name}").register(subparsers)
    finish_parser(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``flywheel`` command; returns the exit status (0 done, 1 failed or nothing matched,
    2 usage error)."""
    from pytest_flywheel.cli.test import split_passthrough

    parser = build_parser()
    try:
        args = parser.parse_args(split_passthrough(list(sys.argv[1:] if argv is None else argv)))
    except SystemExit as exc:  # argparse: --help and --version (0), a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):  # a command group registered without required=True
        parser.print_help(sys.stderr)
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
