"""Settings resolution for a pytest session: the project root, ``[tool.flywheel]`` and the options.

Imported on every pytest run: stdlib, pytest and ``pytest_flywheel.config`` only.
"""

from __future__ import annotations

import pytest

from pytest_flywheel.config import ConfigError, find_root, read_pyproject_section
from pytest_flywheel.pytest_plugin.options import FlywheelState, resolve_options


def build_state(config: pytest.Config) -> FlywheelState:
    """The session state: the project root (the nearest pyproject.toml from pytest's rootdir upwards,
    as ``flywheel`` itself finds it), its ``[tool.flywheel]`` table and the resolved options."""
    root = find_root(config.rootpath)
    try:
        section = read_pyproject_section(root)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    return FlywheelState(
        config=config, options=resolve_options(config, section), root=root, pyproject_section=section
    )
