"""Analysis: find the step that went wrong in a bad trace.

Rules first (:mod:`.rules`, no API key needed), then a comparison with a successful trace of the
same entrypoint (:mod:`.compare`), then an LLM analyst that reads the span tree through tools
(:mod:`.analyst`). :func:`analyze` runs all three; :mod:`.report` renders the result.
"""

from __future__ import annotations

from pytest_flywheel.analysis.analyzer import Analysis, AnalyzeOptions, analyze
from pytest_flywheel.analysis.findings import AnalystAnswer, Comparison, Finding, StepDifference

__all__ = [
    "Analysis",
    "AnalystAnswer",
    "AnalyzeOptions",
    "Comparison",
    "Finding",
    "StepDifference",
    "analyze",
]
