"""The command line's rules, checked by walking the parser: every command and every argument, whoever
registered it.

- the command list follows the loop; ``flywheel --help`` documents the exit statuses;
- every command has a description, and a help line that starts with a capital and ends with no period;
- every argument has such a help text; every value has an upper-case metavar, the same one wherever the
  option appears, and a kind (a converter of ``pytest_flywheel.cli.values``, or ``choices``), so a bad
  value is a usage error (exit 2) and the fuzz test knows what to feed it;
- every listing and show has ``--json``, and what it prints follows one convention: ISO-8601 UTC times,
  ``duration_ms``, ``cost_usd``;
- an unknown option or a missing argument exits 2.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.cli.main import SUBCOMMAND_MODULES, build_parser, main
from pytest_flywheel.cli.parsers import Command, commands
from pytest_flywheel.cli.values import KINDS

from .conftest import World

ALL = list(commands(build_parser()))
LEAVES = [command for command in ALL if command.is_leaf]
#: The loop's commands, in its order; others may sit between them.
LOOP = ("traces", "analyze", "suite", "test", "runs", "report", "stats")


def ids(command: Command) -> str:
    return command.name


def value_actions(command: Command) -> Iterator[argparse.Action]:
    for action in command.arguments:
        if action.nargs != 0:
            yield action


def test_the_command_list_follows_the_loop_and_help_documents_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^    (\w+)(?: |$)", out, flags=re.M)
    assert listed == [command.words[0] for command in ALL if len(command.words) == 1]
    assert len(listed) == len(SUBCOMMAND_MODULES)  # one command per module, in the table's order
    assert [name for name in listed if name in LOOP] == list(LOOP)
    statuses = out.split("exit status:", 1)[1]
    assert re.search(r"^  0  ", statuses, re.M) and re.search(r"^  1  nothing matched", statuses, re.M)
    assert re.search(r"^  2  usage error", statuses, re.M)


def _phrase_problem(text: str | None) -> str | None:
    if not text or not text.strip():
        return "no help text"
    if not (text[0].isupper() or text[0] in "'\"`"):
        return f"starts with {text[0]!r}, not a capital"
    if text.rstrip().endswith("."):
        return "ends with a period"
    return None


@pytest.mark.parametrize("command", ALL, ids=ids)
def test_every_command_has_a_description_and_a_help_line(command: Command) -> None:
    description = command.parser.description
    assert description and description[0].isupper(), f"{command.name}: no description"
    if command.words:
        assert _phrase_problem(command.help) is None, f"{command.name}: help {command.help!r}"


@pytest.mark.parametrize("command", ALL, ids=ids)
def test_every_argument_has_a_help_phrase(command: Command) -> None:
    problems = {
        "/".join(action.option_strings) or action.dest: problem
        for action in command.parser._actions
        if not isinstance(action, argparse._SubParsersAction)  # its commands' help lines are checked above
        and (problem := _phrase_problem(action.help)) is not None
    }
    assert problems == {}, command.name


@pytest.mark.parametrize("command", ALL, ids=ids)
def test_every_value_has_a_metavar_and_a_kind(command: Command) -> None:
    problems: list[str] = []
    for action in value_actions(command):
        name = "/".join(action.option_strings) or action.dest
        if action.nargs == argparse.REMAINDER:
            continue  # handed on unchanged (`flywheel test run ... -x`)
        metavar = action.metavar
        if not isinstance(metavar, str) or metavar.upper() != metavar or not metavar.strip():
            problems.append(f"{name}: metavar {metavar!r} is not an upper-case word")
        kind = getattr(action.type, "value_kind", None)
        if action.choices is None and kind not in KINDS:
            problems.append(f"{name}: type {action.type!r} is not a value kind of pytest_flywheel.cli.values")
    assert problems == [], command.name


def test_an_option_has_one_metavar_everywhere() -> None:
    seen: dict[str, dict[str, list[str]]] = {}
    for command in ALL:
        for action in value_actions(command):
            for option in action.option_strings:
                seen.setdefault(option, {}).setdefault(str(action.metavar), []).append(command.name)
    assert {option: uses for option, uses in seen.items() if len(uses) > 1} == {}


def test_every_listing_and_show_has_json() -> None:
    listings = [command for command in LEAVES if command.words[-1] in ("list", "show")]
    assert len(listings) >= 5  # traces, suite and runs list; traces and suite show; ...
    missing = [
        command.name
        for command in listings
        if not any("--json" in action.option_strings for action in command.arguments)
    ]
    assert missing == []


def _required(command: Command) -> list[argparse.Action]:
    return [
        action
        for action in command.arguments
        if (action.required if action.option_strings else action.nargs in (None, 1, "+"))
    ]


def _required_argv(command: Command, world: World) -> list[str]:
    argv = list(command.words)
    for action in _required(command):
        argv += [action.option_strings[0]] if action.option_strings else []
        argv.append(world.value(command.name, action.dest))
    return argv


@pytest.mark.parametrize("command", LEAVES, ids=ids)
def test_usage_errors_exit_2(command: Command, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    passes_on = any(action.nargs == argparse.REMAINDER for action in command.arguments)
    if not passes_on:  # `flywheel test run` hands unknown options to pytest
        assert main([*_required_argv(command, world), "--no-such-option"]) == 2
        err = capsys.readouterr().err
        # the command's own usage line, not flywheel's (a stranger's run: "usage: flywheel [-h] ...")
        assert err.startswith(f"usage: {command.name} ") and "unrecognized arguments: --no-such-option" in err
    if _required(command):
        assert main(list(command.words)) == 2
        assert "the following arguments are required" in capsys.readouterr().err


# -- the --json conventions --------------------------------------------------------------------------

#: Keys whose values are the user's own data (an agent's input, a tool's result): not ours to name.
PAYLOAD_KEYS = frozenset({"input", "output", "metadata", "arguments", "result", "args", "tool_input", "value"})
TIME_KEY = re.compile(r"(^|_)(at|time|start|end|since|until|last_seen)$")


def convention_problems(value: Any, where: str = "$") -> Iterator[str]:
    """Where ``value`` breaks the field conventions: times ISO-8601 UTC, ``*_ms``, ``*_usd``."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from convention_problems(item, f"{where}[{index}]")
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        path = f"{where}.{key}"
        if key in PAYLOAD_KEYS:
            continue
        if re.search(r"(^|_)cost$", key):
            yield f"{path}: a cost is named cost_usd (or ..._cost_usd)"
        if re.search(r"(^|_)(duration|latency|elapsed)$", key):
            yield f"{path}: a duration is named ..._ms"
        if TIME_KEY.search(key) and item is not None:
            if not isinstance(item, str):
                yield f"{path}: a time is an ISO-8601 string, found {item!r}"
            else:
                try:
                    moment = datetime.fromisoformat(item.replace("Z", "+00:00"))
                except ValueError:
                    yield f"{path}: {item!r} is not ISO-8601"
                else:
                    if moment.utcoffset() != timedelta(0):
                        yield f"{path}: {item!r} is not in UTC"
        yield from convention_problems(item, path)


#: Commands whose --json this test cannot get: one only succeeds with a model answering (an LLM
#: agent's outcome is what it prints), one serves until stopped. Their own tests read their JSON.
NOT_HERE = {"flywheel fix": "needs a model to succeed", "flywheel collect": "serves until it is stopped"}


def _documents(out: str) -> list[Any]:
    try:
        return [json.loads(out)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in out.splitlines()]  # one object per line


def test_the_convention_checker_catches_what_it_should() -> None:
    bad = {"started_at": 1790000000.0, "cost": 1.0, "duration": 3, "runs": [{"ended_at": "2026-01-01T10:00:00+02:00"}]}
    assert len(list(convention_problems(bad))) == 4
    good = {"started_at": "2026-01-01T10:00:00.000+00:00", "cost_usd": 1.0, "judge_cost_usd": 0.1,
            "duration_ms": 3, "output": {"cost": 5, "start": 3}}  # fmt: skip
    assert list(convention_problems(good)) == []


@pytest.mark.parametrize(
    "command", [c for c in LEAVES if any("--json" in a.option_strings for a in c.arguments)], ids=ids
)
def test_every_json_output_follows_the_field_conventions(
    command: Command, world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if command.name in NOT_HERE:
        pytest.skip(f"{command.name} {NOT_HERE[command.name]}; its own tests read its JSON")
    world = world.copy_to(tmp_path / "world")  # some commands change what they run on (accept, label)
    monkeypatch.chdir(world.root)
    monkeypatch.setenv("FLYWHEEL_STORE", str(world.store))
    code = main([*_required_argv(command, world), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    documents = _documents(out)
    assert documents, f"{command.name} --json printed nothing"
    assert [problem for document in documents for problem in convention_problems(document)] == []


@pytest.mark.parametrize("argv", [
    ["candidates", "reject", "cl-000000000000", "--reason", ""],  # a required option
    ["fix", " "],  # a positional argument
])
def test_an_empty_required_value_is_not_told_to_be_left_out(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Found in a stranger's run: `--reason ''` was told to "leave the option out", which it must not."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "an empty value: give some text" in err
    assert "leave the option out" not in err
