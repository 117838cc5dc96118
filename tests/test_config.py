from __future__ import annotations

from pathlib import Path

import pytest

from pytest_flywheel.config import ConfigError, find_root, load_settings


def test_pyproject_section_and_env_override(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flywheel]\nstore = "data/traces.db"\nproject = "shop"\n'
        '[tool.flywheel.prices.my-model]\ninput = 1.5\noutput = 7\n'
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_root(nested) == tmp_path.resolve()

    settings = load_settings(tmp_path, environ={})
    assert settings.store == tmp_path.resolve() / "data" / "traces.db"
    assert settings.project == "shop"
    assert settings.prices["my-model"].output == 7.0
    assert settings.verdicts_path == tmp_path.resolve() / "flywheel" / "verdicts.jsonl"

    overridden = load_settings(tmp_path, environ={"FLYWHEEL_STORE": "/tmp/x.db", "FLYWHEEL_TRACING": "off"})
    assert overridden.store == Path("/tmp/x.db")
    assert overridden.tracing is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tool.flywheel]\nqueue_size = "many"\n', "expected a whole number"),
        ("[tool.flywheel]\nredact = 3\n", "redact must be a list"),
        ("[tool.flywheel.prices.m]\ninput = 1\n", "needs input and output"),
        ("[tool.flywheel\n", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path, environ={})
