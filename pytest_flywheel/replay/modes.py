"""Record modes of a case's cassette, as ``--flywheel-record`` takes them."""

from __future__ import annotations

from typing import Literal

from pytest_flywheel.errors import FlywheelError

RecordMode = Literal["none", "once", "new_episodes", "all", "rewrite"]

#: ``none``: replay only; anything the cassette does not hold is a miss (the default).
#: ``once``: record when the cassette file does not exist yet, else behave like ``none``.
#: ``new_episodes``: replay what is recorded, record what is not.
#: ``all``: call everything for real and record it; recorded interactions the run did not make again
#: are kept.
#: ``rewrite``: call everything for real; the cassette ends up holding only this run's interactions.
RECORD_MODES: tuple[str, ...] = ("none", "once", "new_episodes", "all", "rewrite")


class RecordModeError(FlywheelError, ValueError):
    """A record mode that is not one of :data:`RECORD_MODES`."""


def check_record_mode(mode: str) -> RecordMode:
    """``mode`` if it is a known record mode, else a :class:`RecordModeError` listing the known ones."""
    if mode not in RECORD_MODES:
        known = ", ".join(RECORD_MODES)
        raise RecordModeError(f"Record mode {mode!r} is not one of {known}; use one of those.")
    return mode  # type: ignore[return-value]
