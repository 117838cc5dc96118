"""Hostile values for every argument of every ``flywheel`` command: a clean message and exit status 1
or 2 each time, never a traceback.

The parser is walked, so a command registered tomorrow is fuzzed too. Each argument gets the hostile
values of its kind (``pytest_flywheel.cli.values``): huge and negative numbers, NaN and infinities,
empty and blank strings, NUL, malformed syntax; paths that are folders, text files, random bytes,
empty files, missing files, or that sit under a regular file. The other arguments keep valid values,
so the hostile one is what the command has to deal with. Values holding bytes that are not UTF-8 go
through the real ``flywheel`` executable, since only a real process decodes its arguments.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.cli.main import build_parser, main
from pytest_flywheel.cli.parsers import Command, commands

from .conftest import World

LEAVES = [command for command in commands(build_parser()) if command.is_leaf]
FLYWHEEL = Path(sys.executable).with_name("flywheel")

AMOUNTS = ["", " ", "-1", "-0.5", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "ten", "0x10", "1,5"]
COUNTS = [*AMOUNTS, "0", "1.5", "1e3", str(10**20), str(10**30), str(-(10**20))]
TEXT = ["", "   ", "\t\n", "a\x00b"]
SINCE = ["", "nan", "-3d", "3x", "9" * 30 + "w", "1e400d", "0000-00-00", "soon"]
CHOICE = ["", "nan", "NOT-A-CHOICE", "a\x00b"]
JSON = ["", "nan", "NaN", "{", "[1]", '{"contains": NaN}', '{"nope": 1}', "null", '"text"', "{}", '{"regex": "("}']


def path_values(root: Path, *, output: bool) -> list[str]:
    """Paths that no command can use: for reading, also text, random bytes, empty and missing files."""
    under_a_file = str(root / "notes.txt" / "inside.html")
    if output:
        return ["", str(root / "a-folder"), under_a_file, "a\x00b"]
    return [
        "",
        str(root / "a-folder"),
        str(root / "notes.txt"),
        str(root / "garbage.bin"),
        str(root / "empty.db"),
        str(root / "missing.db"),
        under_a_file,
        str(root / "a-folder" / ".." / ".." / "nowhere" / "x.db"),
        os.devnull,  # a device, not a file
        *(["/proc/self/mem"] if Path("/proc/self/mem").exists() else []),  # a file SQLite cannot read
    ]


def kind_of(action: argparse.Action) -> str:
    if action.choices is not None:
        return "choice"
    kind = getattr(action.type, "value_kind", None)
    if kind is not None:
        return str(kind)
    return {int: "count", float: "amount"}.get(action.type, "text")  # type: ignore[call-overload]


def hostile_values(action: argparse.Action, root: Path) -> list[str]:
    kind = kind_of(action)
    if kind == "count":
        return COUNTS
    if kind == "amount":
        return AMOUNTS
    if kind == "since":
        return SINCE
    if kind == "choice":
        return CHOICE
    if kind == "json":
        return JSON
    if kind in ("path", "output"):
        return path_values(root, output=kind == "output")
    return TEXT


def not_utf8_value(action: argparse.Action, root: Path) -> bytes:
    """Bytes that are not UTF-8, where a value of this kind would go."""
    kind = kind_of(action)
    if kind == "path":
        return os.fsencode(root / "missing") + b"-caf\xe9.db"
    if kind == "output":
        return os.fsencode(root / "notes.txt") + b"/caf\xe9.html"
    return b"caf\xe9-\xff\xfe"


@dataclass(frozen=True)
class Slot:
    """One argument of a command: where its value goes in an argument list."""

    command: Command
    action: argparse.Action

    def argv(self, value: str | bytes, world: World) -> list[str | bytes]:
        """The command with every required argument valid, and this one set to ``value``."""
        argv: list[str | bytes] = list(self.command.words)
        positionals = [a for a in self.command.arguments if not a.option_strings]
        for action in positionals:
            if action is self.action:
                argv.append(value)
                break
            if action.nargs in (None, 1, "+", "?"):  # an optional one before ours must be given too
                argv.append(world.value(self.command.name, action.dest))
        for action in self.command.arguments:
            if action.option_strings and action.required and action is not self.action:
                argv += [action.option_strings[0], world.value(self.command.name, action.dest)]
        if self.action.option_strings:
            argv += [self.action.option_strings[0], value]
        return argv

    @property
    def name(self) -> str:
        return f"{self.command.name} {'/'.join(self.action.option_strings) or self.action.dest.upper()}"


def slots() -> Iterator[Slot]:
    for command in LEAVES:
        for action in command.arguments:
            if action.nargs != 0 and action.nargs != argparse.REMAINDER:
                yield Slot(command, action)


SLOTS = list(slots())


#: Values hostile to most arguments of their kind but valid for one: (command, dest, value's file name)
#: and why. These must succeed (exit 0), and write only what the command is for.
VALID_HERE = {
    ("flywheel verdicts merge", "files", "empty.db"): "an empty verdict file (a shard that judged nothing)",
}


class Hung(Exception):
    pass


def within_deadline(function: Any, argv: list[str], seconds: int = 30) -> int:
    """``function(argv)``, or :class:`Hung` after ``seconds``: a hostile value a command took as valid
    may start something that runs until stopped (`flywheel collect`), and must not stall the run."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        return int(function(argv))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its content; SQLite's own -wal/-shm files and bytecode aside."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(("-wal", "-shm"))
    }


def check_outcome(name: str, code: int | None, out: str, err: str) -> str | None:
    """What is wrong with one hostile invocation's outcome, or None."""
    if "Traceback" in err or "Traceback" in out:
        return f"{name}: a traceback:\n{err[-1500:]}"
    if code not in (1, 2):
        return f"{name}: exit status {code} (expected 1 or 2); stdout {out[:300]!r}"
    if code == 2 and not (err.startswith("usage: ") and ": error: " in err and not out):
        return f"{name}: a usage error without the usage line and the error: {err[-500:]!r}"
    # a failure says why: "flywheel: ..." on stderr, or a checker's report (suite validate) on stdout
    if code == 1 and not (err.startswith("flywheel: ") or (out and not err)):
        return f"{name}: a failure without a message: stdout {out[-300:]!r}, stderr {err[-500:]!r}"
    return None


@pytest.mark.parametrize("command", LEAVES, ids=lambda c: c.name)
def test_hostile_values_get_a_clean_message_and_exit_1_or_2(
    command: Command, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    before = files_of(world.root)
    may_change = {"flywheel/verdicts.jsonl"} if command.name == "flywheel verdicts merge" else set()
    problems: list[str] = []
    count = 0
    for slot in (s for s in SLOTS if s.command is command):
        for value in hostile_values(slot.action, world.root):
            argv = [str(part) for part in slot.argv(value, world)]
            count += 1
            try:
                code = within_deadline(main, argv)
            except BaseException as exc:  # any escape (SystemExit included) is what this test looks for
                problems.append(f"{slot.name} {value!r}: raised {type(exc).__name__}: {exc}")
                capsys.readouterr()
                continue
            out, err = capsys.readouterr()
            if (command.name, slot.action.dest, Path(value).name) in VALID_HERE:
                if code != 0:
                    problems.append(f"{slot.name} {value!r}: valid here, yet exit {code}: {err[-300:]}")
                continue
            problem = check_outcome(f"{slot.name} {value!r}", code, out, err)
            if problem:
                problems.append(problem)
    assert not problems, f"{len(problems)} of {count} hostile invocations went wrong:\n" + "\n".join(problems)
    # nothing was written or left behind by any of them
    after = files_of(world.root)
    assert {name: data for name, data in after.items() if name not in may_change} == {
        name: data for name, data in before.items() if name not in may_change
    }


def test_the_fuzz_covers_every_kind_of_argument() -> None:
    """Hundreds of invocations over every value kind: a parser walk that found nothing would pass
    the test above vacuously."""
    kinds = {kind_of(slot.action) for slot in SLOTS}
    assert {"count", "amount", "text", "since", "path", "output", "json", "choice"} <= kinds
    total = sum(len(hostile_values(slot.action, Path("/tmp"))) for slot in SLOTS)
    assert total >= 300


def test_bytes_that_are_not_utf8_get_a_clean_message_from_the_real_executable(world: World) -> None:
    """One real ``flywheel`` process per argument, the value holding bytes that are not UTF-8."""
    # A terminal whose stdout is strict UTF-8: what a lone surrogate printed to it would crash on.
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}

    def run(slot: Slot) -> str | None:
        argv = slot.argv(not_utf8_value(slot.action, world.root), world)
        done = subprocess.run(
            [os.fsencode(FLYWHEEL), *(a if isinstance(a, bytes) else os.fsencode(a) for a in argv)],
            cwd=world.root,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        out = done.stdout.decode("utf-8", "replace")
        err = done.stderr.decode("utf-8", "replace")
        return check_outcome(f"{slot.name} (not UTF-8)", done.returncode, out, err)

    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [problem for problem in pool.map(run, SLOTS) if problem]
    assert not problems, f"{len(problems)} of {len(SLOTS)} invocations went wrong:\n" + "\n".join(problems)
