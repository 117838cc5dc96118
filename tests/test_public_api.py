"""The package's top-level names: each resolves, lazily, to the piece that owns it."""

from __future__ import annotations

import subprocess
import sys

import pytest_flywheel


def test_every_public_name_resolves_and_all_matches_the_lazy_table() -> None:
    assert set(pytest_flywheel.__all__) == {*pytest_flywheel._EXPORTS, "__version__"}
    for name in pytest_flywheel.__all__:
        assert getattr(pytest_flywheel, name) is not None


def test_importing_the_package_loads_no_piece_until_a_name_is_used() -> None:
    code = (
        "import sys, pytest_flywheel\n"
        "heavy = [m for m in ('pytest_flywheel.tracing', 'pytest_flywheel.suites', 'pytest_flywheel.judge',"
        " 'anthropic', 'vcr', 'pydantic') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
