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

__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:
    from pytest_flywheel.errors import FlywheelError
    from pytest_flywheel.judge import Verdict
    from pytest_flywheel.suites import Client
    from pytest_flywheel.tracing import (
        current_span_id,
        current_trace_id,
        flush,
        log_feedback,
        track,
        track_anthropic,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_flywheel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
