"""One list of check kinds: the shipped schema accepts exactly the kinds the judge knows how to run."""

from __future__ import annotations

import json
from importlib import resources

from pytest_flywheel.judge.checks import CHECK_KINDS
from pytest_flywheel.suites.models import CHECK_KINDS as SUITE_CHECK_KINDS


def test_schema_check_keys_are_the_judges_check_kinds() -> None:
    schema = json.loads(resources.files("pytest_flywheel.suites").joinpath("suite.schema.json").read_text())
    keys = set(schema["$defs"]["check"]["properties"]) - {"args"}  # args qualifies tool_called
    assert keys == set(CHECK_KINDS)
    assert SUITE_CHECK_KINDS == CHECK_KINDS
