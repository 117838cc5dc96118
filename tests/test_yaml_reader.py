"""The one YAML reader: bounded (alias bombs, recursion, depth), strict for suites, and memory-safe."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_flywheel.replay.cassette_yaml import read_cassette_yaml
from pytest_flywheel.suites.reading import SUITE_DIALECT, parse_yaml
from pytest_flywheel.yaml_reader import YAMLLimits, YAMLReadError, read_yaml


def bomb(levels: int, *, width: int = 10) -> str:
    """The issue's alias bomb: each level an anchored list of ``width`` aliases to the level below."""
    lines = ["version: 1", "name: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def read(text: str, **limits: int) -> object:
    return read_yaml(text, source="f.yaml", dialect=SUITE_DIALECT, limits=YAMLLimits(**limits)).data


@pytest.mark.parametrize("levels", [7, 8, 9])
def test_an_alias_bomb_is_refused_at_the_line_where_it_passes_the_limit(levels: int) -> None:
    text = bomb(levels)
    assert len(text) < 700
    with pytest.raises(YAMLReadError) as raised:
        read(text)
    assert str(raised.value) == (
        "f.yaml:8: aliases repeat more than 1,000,000 characters and values in all (the alias *a4 here "
        "repeats 211,111); write the repeated parts out, or fewer aliases, so the file stands for the data "
        "it shows"
    )
    assert raised.value.line == 8 and raised.value.problems[0].field is None


def test_aliases_within_the_limit_share_their_anchor() -> None:
    data = read(bomb(3))
    assert isinstance(data, dict)
    assert data["a3"][0] is data["a2"]  # shared, as PyYAML shares: memory stays that of the file
    assert read(bomb(3), max_alias_expansion=30_000) == data
    with pytest.raises(YAMLReadError, match=r"f\.yaml:6: aliases repeat more than 3,000 characters"):
        read(bomb(3), max_alias_expansion=3_000)


def test_long_text_repeated_by_aliases_counts_its_length() -> None:
    text = f"a: &a {'y' * 400_000}\nb: [*a, *a]\nc: [*a, *a, *a]\n"
    with pytest.raises(YAMLReadError, match=r"^f\.yaml:3: aliases repeat more than 1,000,000 characters"):
        read(text)


@pytest.mark.parametrize(
    "text, line",
    [
        ("&r [1, *r]\n", 1),
        ("cases: &r\n  - id: c\n    input: {q: *r}\n", 3),
        ("a: &m\n  b: &n\n    c: *m\n", 3),
    ],
)
def test_a_value_that_contains_itself_is_refused_cleanly(text: str, line: int) -> None:
    with pytest.raises(YAMLReadError) as raised:
        read(text)
    assert str(raised.value).startswith(f"f.yaml:{line}: the alias *")
    assert "is inside its own anchor" in str(raised.value)
    # and the same through a cassette
    with pytest.raises(YAMLReadError, match="is inside its own anchor"):
        read_cassette_yaml(text, source="c.yaml")


def test_nesting_is_bounded_before_anything_downstream_recurses() -> None:
    assert read("[" * 100 + "]" * 100) == read("[" * 100 + "]" * 100)
    with pytest.raises(YAMLReadError, match=r"^f\.yaml:1: nested more than 100 levels deep"):
        read("[" * 101 + "]" * 101)
    block = "".join("  " * depth + "k:\n" for depth in range(150))
    with pytest.raises(YAMLReadError, match=r"^f\.yaml:101: nested more than 100 levels deep"):
        read(block)
    with pytest.raises(YAMLReadError, match=r"^f\.yaml:1: not valid YAML: exceeded maximum nesting depth"):
        read("[" * 5_000)  # (libyaml's own bound, reported as any syntax error)


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: 1\n--- \nb: 2\n", r"f\.yaml:2: a second YAML document \(after ---\)"),
        ("a: *nowhere\n", r"f\.yaml:1: the alias \*nowhere names no anchor defined before it"),
        ("a: &x 1\nb: &x 2\n", r"f\.yaml:2: the anchor &x is defined twice \(first at line 1\)"),
        ("a: b\nc: d\x07\n", r"f\.yaml:2: not valid YAML: the character U\+0007 is not allowed in YAML"),
        ("é: ü\nc: d\x00\n", r"f\.yaml:2: not valid YAML: the character U\+0000 is not allowed"),
        ("a: !!binary aGk=\n", r"f\.yaml:1: unknown tag !!binary; a suite file holds JSON data"),
        ("a: !custom 1\n", r"f\.yaml:1: unknown tag !custom"),
        ("a:\n  b: !!int nope\n", r"f\.yaml:2: 'nope' is not a valid !!int"),
        (f"a: {'9' * 5000}\n", r"f\.yaml:1: '9999.*' is not a valid !!int \(Exceeds the limit"),
        ("a: !!map [1]\n", r"f\.yaml:1: the tag !!map needs a mapping, found a list"),
        ("a: {<<: [1]}\n", r"f\.yaml:1: '<<' merges a mapping or a list of mappings, found a list"),
        ("a: <<\n", r"f\.yaml:1: '<<' cannot be a value; quote it"),
    ],
)
def test_what_the_reader_refuses_names_the_line(text: str, message: str) -> None:
    with pytest.raises(YAMLReadError, match=f"^{message}"):
        read(text)


def test_a_strict_document_reports_every_key_problem_up_to_a_bound() -> None:
    text = "a: 1\nb:\n  c: 1\n  c: 2\n1: x\n? [k]\n: v\na: 3\n"
    with pytest.raises(YAMLReadError) as raised:
        read(text)
    assert str(raised.value).splitlines() == [
        "f.yaml:4: b.c: duplicate key (first at line 3); keep one of them",
        "f.yaml:5: keys must be text, found 1; quote it",
        "f.yaml:6: keys must be text, found a sequence; quote it",
        "f.yaml:8: a: duplicate key (first at line 1); keep one of them",
    ]
    many = "".join("k: 1\n" for _ in range(10_000))
    with pytest.raises(YAMLReadError) as raised:
        read(many)
    assert len(raised.value.problems) == 101
    assert raised.value.problems[-1].message == "stopped after 100 problems; fix these first"
    # a cassette keeps the last value, as vcrpy does
    assert read_cassette_yaml("k: 1\nk: 2\n1: x\n", source="c.yaml").data == {"k": 2, 1: "x"}


def test_line_of_points_at_keys_items_merged_keys_and_aliases() -> None:
    text = textwrap.dedent(
        """\
        base: &base
          model: m
          options: {t: 1}
        cases:
          - id: one
            judge:
              <<: *base
              extra: 2
          - id: two
            input: *base
            list:
              - a
              - [b, c]
        """
    )
    document = read_yaml(text, source="f.yaml", dialect=SUITE_DIALECT)
    line = document.line_of
    assert line(("cases", 0, "id")) == 5
    assert line(("cases", 0, "judge", "extra")) == 8
    assert line(("cases", 0, "judge", "model")) == 2  # a merged key: where it is written
    assert line(("cases", 1, "input", "options")) == 3  # through an alias: where the anchor's key is
    assert line(("cases", 1, "list", 1, 0)) == 13
    assert line(("cases", 1, "nowhere", "x")) == 9  # absent: the nearest parent that exists
    assert line(("cases", 7)) == 4
    assert line(()) == 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", None),
        ("# nothing\n", None),
        ("~\n", "null"),
        ("just text\n", "text"),
    ],
)
def test_an_empty_suite_file_and_a_scalar_one_are_told_apart(text: str, expected: str | None) -> None:
    parsed, problems = parse_yaml(text, "x.yaml")
    if expected is None:
        assert parsed is None
        assert [str(problem) for problem in problems] == [
            "x.yaml:1: suite: the file is empty; expected a mapping with version, name, target and cases"
        ]
    else:
        assert parsed is not None and not problems


# -- memory -----------------------------------------------------------------------------------------

_MEASURE = r"""
import json, resource, sys
from pathlib import Path


def peak_mb():
    # VmHWM: this process's own peak. (ru_maxrss would start from the parent's: Linux keeps it across
    # exec, and a pytest-xdist worker that forked this process may be far bigger.)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


from pytest_flywheel.replay.cassette_file import CassetteFormatError, load_cassette_data
from pytest_flywheel.suites.errors import SuiteFileError
from pytest_flywheel.suites.loading import load_suite

results = {}
for argument in sys.argv[1:]:
    kind, name = argument.split(":", 1)
    path = Path(name)
    outcome = "ok"
    try:
        if kind == "suite":
            load_suite(path)
        else:
            load_cassette_data(path.read_text(), source=path)
    except (SuiteFileError, CassetteFormatError) as exc:
        outcome = str(exc).splitlines()[0][:160]
    # the process's peak so far: imports, then each file in turn (each one's data freed before the next)
    results[path.name] = {"peak_mb": peak_mb(), "outcome": outcome}
print(json.dumps(results))
"""


def _hostile_inputs() -> dict[str, tuple[str, str]]:
    """Files under 1 MB that each push one way: (kind, text)."""
    width = 150_000  # an anchored list of nulls: 300,000 characters and values
    anchored = "[" + ",".join(["~"] * width) + "]"
    cases = "".join(f"  - {{id: c{i}, input: {{q: {i}}}, assertions: [x]}}\n" for i in range(19_000))
    interaction = (
        "- request: {method: POST, uri: 'http://x/', body: null, headers: {}}\n"
        "  response: {status: {code: 200, message: OK}, headers: {}, body: {string: ''}}\n"
    )
    return {
        "flow-list.yaml": ("suite", "[" + "1," * 499_990 + "1]"),
        "cases-that-are-numbers.yaml": ("suite", "version: 1\nname: x\ncases: [" + "1," * 499_980 + "1]\n"),
        "aliases-at-the-limit.yaml": (
            "suite",
            f"version: 1\nname: aliases-at-the-limit\ncases:\n  - id: a\n    assertions: [x]\n"
            f"    input: {{x: &a {anchored}}}\n  - id: b\n    assertions: [x]\n    input: {{q: [*a, *a, *a]}}\n",
        ),
        "duplicate-keys.yaml": ("suite", "version: 1\nname: x\n" + "a: 1\n" * 199_000),
        "many-cases.yaml": ("suite", "version: 1\nname: many-cases\ntarget: m:f\ncases:\n" + cases),
        "deep.yaml": ("suite", "[" * 99 + "1" + "]" * 99 + "\n" + "#" * 999_000),
        "bomb.yaml": ("suite", bomb(9)),
        "interactions-that-are-numbers.yaml": ("cassette", "interactions: [" + "1," * 499_980 + "1]\n"),
        "many-interactions.yaml": ("cassette", "version: 1\ninteractions:\n" + interaction * 6_500),
        "cassette-bomb.yaml": ("cassette", bomb(9).replace("version: 1\nname: bomb\n", "interactions: []\n")),
    }


def test_peak_memory_for_hostile_files_under_1_mb_stays_under_200_mb(tmp_path: Path) -> None:
    """The files read (and validated) one after another in a fresh process, its peak resident memory
    measured after each: imports included, it stays far under 200 MB."""
    arguments = []
    for name, (kind, text) in _hostile_inputs().items():
        assert len(text.encode()) < 1_000_000, name
        (tmp_path / name).write_text(text)
        arguments.append(f"{kind}:{tmp_path / name}")
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *arguments], capture_output=True, text=True, timeout=300, check=True
    )
    measured = json.loads(done.stdout)
    assert set(measured) == set(_hostile_inputs())
    assert max(float(result["peak_mb"]) for result in measured.values()) < 200, measured
    assert measured["many-cases.yaml"]["outcome"] == "ok"
    assert measured["aliases-at-the-limit.yaml"]["outcome"] == "ok"
    assert measured["many-interactions.yaml"]["outcome"] == "ok"
    assert "aliases repeat more than" in measured["bomb.yaml"]["outcome"]
    assert "aliases repeat more than" in measured["cassette-bomb.yaml"]["outcome"]
    assert measured["flow-list.yaml"]["outcome"].startswith(
        f"{tmp_path / 'flow-list.yaml'}:1: suite: expected"
    )
