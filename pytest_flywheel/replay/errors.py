"""Errors of record and replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pytest_flywheel.errors import FlywheelError

MissKind = Literal["request", "tool", "missing_cassette"]


class CassetteMissError(FlywheelError):
    """The agent made a request, or called a tool, that the case's cassette does not hold, and the
    record mode does not allow recording it.

    ``kind`` is ``"request"`` (an HTTP request), ``"tool"`` (a ``@track(type="tool")`` call) or
    ``"missing_cassette"`` (there is no cassette file at all); ``what`` describes the request or the
    call; ``fix`` is the record mode that would record it. ``difference_path`` is the JSON path in
    the request body at which it first differs from the closest recorded request (``system``,
    ``messages[3].content[0].text``; empty when the bodies are not JSON and differ as a whole), None
    when no recorded request is like it or only its method, path or query differs; ``summary`` is
    the miss in one line (``cassette miss at system: the system prompt changed``).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: MissKind,
        cassette: Path,
        record_mode: str,
        what: str,
        fix: str,
        difference_path: str | None = None,
        summary: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: MissKind = kind
        self.cassette = cassette
        self.record_mode = record_mode
        self.what = what
        self.fix = fix
        self.difference_path = difference_path
        self.summary = summary or _SUMMARIES[kind]

    def __reduce__(self) -> tuple[Any, ...]:  # picklable, for processes and pytest-xdist
        return (
            _rebuild_miss,
            (
                type(self),
                str(self),
                self.kind,
                self.cassette,
                self.record_mode,
                self.what,
                self.fix,
                self.difference_path,
                self.summary,
            ),
        )


_SUMMARIES: dict[MissKind, str] = {
    "request": "cassette miss: a request the cassette does not hold",
    "tool": "cassette miss: a tool call the cassette does not hold",
    "missing_cassette": "cassette miss: the cassette file does not exist",
}


def _rebuild_miss(
    cls: type[CassetteMissError],
    message: str,
    kind: MissKind,
    cassette: Path,
    record_mode: str,
    what: str,
    fix: str,
    difference_path: str | None = None,
    summary: str | None = None,
) -> CassetteMissError:
    return cls(
        message,
        kind=kind,
        cassette=cassette,
        record_mode=record_mode,
        what=what,
        fix=fix,
        difference_path=difference_path,
        summary=summary,
    )


RecordingKind = Literal["no_key", "unreachable"]


class RecordingError(FlywheelError):
    """A request the record mode would record could not be sent: there is no API key (``kind``
    ``"no_key"``), or the API could not be reached (``"unreachable"``). ``fix`` says what to do."""

    def __init__(self, message: str, *, kind: RecordingKind, cassette: Path, fix: str) -> None:
        super().__init__(message)
        self.kind: RecordingKind = kind
        self.cassette = cassette
        self.fix = fix

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_recording_error, (type(self), str(self), self.kind, self.cassette, self.fix))


def _rebuild_recording_error(
    cls: type[RecordingError], message: str, kind: RecordingKind, cassette: Path, fix: str
) -> RecordingError:
    return cls(message, kind=kind, cassette=cassette, fix=fix)


class RecordedToolError(Exception):
    """A tool call that raised when it was recorded, raised again on replay.

    Used when the recorded exception type cannot be imported or built from its message; ``type_name``
    is the recorded type (``module.QualName``), ``message`` its message.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.message))


class CassetteWriteError(FlywheelError):
    """A span of the trace cannot become a faithful interaction of a cassette (its request, response,
    arguments or result were cut short or were not JSON when they were traced)."""
