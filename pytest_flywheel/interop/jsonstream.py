"""Reading JSON files one top-level value at a time, so memory holds one value, not the file.

Three layouts are met: JSON lines (the Collector's file exporter, one ``TracesData`` a line),
one document or several concatenated pretty-printed ones, and one top-level array whose elements are
read one by one (a list of exported traces). :func:`check_complete` looks at the end of a file before
anything is imported, so that a file cut short is refused whole instead of half imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from pytest_flywheel.interop.errors import FormatError

CHUNK_CHARS = 1 << 20
#: Why a value Python's JSON parser cannot hold (arrays or objects nested thousands deep) is refused.
TOO_DEEP = "nested too deeply for a JSON parser (thousands of arrays or objects inside each other)"
_WHITESPACE = " \t\r\n\ufeff"


def check_complete(stream: IO[bytes], *, where: str) -> None:
    """Raise :class:`FormatError` when the file does not end where a JSON value ends.

    For JSON lines, the last line must parse; otherwise the last character that is not white space
    must close an object or array. Reads from the end only (the last line), then rewinds.
    """
    stream.seek(0, 2)
    end = stream.tell()
    position, tail = end, b""
    while position > 0:
        step = min(1 << 16, position)
        position -= step
        stream.seek(position)
        tail = stream.read(step) + tail
        stripped = tail.rstrip()
        if b"\n" in stripped:
            break
    stream.seek(0)
    stripped = tail.rstrip()
    if not stripped:
        return
    if not stripped.endswith((b"}", b"]")):
        raise FormatError(f"{where}: cut short (the file does not end with a complete JSON value); "
                          "nothing was imported from it")
    last_line = stripped.rsplit(b"\n", 1)[-1].strip()
    if last_line.startswith(b"{") and b"\n" in stripped:
        try:
            json.loads(last_line)
        except RecursionError:
            pass  # complete as far as can be told; reading it says why it is refused
        except ValueError:
            if _looks_like_json_lines(stream):
                raise FormatError(f"{where}: cut short (its last line is not complete JSON); nothing was "
                                  "imported from it") from None
        finally:
            stream.seek(0)


def _looks_like_json_lines(stream: IO[bytes]) -> bool:
    stream.seek(0)
    first = stream.readline(CHUNK_CHARS * 64)
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return False
    return True


def json_values(stream: IO[str], *, where: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each top-level JSON value; a top-level array yields its elements.

    A JSON-lines file is read a line at a time (a line that is not JSON is a :class:`FormatError`
    naming it); anything else through an incremental decoder holding one value at a time.
    """
    first = stream.readline()
    while first and not first.strip(_WHITESPACE):
        first = stream.readline()
    if not first:
        return
    head = first.lstrip(_WHITESPACE)
    if head.startswith("{"):
        try:
            value = json.loads(head)
        except RecursionError:
            raise FormatError(f"{where}: line 1: {TOO_DEEP}") from None
        except ValueError:
            pass
        else:
            yield 1, value
            yield from _lines(stream, where=where)
            return
    yield from _values(stream, first, where=where)


def _lines(stream: IO[str], *, where: str) -> Iterator[tuple[int, Any]]:
    number = 1
    for line in stream:
        number += 1
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except RecursionError:
            raise FormatError(f"{where}: line {number}: {TOO_DEEP}") from None
        except ValueError as exc:
            raise FormatError(f"{where}: line {number} is not valid JSON ({exc})") from None
        yield number, value


class _Buffer:
    """Text read so far and not yet decoded, refilled from the stream as the decoder needs more."""

    def __init__(self, stream: IO[str], start: str) -> None:
        self.stream = stream
        self.text = start
        self.pos = 0
        self.line = 1
        self.eof = False

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(max(CHUNK_CHARS, len(self.text)))  # doubles for a large value
        if not chunk:
            self.eof = True
            return False
        if self.pos:
            self.line += self.text.count("\n", 0, self.pos)
            self.text = self.text[self.pos:]
            self.pos = 0
        self.text += chunk
        return True

    def skip_space(self) -> str:
        """The next character that is not white space ('' at the end)."""
        while True:
            text = self.text
            while self.pos < len(text) and text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(text):
                return text[self.pos]
            if not self.more():
                return ""

    def where(self) -> int:
        return self.line + self.text.count("\n", 0, self.pos)


def _values(stream: IO[str], start: str, *, where: str) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    buffer = _Buffer(stream, start)
    in_array = buffer.skip_space() == "["
    if in_array:
        buffer.pos += 1
    expect_value = True
    while True:
        char = buffer.skip_space()
        if not char:
            if in_array:
                raise FormatError(f"{where}: cut short (the top-level array is never closed)")
            return
        if in_array and char == "]" :
            buffer.pos += 1
            if buffer.skip_space():
                raise FormatError(f"{where}: line {buffer.where()}: something follows the top-level array")
            return
        if in_array and not expect_value:
            if char != ",":
                raise FormatError(f"{where}: line {buffer.where()}: expected ',' or ']' between array elements")
            buffer.pos += 1
            expect_value = True
            continue
        while True:
            try:
                value, end = decoder.raw_decode(buffer.text, buffer.pos)
            except RecursionError:
                raise FormatError(f"{where}: line {buffer.where()}: {TOO_DEEP}") from None
            except json.JSONDecodeError as exc:
                if buffer.more():
                    continue
                line = buffer.line + buffer.text.count("\n", 0, exc.pos)
                raise FormatError(f"{where}: line {line} is not valid JSON ({exc.msg})") from None
            break
        line = buffer.where()
        buffer.pos = end
        expect_value = False
        yield line, value
