"""``flywheel fix SUITE[::CASE] | TRACE_ID``: a proposed change, validated in a copy, applied on a yes."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

from pytest_flywheel.cli import values
from pytest_flywheel.cli._common import add_json_option, add_store_option, require_store, store_path
from pytest_flywheel.config import load_settings
from pytest_flywheel.errors import FlywheelError

DESCRIPTION = """\
Propose a change to the code that makes failing cases pass, prove it, and apply it only on a yes.

With SUITE, the cases that failed in the suite's latest recorded run (SUITE::CASE: one of them); with
a TRACE_ID, that trace's analysis and the cases captured from it. The fixer, an LLM agent, starts from
each case's input, output, trajectory and verdicts, the analysis of its production trace and the
suite's target, and reads the project through confined tools. It never reads .git/, .env* files,
files git ignores or paths matching the redact patterns, and never edits the flywheel folder (suites,
cassettes, verdicts), tests or test configuration. Its edits are shown as a unified diff.

Unless --no-validate, the edits are applied to a temporary copy of the project, where the failing
cases and then the whole suite run (cases whose requests changed are re-recorded with new_episodes
and judged; the rest replay); the runs are recorded in the store. Nothing in the project changes
until you answer y; then the edits, the re-recorded cassettes and the new verdicts are written
together. Needs ANTHROPIC_API_KEY, or an offline stand-in named in [tool.flywheel.fix]."""


def register(subparsers: Any) -> None:
    from pytest_flywheel.fix.agent import DEFAULT_MAX_COST_USD, DEFAULT_MAX_TOKENS, DEFAULT_MAX_TURNS

    parser = subparsers.add_parser(
        "fix",
        help="Propose a validated fix for failing cases; nothing changes without a yes",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        type=values.text,
        metavar="SUITE[::CASE]|TRACE_ID",
        help="A suite, one case of it, or a trace id (or prefix)",
    )
    parser.add_argument(
        "--model",
        type=values.text,
        metavar="MODEL",
        help="The fixer's model (default: FLYWHEEL_FIXER_MODEL, [tool.flywheel.fix] model, the judge model)",
    )
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument(
        "--yes", "-y", action="store_true", help="Apply without asking, when the validation passes"
    )
    decision.add_argument(
        "--patch-only",
        type=_patch_destination,
        metavar="FILE",
        help="Write the patch to FILE ('-' for stdout) and change nothing else",
    )
    parser.add_argument("--no-validate", action="store_true", help="Skip running the suite on a copy")
    parser.add_argument(
        "--max-turns",
        type=values.ValueConverter("count", _whole_number(1), "a whole number of 1 or more"),
        default=DEFAULT_MAX_TURNS,
        metavar="N",
        help=f"Most model calls the fixer may make (default {DEFAULT_MAX_TURNS})",
    )
    parser.add_argument(
        "--max-tokens",
        type=values.ValueConverter("count", _whole_number(1000), "a whole number of 1,000 or more"),
        default=DEFAULT_MAX_TOKENS,
        metavar="N",
        help=f"Most input + output tokens over the whole fix (default {DEFAULT_MAX_TOKENS:,})",
    )
    parser.add_argument(
        "--max-cost",
        type=values.ValueConverter("amount", _amount, "an amount above 0"),
        default=DEFAULT_MAX_COST_USD,
        metavar="USD",
        help=f"Most the fixer may spend, in US dollars (default {DEFAULT_MAX_COST_USD:.2f})",
    )
    add_json_option(parser, "Print the outcome as one JSON object")
    add_store_option(parser)
    parser.set_defaults(func=handle)


def _whole_number(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of {minimum} or more, got {text!r}")
        return value

    return parse


def _patch_file(text: str) -> str:
    """``-`` (stdout) or a file name, checked like any file to write."""
    return text if text == "-" else str(values.output(text))


_patch_destination = values.ValueConverter("output", _patch_file, "a file to write, or - for stdout")


def _amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and math.isfinite(value)):  # (nan too)
        raise argparse.ArgumentTypeError(f"expected an amount above 0 (US dollars), got {text!r}")
    return value


def handle(args: argparse.Namespace) -> int:
    import dataclasses

    from pytest_flywheel.cli._fix_flow import FixFlow, Output, check_patch_destination

    if args.json and args.patch_only == "-":
        print(
            "flywheel fix: error: --patch-only - writes the patch to stdout, where --json writes its "
            "object: name a file for the patch.",
            file=sys.stderr,
        )
        return 2
    if args.patch_only not in (None, "-"):
        check_patch_destination(args.patch_only)  # before the fixer spends anything
    settings = load_settings()
    settings = dataclasses.replace(settings, store=store_path(args).resolve())
    if not settings.store.is_file():
        raise FlywheelError(
            f"there is no store at {settings.store}: run the suite first (`pytest --flywheel-suite=NAME`), "
            "then flywheel fix."
        )
    require_store(settings.store)  # a file that is not a store stays as it is
    return FixFlow(settings, args, Output(json_mode=args.json)).run()
