"""Suite file validation: every kind of problem reads ``path:line: field: what is wrong``, never a traceback."""

from __future__ import annotations

import copy
import io
import json
import re
import textwrap
import typing
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from pytest_flywheel.config import load_settings
from pytest_flywheel.suites import (
    ContainsCheck,
    SuiteFileError,
    ToolCalledCheck,
    load_suite,
    suite_schema,
)
from pytest_flywheel.suites.reading import parse_yaml

GOOD = """\
version: 1
name: qa
description: Order questions.
target: support.agent:answer
judge: {model: claude-sonnet-5-5}
cases:
  - id: where-is-my-order-7f3a1c
    input:
      question: Where is my order 1234?
      user_id: 7
    assertions:
      - The response must give the delivery date.
      - contains: "1234"
      - not_contains: sorry
      - regex: "ships on \\\\w+"
      - json_schema: {type: string}
      - tool_called: lookup_order
        args: {order_id: "1234"}
      - max_latency_ms: 2000
      - max_cost_usd: 0.01
    tags: [orders, p1]
    source: {trace_id: 0192abcd, project: default, captured_at: "2026-11-22T02:39:00Z"}
    notes: Invented a date in production.
  - id: refund
    input: {question: Can I get a refund?}
    assertions: [The response must explain the refund policy.]
    cassette: flywheel/recordings/refund.yaml
"""


def write_suite(tmp_path: Path, text: str, name: str = "qa") -> Path:
    path = tmp_path / "flywheel" / "suites" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(SuiteFileError) as caught:
        load_suite(path)
    return str(caught.value).splitlines()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # error paths are shown relative to the working directory


def test_a_valid_file_loads_into_the_typed_model(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    loaded = load_suite(write_suite(tmp_path, GOOD))
    suite = loaded.suite
    assert suite.name == "qa" and suite.target == "support.agent:answer"
    assert suite.judge is not None and suite.judge.model == "claude-sonnet-5-5"
    first, second = suite.cases
    assert first.input == {"question": "Where is my order 1234?", "user_id": 7}
    assert first.sentences == ["The response must give the delivery date."]
    assert first.checks[0] == ContainsCheck(contains="1234")
    assert first.checks[4] == ToolCalledCheck(tool_called="lookup_order", args={"order_id": "1234"})
    assert first.checks[2].to_data() == {"regex": "ships on \\w+"}
    assert first.tags == ["orders", "p1"]
    assert first.source is not None and first.source.captured_at == "2026-11-22T02:39:00Z"
    assert loaded.line_of("where-is-my-order-7f3a1c") == 7
    assert loaded.line_of("refund") == 24
    with pytest.raises(KeyError, match="has no case 'nope'"):
        loaded.line_of("nope")
    settings = load_settings(tmp_path)
    assert (
        first.cassette_path(settings, "qa")
        == tmp_path / "flywheel/cassettes/qa/where-is-my-order-7f3a1c.yaml"
    )
    assert second.cassette_path(settings, "qa") == tmp_path / "flywheel/recordings/refund.yaml"


def test_an_unquoted_timestamp_and_empty_lists_are_accepted(tmp_path: Path) -> None:
    path = write_suite(
        tmp_path,
        """\
        version: 1
        name: qa
        cases:
          - id: a
            input: {when: 2026-01-02}
            assertions: [fine]
            tags:
            source: {trace_id: t1, captured_at: 2026-11-22T02:39:00Z}
        """,
    )
    case = load_suite(path).suite.cases[0]
    assert case.input == {"when": "2026-01-02"}
    assert case.tags == []
    assert case.source is not None and case.source.captured_at == "2026-11-22T02:39:00Z"


# Each bad file and the exact lines it must produce.
BAD_FILES = {
    "yaml syntax": (
        "version: 1\nname: qa\ncases:\n  - id: a\n   input: x\n",
        [
            "flywheel/suites/qa.yaml:5: yaml: not valid YAML: did not find expected '-' indicator "
            "(while parsing a block collection)"
        ],
    ),
    "unterminated quote": (
        'version: 1\nname: qa\ncases:\n  - id: "a\n',
        [
            "flywheel/suites/qa.yaml:5: yaml: not valid YAML: found unexpected end of stream "
            "(while scanning a quoted scalar)"
        ],
    ),
    "empty file": (
        "",
        [
            "flywheel/suites/qa.yaml:1: suite: the file is empty; expected a mapping with version, name, "
            "target and cases"
        ],
    ),
    "a list at the top": (
        "- a\n",
        [
            "flywheel/suites/qa.yaml:1: suite: expected a mapping with version, name, target and cases, "
            "found a list of 1 item"
        ],
    ),
    "duplicate key": (
        "version: 1\nname: qa\nname: qa\n",
        ["flywheel/suites/qa.yaml:3: name: duplicate key (first at line 2); keep one of them"],
    ),
    "key that is not text": (
        "version: 1\nname: qa\n1: x\n",
        ["flywheel/suites/qa.yaml:3: suite: keys must be text, found 1; quote it"],
    ),
    "newer version": (
        "version: 2\nname: qa\n",
        [
            "flywheel/suites/qa.yaml:1: version: expected 1 (the suite format this pytest-flywheel reads; a "
            "newer file needs a newer pytest-flywheel), found the number 2"
        ],
    ),
    "missing name": (
        "version: 1\ncases: []\n",
        ["flywheel/suites/qa.yaml:1: name: required field is missing"],
    ),
    "name not the file's": (
        "version: 1\nname: other\n",
        [
            "flywheel/suites/qa.yaml:2: name: expected 'qa', the file's name (suites are found by file name), "
            "found 'other'"
        ],
    ),
    "unknown top-level field": (
        "version: 1\nname: qa\ncasses: []\n",
        [
            "flywheel/suites/qa.yaml:3: casses: unknown field; expected one of version, name, description, "
            "target, judge, runs, pass_threshold, cases"
        ],
    ),
    "target not module:qualname": (
        "version: 1\nname: qa\ntarget: agent.answer\n",
        [
            "flywheel/suites/qa.yaml:3: target: expected an entrypoint as module:qualname, such as "
            "support.agent:answer, found the text 'agent.answer'"
        ],
    ),
    "judge typo": (
        "version: 1\nname: qa\njudge: {modle: x}\n",
        ["flywheel/suites/qa.yaml:3: judge.modle: unknown field; expected one of model, backend, options"],
    ),
    "cases not a list": (
        "version: 1\nname: qa\ncases: {id: a}\n",
        ["flywheel/suites/qa.yaml:3: cases: expected a list, found a mapping with keys id"],
    ),
    "case fields": (
        """\
        version: 1
        name: qa
        cases:
          - id: a
            input: []
            assertions: []
            colour: red
          - input: {question: where is my order please}
            assertions: [ok]
          - id: has space
            input: {}
            assertions: [ok]
        """,
        [
            "flywheel/suites/qa.yaml:5: cases[0].input: expected a mapping of parameter names to values, "
            "found a list of 0 items",
            "flywheel/suites/qa.yaml:6: cases[0].assertions: expected a list of at least one assertion, "
            "found an empty list",
            "flywheel/suites/qa.yaml:7: cases[0].colour: unknown field; expected one of id, input, "
            "assertions, tags, source, cassette, notes, runs, pass_threshold",
            "flywheel/suites/qa.yaml:8: cases[1].id: required field is missing; give the case an id, such "
            "as where-is-my-order-please-7f96ab",
            "flywheel/suites/qa.yaml:10: cases[2].id: expected an id of letters, digits, '-', '_' and '.', "
            "starting with a letter or digit, found the text 'has space'",
        ],
    ),
    "duplicate case ids": (
        """\
        version: 1
        name: qa
        cases:
          - id: same
            input: {}
            assertions: [ok]
          - id: other
            input: {}
            assertions: [ok]
          - id: same
            input: {}
            assertions: [ok]
        """,
        [
            "flywheel/suites/qa.yaml:10: cases[2].id: duplicate case id 'same' (first at line 4); give one of "
            "them another id"
        ],
    ),
    "assertions": (
        """\
        version: 1
        name: qa
        cases:
          - id: a
            input: {}
            assertions:
              - contain: x
              - contains: x
                regex: y
              - 5
              - "  "
              - args: {a: 1}
              - contains: z
                args: {}
              - regex: "("
              - json_schema: {type: nope}
              - max_latency_ms: 0
              - max_cost_usd: -1
              - contains: ""
              - tool_called: lookup
                args: [1]
              - {}
        """,
        [
            "flywheel/suites/qa.yaml:7: cases[0].assertions[0].contain: unknown check 'contain'; expected one "
            "of contains, not_contains, regex, json_schema, tool_called, max_latency_ms, max_cost_usd, custom, or a "
            "sentence",
            "flywheel/suites/qa.yaml:8: cases[0].assertions[1]: a check holds exactly one of contains, "
            "not_contains, regex, json_schema, tool_called, max_latency_ms, max_cost_usd, custom; found contains, regex",
            "flywheel/suites/qa.yaml:10: cases[0].assertions[2]: expected a sentence, or a check mapping such "
            "as {contains: ...}, found the number 5",
            "flywheel/suites/qa.yaml:11: cases[0].assertions[3]: expected a sentence the output must satisfy, "
            "not a blank string, found the text '  '",
            "flywheel/suites/qa.yaml:12: cases[0].assertions[4].args: args only goes with tool_called: "
            "{tool_called: NAME, args: {...}}",
            "flywheel/suites/qa.yaml:14: cases[0].assertions[5].args: args only goes with tool_called: "
            "{tool_called: NAME, args: {...}}",
            "flywheel/suites/qa.yaml:15: cases[0].assertions[6].regex: not a valid regular expression: "
            "missing ), unterminated subpattern at position 0",
            "flywheel/suites/qa.yaml:16: cases[0].assertions[7].json_schema: not a valid JSON Schema at type: "
            "'nope' is not valid under any of the given schemas",
            "flywheel/suites/qa.yaml:17: cases[0].assertions[8].max_latency_ms: expected a number above 0, "
            "found the number 0",
            "flywheel/suites/qa.yaml:18: cases[0].assertions[9].max_cost_usd: expected a number at least 0, "
            "found the number -1",
            "flywheel/suites/qa.yaml:19: cases[0].assertions[10].contains: must not be empty",
            "flywheel/suites/qa.yaml:21: cases[0].assertions[11].args: expected a mapping of argument names "
            "to expected values, found a list of 1 item",
            "flywheel/suites/qa.yaml:22: cases[0].assertions[12]: expected a sentence, or a check mapping "
            "such as {contains: ...}, found an empty mapping",
        ],
    ),
    "tags and source": (
        """\
        version: 1
        name: qa
        cases:
          - id: a
            input: {}
            assertions: [ok]
            tags: [a b]
            source: {project: default, captured_at: yesterday}
        """,
        [
            "flywheel/suites/qa.yaml:7: cases[0].tags[0]: expected a tag of letters, digits, '-', '_' and '.' "
            "(no spaces), found the text 'a b'",
            "flywheel/suites/qa.yaml:8: cases[0].source.captured_at: expected an ISO 8601 time such as "
            "2026-11-22T02:39:00Z, found the text 'yesterday'",
            "flywheel/suites/qa.yaml:8: cases[0].source.trace_id: required field is missing",
        ],
    ),
    "cassette path absolute": (
        "version: 1\nname: qa\ncases:\n  - id: a\n    input: {}\n    assertions: [ok]\n"
        "    cassette: /etc/passwd\n",
        [
            "flywheel/suites/qa.yaml:7: cases[0].cassette: expected a path relative to the project root, "
            "inside the flywheel folder, with no '..' (such as flywheel/cassettes/SUITE/CASE.yaml), "
            "found the text '/etc/passwd'"
        ],
    ),
    "cassette path leaving the project": (
        "version: 1\nname: qa\ncases:\n  - id: a\n    input: {}\n    assertions: [ok]\n"
        "    cassette: flywheel/../../x.yaml\n",
        [
            "flywheel/suites/qa.yaml:7: cases[0].cassette: expected a path relative to the project root, "
            "inside the flywheel folder, with no '..' (such as flywheel/cassettes/SUITE/CASE.yaml), "
            "found the text 'flywheel/../../x.yaml'"
        ],
    ),
    "case id with a trailing newline": (
        'version: 1\nname: qa\ncases:\n  - id: "c1\\n"\n    input: {}\n    assertions: [ok]\n',
        [
            "flywheel/suites/qa.yaml:4: cases[0].id: expected an id of letters, digits, '-', '_' and '.', "
            "starting with a letter or digit, found the text 'c1\\n'"
        ],
    ),
    "names, tags and targets with a trailing newline": (
        'version: 1\nname: "qa\\n"\ntarget: "m:f\\n"\ncases:\n  - id: c\n    input: {}\n    assertions: [ok]\n'
        '    tags: ["t\\n"]\n    source: {trace_id: x, captured_at: "2026-11-22\\n"}\n',
        [
            "flywheel/suites/qa.yaml:2: name: expected 'qa', the file's name (suites are found by file name), "
            "found 'qa\\n'",
            "flywheel/suites/qa.yaml:2: name: expected a name of letters, digits, '-', '_' and '.', starting "
            "with a letter or digit, found the text 'qa\\n'",
            "flywheel/suites/qa.yaml:3: target: expected an entrypoint as module:qualname, such as "
            "support.agent:answer, found the text 'm:f\\n'",
            "flywheel/suites/qa.yaml:8: cases[0].tags[0]: expected a tag of letters, digits, '-', '_' and '.' "
            "(no spaces), found the text 't\\n'",
            "flywheel/suites/qa.yaml:9: cases[0].source.captured_at: expected an ISO 8601 time such as "
            "2026-11-22T02:39:00Z, found the text '2026-11-22\\n'",
        ],
    ),
}


@pytest.mark.parametrize("text, expected", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_each_problem_names_path_line_and_field(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert problems_of(write_suite(tmp_path, text)) == expected


def test_a_missing_file_is_a_suite_file_error(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "flywheel" / "suites" / "nope.yaml") == [
        "flywheel/suites/nope.yaml:1: suite: no such file"
    ]


def test_no_edit_of_a_valid_file_ever_escapes_as_a_traceback(tmp_path: Path) -> None:
    """Drop each line, and cut each line in half: every result loads or is a SuiteFileError."""
    lines = GOOD.splitlines(keepends=True)
    variants = [lines[:i] + lines[i + 1 :] for i in range(len(lines))]
    variants += [
        [*lines[:i], lines[i][: len(lines[i]) // 2] + "\n", *lines[i + 1 :]] for i in range(len(lines))
    ]
    outcomes = {"loaded": 0, "rejected": 0}
    for variant in variants:
        path = write_suite(tmp_path, "".join(variant))
        try:
            load_suite(path)
        except SuiteFileError as exc:
            assert all(line.startswith("flywheel/suites/qa.yaml:") for line in str(exc).splitlines())
            outcomes["rejected"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["rejected"] > 10 and outcomes["loaded"] > 5


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema_and_accepts_the_good_file(tmp_path: Path) -> None:
    schema = suite_schema()
    Draft202012Validator.check_schema(schema)
    parsed, problems = parse_yaml(GOOD, "qa.yaml")
    assert parsed is not None and not problems
    assert list(Draft202012Validator(schema).iter_errors(parsed.data)) == []
    shipped = Path(__import__("pytest_flywheel.suites", fromlist=["x"]).__file__).parent / "suite.schema.json"
    assert json.loads(shipped.read_text()) == schema


TRICKY_STRINGS = [
    "no",
    "yes",
    "on",
    "Off",
    "y",
    "1:20",
    "010",
    "0o10",
    "0x1F",
    "1_000",
    "1e3",
    ".5",
    ".inf",
    "null",
    "~",
    "true",
    "2026-01-01",
    "2026-11-22T02:39:00Z",
    "12:30:00",
    "0b101",
    "=",
    "<<",
    "@x",
    "- x",
    "a: b",
    "x #y",
    "line1\nline2",
    "trailing ",
    "",
    "  lead",
    "'q'",
    '"dq"',
    "ünïcødé",
    "%x",
    "!x",
    "&x",
    "*x",
]


def test_what_ruamel_writes_is_read_back_the_same_yaml_1_2_not_1_1() -> None:
    """The fast reader must agree with ruamel.yaml, which edits the files: ``no`` stays the text no."""
    buffer = io.StringIO()
    YAML().dump(
        {"strings": TRICKY_STRINGS, "numbers": [0, -7, 10, 1.5, 1e-07, 12345678901234], "flags": [True]},
        buffer,
    )
    parsed, problems = parse_yaml(buffer.getvalue(), "x.yaml")
    assert not problems and parsed is not None
    assert parsed.data == {
        "strings": TRICKY_STRINGS,
        "numbers": [0, -7, 10, 1.5, 1e-07, 12345678901234],
        "flags": [True],
    }


def test_hand_written_scalars_read_as_ruamel_reads_them() -> None:
    text = "a: no\nb: 010\nc: 0o10\nd: 1_000\ne: 1:20\nf: yes\ng: 0x1F\nh: .5\ni: ~\nj: TRUE\n"
    parsed, _ = parse_yaml(text, "x.yaml")
    assert parsed is not None
    expected = {key: value for key, value in YAML().load(text).items()}
    assert (
        parsed.data
        == expected
        == {
            "a": "no",
            "b": 10,
            "c": 8,
            "d": 1000,
            "e": "1:20",
            "f": "yes",
            "g": 31,
            "h": 0.5,
            "i": None,
            "j": True,
        }
    )


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def test_any_value_of_any_wrong_type_is_a_problem_report_never_a_traceback(tmp_path: Path) -> None:
    """Every node of a valid file replaced by a number, text, a list, a mapping and null, in turn."""
    parsed, _ = parse_yaml(GOOD, "qa.yaml")
    assert parsed is not None
    rejected = 0
    for where in _paths(parsed.data):
        for replacement in (3, "x", [], {"k": 1}, None):
            data = copy.deepcopy(parsed.data)
            holder = data
            for step in where[:-1]:
                holder = holder[step]
            holder[where[-1]] = replacement
            buffer = io.StringIO()
            YAML().dump(data, buffer)
            path = write_suite(tmp_path, buffer.getvalue())
            try:
                load_suite(path)
            except SuiteFileError as exc:
                rejected += 1
                assert all(
                    re.match(r"flywheel/suites/qa.yaml:\d+: \S+: \S", line) for line in str(exc).splitlines()
                )
    assert rejected > 150


def test_a_byte_order_mark_from_an_editor_is_fine(tmp_path: Path) -> None:
    path = write_suite(tmp_path, "version: 1\nname: qa\ncases: []\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_suite(path).suite.name == "qa"


def test_the_faster_schema_check_reports_exactly_what_the_shipped_schema_reports() -> None:
    """The validator inlines the schema's $defs references; over broken variants of a good file (each
    line dropped, each scalar replaced by values of other types) it must report the same errors, in
    the same order, as a validator of the shipped schema."""
    from pytest_flywheel.suites.validation import _schema_problems, _validator

    def errors(validator: Draft202012Validator, data: object) -> list[tuple[object, ...]]:
        # What the problems shown to users are made of: path, keyword, message, and what is derived
        # from the failing subschema (its x-message, expected type, known properties...).
        return [
            (tuple(e.absolute_path), e.validator, e.message, list(_schema_problems(e)))
            for e in validator.iter_errors(data)
        ]

    def scalars(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        if isinstance(node, dict):
            return [p for key, value in node.items() for p in scalars(value, (*path, key))]
        if isinstance(node, list):
            return [p for index, value in enumerate(node) for p in scalars(value, (*path, index))]
        return [path]

    def replaced(data: object, path: tuple[object, ...], value: object) -> object:
        data = copy.deepcopy(data)
        node: typing.Any = data
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
        return data

    good, _ = parse_yaml(GOOD, "qa.yaml")
    assert good is not None
    documents: list[object] = []
    lines = GOOD.splitlines(keepends=True)
    for index in range(len(lines)):
        parsed, _ = parse_yaml("".join(lines[:index] + lines[index + 1 :]), "qa.yaml")
        if parsed is not None:
            documents.append(parsed.data)
    for path in scalars(good.data):
        documents += [replaced(good.data, path, value) for value in (None, 7, -1.5, "", "x", [], {}, True)]
    shipped = Draft202012Validator(suite_schema())
    piece = Draft202012Validator({"$defs": suite_schema()["$defs"], "$ref": "#/$defs/case"})
    reported = 0
    for data in documents:
        assert errors(_validator(), data) == errors(shipped, data)
        case = data.get("cases", [None])[0] if isinstance(data, dict) and data.get("cases") else data
        assert errors(_validator("case"), case) == errors(piece, case)
        reported += bool(errors(shipped, data))
    assert len(documents) > 200 and reported > len(documents) // 2
    checked = {key: value for key, value in _validator().schema.items() if key != "$defs"}
    assert "$ref" not in json.dumps(checked)  # (and the references were inlined)


def _ruamel_plain(value: typing.Any) -> typing.Any:
    """ruamel.yaml's values as suite data: times as ISO 8601 text."""
    import datetime as dt

    if isinstance(value, dict):
        return {key: _ruamel_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ruamel_plain(item) for item in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat().replace("+00:00", "Z")
    return value


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        "a: no\nb: 010\nc: 0o10\nd: 1_000\ne: 1:20\nf: yes\ng: 0x1F\nh: .5\ni: ~\nj: TRUE\nk: -.inf\nl: 1e3\n",
        "when: 2026-11-22T03:00:00Z\nday: 2026-11-22\n",  # timestamps: as ISO text
        "base: &b {k: 1}\nderived: {<<: *b, j: 2}\nsame: *b\n",  # a merge key and an alias
        "base: &b {k: 1, m: 1}\nother: &o {k: 2, n: 2}\nderived: {<<: [*b, *o], j: 2, k: 3}\n",
        "tagged: !!str 12\nnumber: !!int '7'\nnothing: !!null ''\n",
        "nested: [[1, [2, {x: null}]], {}, []]\n",
    ],
)
def test_the_reader_builds_what_ruamel_reads(text: str) -> None:
    """Suite files are written by ruamel.yaml (YAML 1.2): what it reads is what the suite reader builds."""
    from ruamel.yaml import YAML

    parsed, problems = parse_yaml(text, "x.yaml")
    assert parsed is not None and not problems
    expected = _ruamel_plain(YAML(typ="safe", pure=True).load(text))
    assert parsed.data == expected
    assert json.dumps(parsed.data, default=repr, sort_keys=True) == json.dumps(
        expected, default=repr, sort_keys=True
    )  # (and of the same types: 1 and 1.0 and True print differently)
