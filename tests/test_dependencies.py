"""The declared dependency ranges and the lowest versions CI installs stay in step."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def floors_and_caps() -> dict[str, tuple[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: dict[str, tuple[str, str]] = {}
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)>=([0-9.]+),<([0-9.]+)", requirement)
        if match:
            found[match.group(1).lower()] = (match.group(2), match.group(3))
    return found


def test_every_runtime_dependency_has_a_floor_and_a_cap() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=]", item)[0].lower() for item in project["dependencies"]}
    assert declared <= set(floors_and_caps()), sorted(declared - set(floors_and_caps()))


def test_ci_installs_exactly_the_floors() -> None:
    pins: dict[str, str] = {}
    for line in (ROOT / ".ci" / "lowest-constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    floors = {name: floor for name, (floor, _) in floors_and_caps().items()}
    assert pins == {name: floor if floor.count(".") == 2 else floor + ".0" for name, floor in floors.items()}
