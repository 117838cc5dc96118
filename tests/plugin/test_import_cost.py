"""Installing the plugin must cost a pytest run that uses no flywheel feature next to nothing: none of
the heavy libraries is imported unless a flywheel option, marker or fixture is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.plugin.conftest import Project

HEAVY = ("anthropic", "vcr", "pydantic", "jsonschema", "ruamel", "httpx2", "httpx", "yaml")


def imported_modules(cwd: object, *args: str) -> set[str]:
    """Top-level names of every module ``python -X importtime -m pytest <args>`` imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1, 5), done.stdout + done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":
                names.add(name.split(".")[0])
    return names


def test_a_plain_run_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_trivial="def test_one():\n    assert True\n")
    modules = imported_modules(pytester.path, "--co", "-q")
    assert "pytest_flywheel" in modules  # the plugin did load
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))


def test_a_plain_run_stays_light_even_when_it_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_trivial="def test_one():\n    assert True\n")
    assert imported_modules(pytester.path, "-q").isdisjoint(HEAVY)


def test_the_check_would_see_a_heavy_import(project: Project) -> None:
    # The same measurement notices the libraries once a flywheel feature is used.
    modules = imported_modules(project.path, "--flywheel-suite=qa", "--co", "-q")
    assert "pydantic" in modules
