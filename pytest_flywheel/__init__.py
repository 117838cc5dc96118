"""pytest-flywheel: turn an LLM agent's production failures into pytest regression tests.

Production code needs only the tracing SDK::

    from pytest_flywheel import track, track_anthropic, log_feedback

Names are imported on first use, so ``import pytest_flywheel`` (and so every pytest run once the
plugin is installed) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "track": "pytest_flywheel.tracing",
    "track_anthropic": "pytest_flywheel.tracing",
    "log_feedback": "pytest_flywheel.tracing",
    "current_trace_id": "pytest_flywheel.tracing",
    "current_span_id": "pytest_flywheel.tracing",
    "flush": "pytest_flywheel.tracing",
    "Client": "pytest_flywheel.suites",
    "Verdict": "pytest_flywheel.judge",
    "FlywheelError": "pytest_flywheel.errors",
}

# A literal list (and the explicit ``X as X`` imports below) so that type checkers, mypy --strict
# included, see these names as re-exported for users' ``from pytest_flywheel import track``.
__all__ = [
    "Client",
    "FlywheelError",
    "Verdict",
    "__version__",
    "current_span_id",
    "current_trace_id",
    "flush",
    "log_feedback",
    "track",
    "track_anthropic",
]

if TYPE_CHECKING:
    from pytest_flywheel.errors import FlywheelError as FlywheelError
    from pytest_flywheel.judge import Verdict as Verdict
    from pytest_flywheel.suites import Client as Client
    from pytest_flywheel.tracing import current_span_id as current_span_id
    from pytest_flywheel.tracing import current_trace_id as current_trace_id
    from pytest_flywheel.tracing import flush as flush
    from pytest_flywheel.tracing import log_feedback as log_feedback
    from pytest_flywheel.tracing import track as track
    from pytest_flywheel.tracing import track_anthropic as track_anthropic


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_flywheel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
