"""The pytest plugin (entry point ``pytest11: flywheel``).

Thin on purpose: options, markers and hooks only; the work lives in ``pytest_flywheel.pytest_plugin``
and is imported only when a flywheel feature is used, so installing the package costs a pytest run
that does not use it next to nothing.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("flywheel", "pytest-flywheel: LLM agent regression suites")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "assertion(*sentences): judge the test's return value against natural-language assertions"
    )
