"""``flywheel test run --suite NAME [pytest args]``: run suites through ``pytest.main``.

The same as ``pytest flywheel/suites/NAME.yaml --flywheel-suite NAME [pytest args]``: only the named
suites' cases are collected (plus whatever paths the pytest arguments name), with every flywheel
option available as a pytest argument (``--flywheel-record once``, ``--flywheel-report out.json``).
"""

from __future__ import annotations

import argparse

from pytest_flywheel.cli import values
from pytest_flywheel.config import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = subparsers.add_parser(
        "test",
        help="Run regression suites through pytest",
        description="Run suites through pytest, as `pytest flywheel/suites/NAME.yaml --flywheel-suite NAME` "
        "would.",
    )
    sub = test.add_subparsers(dest="test_command", metavar="ACTION", required=True)
    run = sub.add_parser(
        "run",
        help="Run suites as pytest tests (the exit code is pytest's)",
        description=(
            "Run the cases of one or more suites through pytest. Arguments after --suite go to pytest "
            "unchanged, e.g. flywheel test run --suite qa -x --flywheel-record once. The exit status is "
            "pytest's: 0 all passed, 1 some failed, 2 interrupted, 4 usage error, 5 nothing collected."
        ),
    )
    run.add_argument(
        "--suite",
        type=values.suite_name,
        action="append",
        required=True,
        metavar="SUITE",
        help="The suite to run (repeatable; 'all' runs every suite)",
    )
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="Arguments passed on to pytest")
    run.set_defaults(func=run_suites)


def split_passthrough(argv: list[str]) -> list[str]:
    """``test run`` arguments with a ``--`` put before the first one meant for pytest.

    So that ``flywheel test run --suite qa -x -k refund`` works as written: flywheel's own options
    (``--suite NAME``, ``--suite=NAME``, ``-h``) come first, everything from the first other argument on
    goes to pytest unchanged.
    """
    if argv[:2] != ["test", "run"] or "--" in argv:
        return argv
    index = 2
    while index < len(argv):
        argument = argv[index]
        if argument == "--suite":
            index += 2
        elif argument.startswith("--suite=") or argument in ("-h", "--help"):
            index += 1
        else:
            return [*argv[:index], "--", *argv[index:]]
    return argv


def pytest_arguments(suites: list[str], extra: list[str]) -> list[str]:
    """The argument list handed to ``pytest.main``: the suite files, their names, then ``extra``."""
    from pytest_flywheel.suites import find_suite_path, list_suite_paths

    settings = load_settings()
    paths: list[str] = []
    for name in suites:
        if name == "all":
            paths.extend(str(path) for path in list_suite_paths(settings))
        else:
            paths.append(str(find_suite_path(name, settings)))  # a SuiteNotFoundError names the suites
    if extra[:1] == ["--"]:
        extra = extra[1:]
    options = [argument for name in suites for argument in ("--flywheel-suite", name)]
    return [*dict.fromkeys(paths), *options, *extra]


def run_suites(args: argparse.Namespace) -> int:
    import pytest

    return int(pytest.main(pytest_arguments(list(args.suite), list(args.pytest_args))))
