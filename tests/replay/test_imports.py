from __future__ import annotations

import subprocess
import sys


def test_importing_replay_and_its_redactor_loads_neither_vcrpy_nor_the_sdk() -> None:
    code = (
        "import sys, pytest_flywheel.replay, pytest_flywheel.redaction, pytest_flywheel.replay.cassette_writer; "
        "print(sorted(name for name in ('vcr', 'anthropic', 'httpx2') if name in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_lazy_exports_resolve() -> None:
    import pytest_flywheel.replay as replay

    assert replay.RECORD_MODES == ("none", "once", "new_episodes", "all", "rewrite")
    assert {name: callable(getattr(replay, name)) for name in replay.__all__ if name != "RECORD_MODES"} == {
        name: True for name in replay.__all__ if name != "RECORD_MODES"
    }
