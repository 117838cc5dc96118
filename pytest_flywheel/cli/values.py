"""What the ``flywheel`` command line accepts as values: one converter for each kind of value.

Every option and positional argument that takes a value names one of these as its ``type`` (or gives
``choices``). argparse calls the converter while it parses, so a value that cannot be right (a count
that is not a whole number, NaN, an empty name, bytes that are not UTF-8) is a usage error with exit
status 2 before any file is opened; a value that is well formed but finds nothing (a trace id no trace
has, a store that is not there) is the command's own failure, exit status 1.

Each converter carries its kind in ``value_kind``, so tests can walk the parser and drive every option
with the hostile values of its kind (``tests/cli/test_cli_rules.py``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

#: The largest whole number SQLite stores (a LIMIT beyond it overflows the driver).
MAX_COUNT = 2**63 - 1

#: The kinds of values a converter may declare: how the fuzz test chooses its hostile values.
KINDS: tuple[str, ...] = ("count", "amount", "text", "since", "path", "output", "json")

T = TypeVar("T")


class ValueConverter:
    """An argparse ``type``: ``convert(text)`` or an :class:`argparse.ArgumentTypeError` saying what
    was expected. ``value_kind`` is one of :data:`KINDS`."""

    def __init__(self, kind: str, convert: Callable[[str], Any], description: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown value kind {kind!r}")
        self.value_kind = kind
        self._convert = convert
        self.description = description
        self.__name__ = description  # argparse names a converter by __name__ when it raises ValueError

    def __call__(self, text: str) -> Any:
        return self._convert(text)

    def __repr__(self) -> str:
        return f"<flywheel {self.value_kind} value: {self.description}>"


def _shown(text: str) -> str:
    """``text`` quoted for an error message; text holding bytes that are not UTF-8 is shown as those
    bytes (``b'caf\\xe9'``), so no message ever has to print a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return repr(text.encode("utf-8", "surrogateescape"))
    return repr(text)


def _utf8(text: str) -> str:
    """``text`` when it is UTF-8; the command line hands other bytes over as lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not UTF-8 text: retype it, or check the terminal's encoding"
        ) from None
    return text


def _text(text: str) -> str:
    _utf8(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty value: give some text")
    if "\x00" in text:
        raise argparse.ArgumentTypeError(f"{_shown(text)} holds a NUL character")
    return text


def _count(minimum: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        _utf8(text)
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number") from None
        if not minimum <= value <= MAX_COUNT:
            raise argparse.ArgumentTypeError(
                f"{_shown(text)} is out of range: expected a whole number from {minimum} to {MAX_COUNT:,}"
            )
        return value

    return convert


def _amount(text: str) -> float:
    _utf8(text)
    try:
        value = float(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{_shown(text)}: expected a finite number of 0 or more")
    return value


def _since(text: str) -> float:
    from pytest_flywheel.store.queries import QueryError, parse_since

    _text(text)
    try:
        moment = parse_since(text)
    except QueryError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--since {text!r}: ")) from None
    try:
        datetime.fromtimestamp(moment, UTC)
    except (OverflowError, OSError, ValueError):
        raise argparse.ArgumentTypeError(f"{_shown(text)} reaches outside the calendar") from None
    return moment


def _path(text: str) -> Path:
    # Paths may hold bytes that are not UTF-8 (a file name is bytes to the kernel): they are kept.
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: give a file name")
    if "\x00" in text:
        raise argparse.ArgumentTypeError(f"{_shown(text)} holds a NUL character")
    return Path(text)


#: A whole number of 1 or more (how many rows, runs, rounds).
count = ValueConverter("count", _count(1), "a whole number of 1 or more")
#: A finite number of 0 or more (milliseconds, US dollars).
amount = ValueConverter("amount", _amount, "a number of 0 or more")
#: Non-empty UTF-8 text: a name, an id, a sentence.
text = ValueConverter("text", _text, "some text")
#: A moment: ``30m``, ``2h``, ``3d``, ``1w`` ago, or an ISO-8601 time; epoch seconds.
since = ValueConverter("since", _since, "a span of time or an ISO-8601 time")
#: A file to read (kept as given, bytes that are not UTF-8 included).
path = ValueConverter("path", _path, "a path")
#: A file to write (its folder is created when missing).
output = ValueConverter("output", _path, "a file to write")


def json_value(kind_description: str, parse: Callable[[str], T]) -> ValueConverter:
    """A converter of JSON text: ``parse`` returns the value or raises ``ValueError`` with the reason."""

    def convert(text: str) -> T:
        _text(text)
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return ValueConverter("json", convert, kind_description)


def text_matching(kind_description: str, parse: Callable[[str], T], *, kind: str = "text") -> ValueConverter:
    """Text with a syntax of its own: ``parse`` returns the value or raises ``ValueError``. ``kind``
    says which hostile values suit it (a percentage is an ``amount``)."""

    def convert(value: str) -> T:
        _text(value)
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return ValueConverter(kind, convert, kind_description)


def _suite_name(value: str) -> str:
    from pytest_flywheel.suites.adding import check_suite_name  # its CaseError is a ValueError

    return check_suite_name(value)


#: A suite's name: letters, digits, ``-``, ``_`` and ``.`` (its file is ``flywheel/suites/<name>.yaml``,
#: so a name can never reach outside that folder).
suite_name = text_matching("a suite name", _suite_name)
