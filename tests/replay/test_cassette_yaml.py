"""The fast cassette reader gives exactly what vcrpy's safe loader gives (values, types, errors)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from vcr.serializers import yamlserializer

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import write_case_cassette
from pytest_flywheel.replay.cassette_yaml import load_cassette_yaml
from pytest_flywheel.testing import text_message

from .spans import ask, llm_span, tool_span

DOCUMENTS = {
    "scalars": """
        version: 1
        numbers: [0x1f, 0o17, 1_000, -3, +4, 1.5, 6.02e23, .inf, -.Inf, .nan, "12", '3.0']
        booleans: [yes, No, on, OFF, true, False, y, n]
        nulls: [~, null, Null, , "~"]
        keys: {1: one, true: yes, null: none, 2.5: two and a half}
        text: |
          line one
          line two
        folded: >
          folded
          text
    """,
    "binary": "body: !!binary aGVsbG8=\n",
    "timestamp": "when: 2026-11-22T03:00:00Z\nday: 2026-11-22\n",
    "python tuple": "pair: !!python/tuple [1, 2]\n",
    "aliases": "a: &x {k: [1, 2]}\nb: *x\n",
    "merge": "base: &b {k: 1}\nderived: {<<: *b, j: 2}\n",
    "recursive": "&r [1, *r]\n",
    "duplicate keys": "k: 1\nk: 2\n",
    "set": "!!set {a, b}\n",
    "empty": "",
    "comment only": "# nothing here\n",
    "plain list": "- 1\n- two\n",
}


def both(text: str) -> tuple[Any, Any]:
    try:
        expected: Any = ("value", yamlserializer.deserialize(text))
    except Exception as exc:  # compare the error too
        expected = ("error", type(exc), str(exc))
    try:
        found: Any = ("value", load_cassette_yaml(text))
    except Exception as exc:
        found = ("error", type(exc), str(exc))
    return expected, found


def typed(value: Any, inside: tuple[int, ...] = ()) -> Any:
    """``value`` with every scalar's type next to it, NaN comparable, a cycle marked as one."""
    if id(value) in inside:
        return "(cycle)"
    if isinstance(value, dict):
        inner = (*inside, id(value))
        return {repr(typed(key, inner)): typed(item, inner) for key, item in value.items()}
    if isinstance(value, list | tuple):
        inner = (*inside, id(value))
        return (type(value).__name__, [typed(item, inner) for item in value])
    return (type(value).__name__, repr(value))


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_documents_read_as_vcrpy_reads_them(name: str) -> None:
    expected, found = both(textwrap.dedent(DOCUMENTS[name]))
    assert typed(found) == typed(expected)


def test_aliases_stay_shared_as_vcrpy_shares_them() -> None:
    data = load_cassette_yaml("a: &x {k: [1]}\nb: *x\n")
    assert data["a"] is data["b"]
    recursive = load_cassette_yaml("&r [1, *r]\n")
    assert recursive[1] is recursive


@pytest.mark.parametrize(
    "text",
    [
        "interactions: [unclosed\n",
        "a: 1\n b: 2\n",
        "{1: [x], [2]: y}\n",
        "!!int nope\n",
        "a: !!python/name:os.system\n",
    ],
)
def test_bad_documents_fail_as_they_fail_in_vcrpy(text: str) -> None:
    expected, found = both(text)
    assert expected[0] == "error"
    assert found == expected
    if issubclass(expected[1], yaml.YAMLError):
        assert issubclass(found[1], yaml.YAMLError)


def test_a_written_cassette_reads_back_as_vcrpy_reads_it(tmp_path: Path) -> None:
    spans = [
        llm_span(ask("Where is W1?", temperature=0.5), text_message("Monday\nor Tuesday")),
        llm_span(ask("stream it", stream=True), text_message("streamed"), stream=True),
        tool_span("lookup_order", {"order_id": "W1", "limit": 3, "flags": [True, None]}, {"eta": 1.5}),
    ]
    path = write_case_cassette(spans, tmp_path / "case.yaml", redactor=Redactor())
    expected, found = both(path.read_text())
    assert expected[0] == "value"
    assert typed(found) == typed(expected)


def test_the_shared_corpus_cassettes_read_as_vcrpy_reads_them(corpus: Path) -> None:
    cassettes = sorted(corpus.rglob("*.yaml"))[:200]
    compared = 0
    for path in cassettes:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        expected, found = both(text)
        assert typed(found) == typed(expected), path
        compared += 1
    if not compared:
        pytest.skip("the corpus holds no YAML files")
