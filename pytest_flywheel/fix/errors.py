"""The fix piece's errors: each one means nothing in the project was changed."""

from __future__ import annotations

from pytest_flywheel.errors import FlywheelError


class FixError(FlywheelError):
    """A fix that could not be made or applied; the project's files are as they were."""


class NothingToFixError(FixError):
    """The target has no failing case to fix."""


class FixerError(FixError):
    """The fixer agent gave no usable answer (an API failure, or no finish within its bounds)."""
