"""The package's imports: no cycle anywhere (function-level and ``TYPE_CHECKING`` imports count), and the
layering ARCHITECTURE.md describes (production code imports only tracing; nothing below the plugin
imports the plugin; another library's private names only in its adapter module)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_flywheel"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_modules(name: str) -> Iterator[str]:
    """Every module of the package that ``name`` imports, at any level of its code."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            if target in MODULES and target != name:
                yield target


GRAPH = {name: sorted(set(imported_modules(name))) for name in MODULES}


def _is_package_init(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def find_cycle() -> list[str] | None:
    """A cycle among modules (a package's ``__init__`` re-exporting its own modules is not an edge
    from those modules back to it, so the package edge is left out when the importer is inside it)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for target in GRAPH[name]:
            if _is_package_init(target) and name.startswith(target + "."):
                continue  # importing one's own package: Python resolves the module first
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if state.get(target) is None:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(GRAPH):
        if state.get(name) is None:
            found = visit(name)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle() is None, " -> ".join(find_cycle() or [])


def test_the_cycle_check_sees_function_level_and_type_checking_imports() -> None:
    # runner imports replay inside a function and under TYPE_CHECKING: both are edges
    assert "pytest_flywheel.replay" in GRAPH["pytest_flywheel.pytest_plugin.runner"]
    assert "pytest_flywheel.replay.transport" in GRAPH["pytest_flywheel.pytest_plugin.runner"]


def reachable(name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        for target in GRAPH[current]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


@pytest.mark.parametrize("piece", ["tracing", "store", "canonical", "files", "config"])
def test_production_pieces_never_reach_the_plugin_replay_or_judge(piece: str) -> None:
    names = [name for name in MODULES if name == f"pytest_flywheel.{piece}" or name.startswith(f"pytest_flywheel.{piece}.")]
    forbidden = ("pytest_flywheel.pytest_plugin", "pytest_flywheel.plugin", "pytest_flywheel.replay", "pytest_flywheel.judge")
    for name in names:
        bad = sorted(target for target in reachable(name) if target.startswith(forbidden))
        assert not bad, f"{name} reaches {bad}"


def test_nothing_below_the_plugin_imports_the_plugin() -> None:
    for name in MODULES:
        if name.startswith(("pytest_flywheel.pytest_plugin", "pytest_flywheel.plugin", "pytest_flywheel.cli")):
            continue
        bad = [t for t in GRAPH[name] if t.startswith(("pytest_flywheel.pytest_plugin", "pytest_flywheel.plugin"))]
        assert not bad, f"{name} imports {bad}"


PRIVATE_VCRPY = ("_deserialize_response", "CassettePatcherBuilder", "_save", "_load", "_played_interactions",
                 "_loaded_count", "_before_record_request", "_make_vcr_request", "_CassetteLoader")


def test_vcrpy_internals_appear_only_in_their_adapter() -> None:
    for name, path in MODULES.items():
        if name == "pytest_flywheel.replay._vcrpy":
            continue
        text = path.read_text(encoding="utf-8")
        # (whole words: `self._loaded_http` is not vcrpy's `_load`)
        used = [word for word in PRIVATE_VCRPY if re.search(rf"(\.|import ){word}\b", text)]
        assert not used, f"{name} uses vcrpy's {used}"
