"""Custom failure labels: the ``pytest_flywheel_failure_labels`` hook, outside a pytest session.

``flywheel triage`` (and ``stats``, ``candidates propose``) run without pytest, so they look for the
hook where a project writes its pytest hooks: the ``conftest.py`` at the project root. The file is
imported only when its text names the hook (a conftest without it is never executed here), with the
project root on ``sys.path`` as pytest puts it. Implementations are registered with pytest's own
plugin manager (``pytest.PytestPluginManager``), so a plain ``def pytest_flywheel_failure_labels``
works as it does under pytest.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_flywheel.analysis.findings import Finding
from pytest_flywheel.errors import FlywheelError
from pytest_flywheel.evolve.labelling import Labeller
from pytest_flywheel.evolve.taxonomy import LABEL_NAME, Label, definition
from pytest_flywheel.store.records import TraceRecord
from pytest_flywheel.store.tree import SpanTree

HOOK = "pytest_flywheel_failure_labels"


class CustomLabelError(FlywheelError):
    """A custom-label hook that cannot be loaded or returned something that is not a label."""


def _import_conftest(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("flywheel_project_conftest", path)
    if spec is None or spec.loader is None:
        raise CustomLabelError(f"{path}: cannot be imported as a module")
    module = importlib.util.module_from_spec(spec)
    root = str(path.parent)
    added = root not in sys.path
    if added:
        sys.path.insert(0, root)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any failure is theirs to see, with the file named
        raise CustomLabelError(
            f"{path} defines {HOOK} but importing it raised {type(exc).__name__}: {exc}; fix the file, "
            f"or run `flywheel triage` from a folder where it imports"
        ) from None
    finally:
        if added and root in sys.path:
            sys.path.remove(root)
    return module


def custom_labeller(root: Path) -> Labeller | None:
    """A labeller calling every ``pytest_flywheel_failure_labels`` of the root's conftest.py, or None."""
    path = root / "conftest.py"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if HOOK not in text:
        return None
    module = _import_conftest(path)
    if not callable(getattr(module, HOOK, None)):
        return None
    import pytest

    from pytest_flywheel import hookspecs

    manager = pytest.PytestPluginManager()
    manager.add_hookspecs(hookspecs)
    manager.register(module, name=str(path))
    hook = getattr(manager.hook, HOOK)

    def labeller(trace: TraceRecord, tree: SpanTree, findings: Sequence[Finding]) -> Iterable[Label]:
        try:
            results = hook(trace=trace, tree=tree, findings=list(findings))
        except Exception as exc:  # the user's hook: name it and the trace, no traceback
            raise CustomLabelError(
                f"{path}: {HOOK} raised {type(exc).__name__}: {exc} on trace {trace.id}; fix the hook, or "
                "move conftest.py aside to triage without custom labels"
            ) from None
        return [label for result in results for label in _labels(result, path)]

    return labeller


def _labels(result: Any, path: Path) -> list[Label]:
    if result is None:
        return []
    items = [result] if isinstance(result, str | Mapping) else result
    if not isinstance(items, Iterable):
        raise CustomLabelError(f"{path}: {HOOK} returned {type(result).__name__}; return a list of label names")
    labels: list[Label] = []
    for item in items:
        name, evidence = (item, "") if isinstance(item, str) else (
            (item.get("name"), str(item.get("evidence") or "")) if isinstance(item, Mapping) else (item, "")
        )
        if not isinstance(name, str) or not LABEL_NAME.match(name):
            raise CustomLabelError(
                f"{path}: {HOOK} returned the label {name!r}; a label name is lower_snake_case "
                "(letters, digits and _, starting with a letter, at most 64 characters)"
            )
        known = definition(name)
        if known is not None and known.source != "custom":
            raise CustomLabelError(
                f"{path}: {HOOK} returned {name!r}, a built-in {known.source} label; give your label a name of "
                "its own"
            )
        labels.append(Label(name, "custom", evidence))
    return labels
