"""The production tracing SDK: what an agent imports.

::

    from pytest_flywheel import track, track_anthropic, log_feedback, current_trace_id

    client = track_anthropic(anthropic.Anthropic())

    @track(entrypoint=True)
    def answer(question: str) -> str: ...

Every call of a ``@track`` function becomes a span; spans nest into traces through ``contextvars``;
a background thread writes them to the SQLite store (``.flywheel/flywheel.db`` unless
``FLYWHEEL_STORE`` / ``[tool.flywheel] store`` says otherwise). ``FLYWHEEL_TRACING=off`` turns it off.
Importing this package imports neither the Anthropic SDK nor pydantic, vcrpy or pytest.
"""

from __future__ import annotations

from pytest_flywheel.tracing.anthropic_client import track_anthropic
from pytest_flywheel.tracing.decorator import TrackUsageError, track
from pytest_flywheel.tracing.runtime import flush, reset_for_tests, tracing_stats
from pytest_flywheel.tracing.spans import current_span_id, current_trace_id, log_feedback
from pytest_flywheel.tracing.writer import TracingWarning

__all__ = [
    "TracingWarning",
    "TrackUsageError",
    "current_span_id",
    "current_trace_id",
    "flush",
    "log_feedback",
    "reset_for_tests",
    "tracing_stats",
    "track",
    "track_anthropic",
]
