"""Record and replay of a case's LLM and tool traffic: vcrpy cassettes and tool replay.

Secrets are scrubbed by :mod:`pytest_flywheel.redaction` (the ground floor, shared with tracing).

* :func:`write_case_cassette`: a captured trace's spans as a cassette: each Anthropic call as the
  HTTP interaction the SDK will make again, each ``@track(type="tool")`` call as a function-level
  interaction (``tool_interactions:``) in the same file.
* :func:`replay_case`: open a case's cassette around a run of the agent (record modes
  :data:`RECORD_MODES`), then :meth:`ReplaySession.raise_for_miss` to turn a request or tool call the
  cassette did not hold into a :class:`CassetteMissError` that says what to do.

vcrpy and the Anthropic SDK are imported only when a session is opened, so importing this package
(or :mod:`pytest_flywheel.replay.sse`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_flywheel.replay.cassette_writer import write_case_cassette
    from pytest_flywheel.replay.errors import CassetteMissError, RecordedToolError
    from pytest_flywheel.replay.modes import RECORD_MODES
    from pytest_flywheel.replay.session import ReplaySession, replay_case

_EXPORTS = {
    "RECORD_MODES": "pytest_flywheel.replay.modes",
    "CassetteMissError": "pytest_flywheel.replay.errors",
    "RecordedToolError": "pytest_flywheel.replay.errors",
    "write_case_cassette": "pytest_flywheel.replay.cassette_writer",
    "ReplaySession": "pytest_flywheel.replay.session",
    "replay_case": "pytest_flywheel.replay.session",
}

__all__ = [
    "RECORD_MODES",
    "CassetteMissError",
    "RecordedToolError",
    "ReplaySession",
    "replay_case",
    "write_case_cassette",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
