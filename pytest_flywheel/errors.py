"""The root of every error pytest-flywheel raises on purpose.

Each piece derives its own errors from :class:`FlywheelError`; the CLI prints such an error as one line
and exits non-zero, and the pytest plugin shows its message without a traceback. An error's message is
a whole sentence that names the thing, says what was expected and found, and what to do next.
"""

from __future__ import annotations


class FlywheelError(Exception):
    """A failure with a message meant for the user, shown without a traceback."""
