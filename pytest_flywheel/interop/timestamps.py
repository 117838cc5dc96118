"""ISO-8601 times as exporters write them, read as Unix seconds (a time with no zone is UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pytest_flywheel.interop.errors import FormatError


def iso_seconds(value: Any, *, what: str) -> float:
    """``2025-10-14T16:44:29.952Z``, ``2025-10-14 16:44:29.952000+00:00`` and kin as epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise FormatError(f"{what} {value!r} is not an ISO-8601 time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FormatError(f"{what} {value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
