"""Walking the ``flywheel`` parser: every command and its arguments, for the finishing touches that
apply to all of them and for the tests that check the command line's rules.

argparse keeps a parser's arguments in ``_actions`` and a command group's parsers in its
``_SubParsersAction``'s ``choices``: stable for many Python versions, and read here only.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

HELP_TEXT = "Show this help and exit"
ROOT_PROG = "flywheel"


class CommandParser(argparse.ArgumentParser):
    """The parser of ``flywheel`` and, through ``add_subparsers``, of each of its commands: a command
    given an argument it does not know says so with its own usage line (argparse leaves unknown
    arguments to the root, which prints ``usage: flywheel [-h] ...`` whatever the command)."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self.prog != ROOT_PROG:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


@dataclass(frozen=True)
class Command:
    """One parser of the tree: ``words`` after ``flywheel`` (empty for the root), its help line."""

    words: tuple[str, ...]
    parser: argparse.ArgumentParser
    help: str | None

    @property
    def name(self) -> str:
        return " ".join(("flywheel", *self.words))

    @property
    def arguments(self) -> list[argparse.Action]:
        """Its own arguments (options and positionals), without help, version and subcommand actions."""
        return [
            action
            for action in self.parser._actions
            if not isinstance(
                action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction
            )
        ]

    @property
    def subcommands(self) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
        for action in self.parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action
        return None

    @property
    def is_leaf(self) -> bool:
        return self.subcommands is None


def commands(parser: argparse.ArgumentParser) -> Iterator[Command]:
    """Every parser of the tree, the root first, then each command before its own subcommands."""

    def walk(words: tuple[str, ...], node: argparse.ArgumentParser, help: str | None) -> Iterator[Command]:
        command = Command(words, node, help)
        yield command
        group = command.subcommands
        if group is None:
            return
        helps = {choice.dest: choice.help for choice in group._choices_actions}
        for name, child in group.choices.items():
            yield from walk((*words, name), child, helps.get(name))

    yield from walk((), parser, parser.description)


def finish_parser(parser: argparse.ArgumentParser) -> None:
    """What every command shares, whoever registered it: the same ``-h`` help text everywhere."""
    for command in commands(parser):
        for action in command.parser._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = HELP_TEXT
