"""Custom labels through the ``pytest_flywheel_failure_labels`` hook of the project's conftest.py: used
by ``flywheel triage`` and ``flywheel stats``, checked, and a conftest without the hook never imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_flywheel.cli.main import main

HOOK = '''
def pytest_flywheel_failure_labels(trace, tree, findings):
    spans = [node.span.name for node in tree.walk()]
    if "warehouse" in spans:
        return [{"name": "warehouse_down", "evidence": "the warehouse span raised"}]
    if trace.input and "price" in str(trace.input):
        return "price_question"
    return None
'''


def triage_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = main(["triage", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data: dict[str, object] = json.loads(out)
    return data


def test_custom_labels_join_the_cluster_key(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "conftest.py").write_text(HOOK)
    data = triage_json(capsys)
    assert data["custom_labels"] is True
    by_labels = {tuple(c["labels"]): c for c in data["clusters"]}  # type: ignore[attr-defined]
    assert ("tool_raised", "warehouse_down") in by_labels
    price = by_labels[("price_question",)]
    assert price["example_labels"] == [{"name": "price_question", "source": "custom", "span_id": None, "evidence": ""}]
    code = main(["stats", "--json"])
    stats = json.loads(capsys.readouterr().out)
    assert code == 0 and ["tool_raised", "warehouse_down"] in [c["labels"] for c in stats["uncovered_clusters"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return ['Not Snake']", "returned the label 'Not Snake'; a label name is lower_snake_case"),
        ("return ['tool_raised']", "returned 'tool_raised', a built-in rule label"),
        ("return 3", "returned int; return a list of label names"),
        ("raise RuntimeError('boom')", "RuntimeError: boom"),
    ],
)
def test_a_bad_hook_is_a_clear_error(
    project: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    (project / "conftest.py").write_text(f"def pytest_flywheel_failure_labels(trace, tree, findings):\n    {body}\n")
    code = main(["triage"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("flywheel: error: ") and message in err
    if "boom" not in message:
        assert "conftest.py: pytest_flywheel_failure_labels" in err


def test_a_conftest_that_does_not_name_the_hook_is_never_imported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "conftest.py").write_text("raise SystemExit('imported!')\n")
    assert triage_json(capsys)["custom_labels"] is False
    (project / "conftest.py").write_text("import no_such_module\ndef pytest_flywheel_failure_labels(): pass\n")
    code = main(["triage"])
    err = capsys.readouterr().err
    assert code == 1 and "defines pytest_flywheel_failure_labels but importing it raised ModuleNotFoundError" in err
