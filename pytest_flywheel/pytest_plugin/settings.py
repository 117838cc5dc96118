"""Where a pytest session's flywheel settings come from: pytest's own rootdir and config file.

The project root is pytest's rootdir when pytest found a config file (``pytest.ini``, ``tox.ini``,
``setup.cfg`` or ``pyproject.toml``), else the nearest folder from the rootdir upwards holding a
``pyproject.toml``. ``[tool.flywheel]`` is read from that root's ``pyproject.toml``. A file that
cannot be read is an error only for a run that asks for a flywheel feature on the command line or in
the ini file; any other run gets one warning and goes on without ``[tool.flywheel]``.

Imported on every pytest run: standard library, pytest and ``pytest_flywheel.config`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_flywheel.config import ConfigError, find_root, read_pyproject_section
from pytest_flywheel.pytest_plugin.options import OPTION_NAMES, FlywheelOptions, resolve_options


class FlywheelConfigWarning(pytest.PytestWarning):
    """pytest-flywheel could not read its settings; a run that uses none of its features goes on."""


@dataclass(frozen=True)
class SessionSettings:
    """A session's project root, its ``[tool.flywheel]`` table and the resolved options."""

    root: Path
    section: dict[str, Any]
    options: FlywheelOptions


def project_root(config: pytest.Config) -> Path:
    """The flywheel project root of a pytest session (see the module docstring)."""
    if config.inipath is not None:
        return Path(config.rootpath)
    return find_root(Path(config.rootpath))


def asks_for_flywheel(config: pytest.Config) -> bool:
    """Whether the command line or the ini file sets any flywheel option."""
    for _, ini, _ in OPTION_NAMES:
        if config.getoption(ini, default=None) is not None:
            return True
        try:
            value = config.getini(ini)
        except ValueError:  # pragma: no cover - registered by add_options
            continue
        if value is not None and value != []:
            return True
    return False


def read_session_settings(config: pytest.Config) -> SessionSettings:
    """The session's settings; misuse is a :class:`pytest.UsageError` that says what to do."""
    root = project_root(config)
    try:
        section = read_pyproject_section(root)
    except ConfigError as exc:
        if asks_for_flywheel(config):
            raise pytest.UsageError(f"{exc}; fix the file to use pytest-flywheel's options") from None
        config.issue_config_time_warning(
            FlywheelConfigWarning(f"{exc}; pytest-flywheel ignores [tool.flywheel] in this run"), stacklevel=2
        )
        section = {}
    return SessionSettings(root=root, section=section, options=resolve_options(config, section))
