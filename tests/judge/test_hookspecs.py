"""The hook specifications other plugins implement."""

from __future__ import annotations

import sys
from typing import Any

import pluggy
import pytest

from pytest_flywheel import hookspecs
from pytest_flywheel.judge import CheckResult


def manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("pytest")
    pm.add_hookspecs(hookspecs)
    return pm


def test_every_flywheel_hook_is_a_spec_with_its_documented_arguments() -> None:
    pm = manager()
    names = {name for name in dir(pm.hook) if name.startswith("pytest_flywheel_")}
    assert names == {"pytest_flywheel_make_judge", "pytest_flywheel_redact", "pytest_flywheel_check",
                     "pytest_flywheel_verdicts", "pytest_flywheel_failure_labels"}
    for name in names:
        spec = getattr(pm.hook, name).spec
        assert spec is not None and spec.function.__doc__
    make_judge, redact = pm.hook.pytest_flywheel_make_judge.spec, pm.hook.pytest_flywheel_redact.spec
    assert make_judge is not None and make_judge.argnames == ("config", "settings")
    assert make_judge.opts["firstresult"]
    assert redact is not None and redact.argnames == ("text",) and redact.opts["firstresult"]


def test_first_answer_wins_for_judge_redact_and_check() -> None:
    class Quiet:
        @pluggy.HookimplMarker("pytest")
        def pytest_flywheel_redact(self, text: str) -> str | None:
            return None

        @pluggy.HookimplMarker("pytest")
        def pytest_flywheel_make_judge(self, config: Any, settings: Any) -> Any:
            return None

    class Answers:
        @pluggy.HookimplMarker("pytest")
        def pytest_flywheel_redact(self, text: str) -> str | None:
            return text.replace("hunter2", "[REDACTED]")

        @pluggy.HookimplMarker("pytest")
        def pytest_flywheel_make_judge(self, config: Any, settings: Any) -> Any:
            return "my-judge"

        @pluggy.HookimplMarker("pytest")
        def pytest_flywheel_check(self, name: str, spec: dict[str, Any], output: Any,
                                  trajectory: list[dict[str, Any]]) -> CheckResult | None:
            return CheckResult(True, "ok", name) if name == "polite" else None

    pm = manager()
    pm.register(Answers())
    pm.register(Quiet())  # registered last, called first: its None falls through
    assert pm.hook.pytest_flywheel_redact(text="pw hunter2") == "pw [REDACTED]"
    assert pm.hook.pytest_flywheel_make_judge(config=None, settings=None) == "my-judge"
    result = pm.hook.pytest_flywheel_check(name="polite", spec={"polite": True}, output="hi", trajectory=[])
    assert result == CheckResult(True, "ok", "polite")
    assert pm.hook.pytest_flywheel_check(name="rude", spec={}, output="", trajectory=[]) is None


def test_the_judge_package_imports_neither_pytest_nor_the_sdk(pytester: pytest.Pytester) -> None:
    script = (
        "import sys, pytest_flywheel.judge\n"
        "print(sorted(m for m in ('pytest', 'anthropic', 'jsonschema', 'httpx2') if m in sys.modules))\n"
    )
    result = pytester.run(sys.executable, "-c", script)
    assert result.outlines[-1] == "[]"
