"""The cassette reader gives exactly what vcrpy's public safe loader gives (values and types), and fails
where it fails; where it refuses what vcrpy reads (a value that contains itself), it says so."""

from __future__ import annotations

import textwrap
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from vcr.serializers import yamlserializer

from pytest_flywheel.redaction import Redactor
from pytest_flywheel.replay import write_case_cassette
from pytest_flywheel.replay.cassette_yaml import read_cassette_yaml
from pytest_flywheel.testing import text_message
from pytest_flywheel.yaml_reader import YAMLReadError

from .spans import ask, llm_span, tool_span

DOCUMENTS = {
    "scalars": """
        version: 1
        numbers: [0x1f, 0o17, 1_000, -3, +4, 1.5, 6.02e23, .inf, -.Inf, .nan, "12", '3.0']
        booleans: [yes, No, on, OFF, true, False, y, n]
        nulls: [~, null, Null, NULL, "~"]
        empty:
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
    "duplicate keys": "k: 1\nk: 2\n",
    "set": "!!set {a, b}\n",
    "empty": "",
    "comment only": "# nothing here\n",
    "plain list": "- 1\n- two\n",
    "merge list": "a: &a {k: 1, j: 1}\nb: &b {k: 2, m: 2}\nc: {<<: [*a, *b], own: 3, k: 4}\n",
    "omap and pairs": "o: !!omap [{a: 1}, {b: 2}]\np: !!pairs [{a: 1}, {a: 2}]\n",
    "python str and bytes io": (
        "s: !!python/str text\nu: !!python/unicode more\n"
        "b: !!python/object/new:_io.BytesIO {state: !!python/tuple [!!binary aGk=, 0, {}]}\n"
    ),
    "value key": "=: equals\n",
    "sexagesimal and octal": "a: 1:20\nb: 017\nc: 0b101\nd: 1_0.5\n",
}


def load_cassette_yaml(text: str) -> Any:
    return read_cassette_yaml(text, source="case.yaml").data


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
    if isinstance(value, BytesIO):
        return ("BytesIO", repr(value.getvalue()))
    return (type(value).__name__, repr(value))


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_documents_read_as_vcrpy_reads_them(name: str) -> None:
    expected, found = both(textwrap.dedent(DOCUMENTS[name]))
    assert typed(found) == typed(expected)


def test_aliases_stay_shared_as_vcrpy_shares_them() -> None:
    data = load_cassette_yaml("a: &x {k: [1]}\nb: *x\n")
    assert data["a"] is data["b"]


def test_a_value_that_contains_itself_is_refused_where_vcrpy_would_build_a_cycle() -> None:
    assert yamlserializer.deserialize("&r [1, *r]\n")[1] is not None  # vcrpy reads it (a cycle)
    with pytest.raises(YAMLReadError, match=r"^case.yaml:2: the alias \*r is inside its own anchor &r \(line 1\)"):
        load_cassette_yaml("a: &r\n  - *r\n")


@pytest.mark.parametrize(
    "text",
    [
        "interactions: [unclosed\n",
        "a: 1\n b: 2\n",
        "{1: [x], [2]: y}\n",
        "!!int nope\n",
        "a: !!python/name:os.system\n",
        "a: !!python/object/apply:os.system [ls]\n",
        "a: *undefined\n",
        "--- 1\n--- 2\n",
        "a: &x 1\nb: &x 2\n",
        "a: !!timestamp not-a-time\n",
    ],
)
def test_bad_documents_fail_as_they_fail_in_vcrpy(text: str) -> None:
    expected, found = both(text)
    assert expected[0] == "error"
    assert found[0] == "error" and found[1] is YAMLReadError
    assert found[2].startswith("case.yaml:") and "\n" not in found[2]


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
