"""Trust sits below the plugin and the CLI: importing it brings in neither, nor pytest, vcrpy or the SDK."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = [
    "pytest_flywheel.trust.labels",
    "pytest_flywheel.trust.judge_agreement",
    "pytest_flywheel.trust.records",
    "pytest_flywheel.trust.review",
    "pytest_flywheel.trust.labelling",
    "pytest_flywheel.trust.display",
    "pytest_flywheel.runs.budget",
]
FORBIDDEN = ("pytest", "_pytest", "vcr", "anthropic", "pytest_flywheel.pytest_plugin", "pytest_flywheel.cli",
             "pytest_flywheel.plugin")


def test_trust_imports_neither_the_plugin_nor_pytest_vcrpy_or_the_sdk() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = json.loads(done.stdout)
    bad = [name for name in loaded if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
